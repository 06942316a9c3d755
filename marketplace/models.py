from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    WORKER = "worker", "Worker"
    REQUESTER = "requester", "Requester"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person on Fairtask. Logs in with an email address; may be a worker, a
    requester or both, and works in one role at a time (``active_role``)."""

    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=80, blank=True)
    is_worker = models.BooleanField(default=False)
    is_requester = models.BooleanField(default=False)
    active_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(active_role="")
                | models.Q(active_role="worker", is_worker=True)
                | models.Q(active_role="requester", is_requester=True),
                name="user_active_role_held",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.email

    @property
    def roles(self) -> list[str]:
        return [r for r, held in ((Role.WORKER, self.is_worker), (Role.REQUESTER, self.is_requester)) if held]

    @property
    def current_role(self) -> str:
        """The role the user works in now: the chosen one, else the only one held."""
        if self.active_role:
            return self.active_role
        roles = self.roles
        return roles[0] if roles else ""

    @property
    def is_moderator(self) -> bool:
        return self.is_staff and self.groups.filter(name="moderators").exists()


class WorkerHeartbeat(models.Model):
    """Written by the beat-scheduled ``heartbeat`` job so that /healthz can say when a
    Celery worker last ran a job (one row per worker host)."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
