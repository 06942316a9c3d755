"""The demo accounts ``seed_demo`` creates and ``make run`` prints."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.conf import settings

from marketplace.models import Role, User

DEMO_FUNDING_CENTS = 50_000  # $500.00 per demo requester, paid through Checkout
# The demo worker who connects a payout account and withdraws (seed_demo).
DEMO_WITHDRAWING_WORKER = "worker1@example.com"
DEMO_WITHDRAWAL_CENTS = 100  # $1.00, the default minimum
DEMO_PASSWORD = "fairtask-demo"  # noqa: S105 - printed for the demo on purpose; never used outside seed_demo

DEMO_USERS: list[dict] = [
    {
        "email": "admin@example.com",
        "display_name": "Admin",
        "staff": True,
        "superuser": True,
        "moderator": True,
        "roles": (),
    },
    {
        "email": "requester1@example.com",
        "display_name": "Acme Research",
        "roles": (Role.REQUESTER,),
    },
    {
        "email": "requester2@example.com",
        "display_name": "Lumen Labs",
        "roles": (Role.REQUESTER, Role.WORKER),
    },
    *[
        {"email": f"worker{i}@example.com", "display_name": f"Worker {i}", "roles": (Role.WORKER,)}
        for i in range(1, 6)
    ],
]


class DemoRefused(Exception):
    """Demo accounts have a published password: they exist only in development."""


def refuse_outside_development() -> None:
    """Raise ``DemoRefused`` unless the settings allow demo data (``DEMO_DATA``: True
    only in ``marketplace.settings.dev``, the settings of ``make run``; no environment
    variable turns it on elsewhere). So a Procfile, a shell or a PaaS release step that
    runs ``seed_demo`` under the production settings creates no superuser with the
    password printed in the README. (Not tied to DEBUG: ``make run`` serves with DEBUG
    off, and production must refuse even if someone sets DEBUG.)"""
    if not getattr(settings, "DEMO_DATA", False):
        raise DemoRefused(
            "Demo accounts use a published password, so they are created only under the "
            "development settings (make run). Create real accounts with "
            "`manage.py createsuperuser` instead."
        )


def ensure_demo_user(spec: dict) -> tuple[User, bool]:
    refuse_outside_development()
    roles = spec.get("roles", ())
    user, created = User.objects.get_or_create(
        email=spec["email"],
        defaults={
            "display_name": spec["display_name"],
            "is_staff": spec.get("staff", False),
            "is_superuser": spec.get("superuser", False),
            "is_worker": Role.WORKER in roles,
            "is_requester": Role.REQUESTER in roles,
            "active_role": roles[0] if roles else "",
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return user, created
