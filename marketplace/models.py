from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from core import limits


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
    REQUIRED_FIELDS: ClassVar[list[str]] = []

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
        return [
            r
            for r, held in ((Role.WORKER, self.is_worker), (Role.REQUESTER, self.is_requester))
            if held
        ]

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


# --- Requester side (issue 4): projects, batches, tasks ------------------------------
#
# Writes go through ``marketplace.services``; reads that matter through
# ``marketplace.selectors``. Nothing here has behaviour in ``save()``.

# The limits live in core.limits; these names stay for the migrations that use them.
MAX_ASSIGNMENTS_PER_TASK = limits.MAX_ASSIGNMENTS_PER_TASK
MAX_AUTO_APPROVAL_DELAY = limits.MAX_AUTO_APPROVAL_DELAY
DEFAULT_AUTO_APPROVAL_DELAY = limits.DEFAULT_AUTO_APPROVAL_DELAY
DEFAULT_BATCH_LIFETIME = limits.DEFAULT_BATCH_LIFETIME


class TemplateKind(models.TextChoices):
    IMAGE_CLASSIFICATION = "image_classification", "Image classification"
    TEXT_CLASSIFICATION = "text_classification", "Text classification"
    SENTIMENT = "sentiment", "Sentiment"
    RELEVANCE = "relevance", "Relevance judgment"
    RESPONSE_RATING = "response_rating", "Response rating"
    TRANSCRIPTION = "transcription", "Free-text transcription"
    CUSTOM = "custom", "Custom HTML"


class ProjectStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


# The only moves a project can make; ``services.project_transition`` enforces this
# table and writes a ``ProjectEvent`` for each move.
PROJECT_TRANSITIONS: dict[str, frozenset[str]] = {
    ProjectStatus.ACTIVE: frozenset({ProjectStatus.ARCHIVED}),
    ProjectStatus.ARCHIVED: frozenset({ProjectStatus.ACTIVE}),
}


class Project(models.Model):
    """A reusable task design owned by a requester (MTurk: HIT type + layout).

    ``template_html`` is always the effective HTML: for a built-in ``template_kind`` the
    services render it from ``builtin_templates`` and ``template_config`` on every save,
    so workers, previews and upload validation all read this one field.
    """

    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    keywords = models.CharField(max_length=500, blank=True, help_text="Comma-separated.")
    instructions = models.TextField(blank=True)
    template_kind = models.CharField(max_length=32, choices=TemplateKind.choices)
    template_html = models.TextField()
    template_config = models.JSONField(default=dict, blank=True)
    reward_cents = models.BigIntegerField()
    estimated_seconds = models.PositiveIntegerField()
    time_allotted_seconds = models.PositiveIntegerField()
    assignments_per_task = models.PositiveSmallIntegerField(default=1)
    auto_approval_delay = models.DurationField(default=DEFAULT_AUTO_APPROVAL_DELAY)
    batch_lifetime = models.DurationField(default=DEFAULT_BATCH_LIFETIME)
    # Stored now, enforced by the reputation side: {"min_tier": "...", "qualifications":
    # [{"name": ..., "comparator": ">=", "value": ...}], ...}.
    requirements = models.JSONField(default=dict, blank=True)
    # Share of gold (control) tasks to mix in, in basis points (0..10000); used by the
    # quality-control side.
    gold_rate_bp = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE
    )
    # Measured from real submissions by the ``refresh_measured_times`` job (medians are
    # kept out of list queries): median work time and how many submissions it is of.
    measured_median_seconds = models.PositiveIntegerField(null=True, blank=True)
    measured_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status", "-created_at"], name="project_owner_status_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reward_cents__gte=1), name="project_reward_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(estimated_seconds__gte=1), name="project_estimate_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(time_allotted_seconds__gte=models.F("estimated_seconds")),
                name="project_allotted_covers_estimate",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    assignments_per_task__gte=1, assignments_per_task__lte=MAX_ASSIGNMENTS_PER_TASK
                ),
                name="project_assignments_1_to_100",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    auto_approval_delay__gte=timedelta(0),
                    auto_approval_delay__lte=MAX_AUTO_APPROVAL_DELAY,
                ),
                name="project_auto_approval_at_most_30d",
            ),
            models.CheckConstraint(
                condition=models.Q(batch_lifetime__gt=timedelta(0)),
                name="project_lifetime_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(gold_rate_bp__lte=10_000),
                name="project_gold_rate_at_most_100pct",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_archived(self) -> bool:
        return self.status == ProjectStatus.ARCHIVED

    @property
    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.split(",") if k.strip()]


class ProjectEvent(models.Model):
    """One status move of a project (append-only), written by ``project_transition``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16)
    new_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.project_id}: {self.old_status} → {self.new_status}"


class BatchStatus(models.TextChoices):
    IMPORTING = "importing", "Importing"
    FAILED = "failed", "Import failed"
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    COMPLETED = "completed", "Completed"


# The only moves a batch can make; ``services.batch_transition`` enforces this table.
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    BatchStatus.IMPORTING: frozenset({BatchStatus.DRAFT, BatchStatus.FAILED}),
    BatchStatus.DRAFT: frozenset({BatchStatus.PUBLISHED, BatchStatus.CANCELLED}),
    BatchStatus.PUBLISHED: frozenset(
        {BatchStatus.PAUSED, BatchStatus.CANCELLED, BatchStatus.EXPIRED, BatchStatus.COMPLETED}
    ),
    BatchStatus.PAUSED: frozenset(
        {BatchStatus.PUBLISHED, BatchStatus.CANCELLED, BatchStatus.EXPIRED}
    ),
    BatchStatus.FAILED: frozenset(),
    BatchStatus.CANCELLED: frozenset(),
    BatchStatus.EXPIRED: frozenset(),
    BatchStatus.COMPLETED: frozenset(),
}
# Workers may take tasks of a batch only in this state (visibility derives from it).
BATCH_OPEN_STATUSES = frozenset({BatchStatus.PUBLISHED})
# Escrow was held and not yet returned by a cancel/expiry.
BATCH_LIVE_STATUSES = frozenset({BatchStatus.PUBLISHED, BatchStatus.PAUSED})
BATCH_CLOSED_STATUSES = frozenset(
    {BatchStatus.CANCELLED, BatchStatus.EXPIRED, BatchStatus.COMPLETED}
)


class UploadFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class Batch(models.Model):
    """One upload of rows into a project; holds the escrow for its tasks.

    Terms are snapshotted at publish: the money terms (``reward_cents``, ``fee_cents``,
    ``assignments_per_task``) and the work terms (``time_allotted_seconds``,
    ``auto_approval_delay``, ``requirements``), so that editing the project changes
    only drafts and later batches. Assignments carry their own money snapshot so that
    a cancel never changes what work in progress is paid. ``rows_processed``/``bytes_processed`` are written during
    an import through a second database connection (see ``marketplace.uploads``).
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="batches")
    # Denormalised from project.owner: every permission check and the requester's
    # listing filter on it without a join.
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="batches")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.IMPORTING
    )
    # The template the rows were validated against (the project may change later).
    template_html = models.TextField()
    task_count = models.PositiveIntegerField(default=0)
    gold_task_count = models.PositiveIntegerField(default=0)
    # Set at upload from the project, re-synced at publish; snapshots from publish on.
    assignments_per_task = models.PositiveSmallIntegerField()
    reward_cents = models.BigIntegerField(null=True, blank=True)
    fee_cents = models.BigIntegerField(null=True, blank=True)
    total_cost_cents = models.BigIntegerField(null=True, blank=True)
    # Work terms, snapshotted at publish (null before): what workers of this batch get.
    time_allotted_seconds = models.PositiveIntegerField(null=True, blank=True)
    auto_approval_delay = models.DurationField(null=True, blank=True)
    requirements = models.JSONField(null=True, blank=True)
    escrow_held_cents = models.BigIntegerField(default=0)
    escrow_released_cents = models.BigIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set once a closed batch's escrow is empty of unused money and nothing is owed to
    # work in progress any more (``batch_release_remaining``): the expiry job stops
    # looking at it.
    escrow_settled_at = models.DateTimeField(null=True, blank=True)
    # Median work time of the batch's handed-in assignments (``refresh_measured_times``).
    measured_median_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Upload metadata.
    original_filename = models.CharField(max_length=255, blank=True)
    upload_format = models.CharField(max_length=8, choices=UploadFormat.choices)
    upload_size = models.BigIntegerField(default=0)
    upload_sha256 = models.CharField(max_length=64, blank=True)
    upload_path = models.CharField(
        max_length=500, blank=True, help_text="Relative to FAIRTASK_UPLOAD_DIR while importing."
    )
    # Import progress and outcome.
    rows_processed = models.PositiveIntegerField(default=0)
    bytes_processed = models.BigIntegerField(default=0)
    import_started_at = models.DateTimeField(null=True, blank=True)
    import_finished_at = models.DateTimeField(null=True, blank=True)
    import_errors = models.JSONField(default=list, blank=True)
    import_error_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="batch_owner_created_idx"),
            # The expiry job's scan.
            models.Index(
                fields=["expires_at"],
                name="batch_live_expiry_idx",
                condition=models.Q(status__in=["published", "paused"]),
            ),
            # The expiry job's scan for closed batches whose escrow may still hold money.
            models.Index(
                fields=["closed_at"],
                name="batch_escrow_unsettled_idx",
                condition=models.Q(
                    status__in=["cancelled", "expired", "completed"], escrow_settled_at__isnull=True
                ),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=BatchStatus.values), name="batch_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    assignments_per_task__gte=1, assignments_per_task__lte=MAX_ASSIGNMENTS_PER_TASK
                ),
                name="batch_assignments_1_to_100",
            ),
            models.CheckConstraint(
                condition=models.Q(reward_cents__isnull=True) | models.Q(reward_cents__gte=1),
                name="batch_reward_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(fee_cents__isnull=True) | models.Q(fee_cents__gte=0),
                name="batch_fee_nonnegative",
            ),
            models.CheckConstraint(
                condition=models.Q(escrow_held_cents__gte=0)
                & models.Q(escrow_released_cents__gte=0)
                & models.Q(escrow_released_cents__lte=models.F("escrow_held_cents")),
                name="batch_escrow_amounts_consistent",
            ),
            # A batch that is (or was) published has its terms snapshotted.
            models.CheckConstraint(
                condition=models.Q(published_at__isnull=True)
                | models.Q(
                    reward_cents__isnull=False,
                    fee_cents__isnull=False,
                    total_cost_cents__isnull=False,
                    time_allotted_seconds__isnull=False,
                    auto_approval_delay__isnull=False,
                    requirements__isnull=False,
                ),
                name="batch_published_has_terms",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["published", "paused"])
                | models.Q(published_at__isnull=False, expires_at__isnull=False),
                name="batch_live_was_published",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Batch {self.pk}"

    @property
    def assignment_count(self) -> int:
        return self.task_count * self.assignments_per_task


class BatchEvent(models.Model):
    """One status move of a batch (append-only), written by ``batch_transition``."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.batch_id}: {self.old_status or '-'} → {self.new_status}"


class Task(models.Model):
    """One row of a batch (MTurk: HIT). Written only by COPY in ``marketplace.uploads``.

    ``data`` holds every column of the row (extras included) except ``_gold_<field>``
    columns, which go to ``gold_answers`` and are never shown to workers. Whether a
    task is visible derives from its batch's status, so publish, pause and cancel are
    one-row updates however many tasks a batch has.

    ``assignments_taken`` counts the assignments holding a slot (accepted, submitted,
    approved, rejected); the worker side's claim increments it with a conditional
    ``UPDATE ... WHERE assignments_taken < assignments_needed`` and gives the slot back
    on return/expiry. The partial index serves "next open task of this batch" in row
    order. A claim holds ``FOR SHARE`` on the batch row and sees it ``published`` with
    ``expires_at`` in the future (see ``marketplace.services.batches`` for why).
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    row_number = models.PositiveIntegerField()
    data = models.JSONField()
    gold_answers = models.JSONField(null=True, blank=True)
    assignments_needed = models.PositiveSmallIntegerField()
    assignments_taken = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["batch", "row_number"]
        constraints = [
            # Also the index behind the batch FK (hence db_index=False above).
            models.UniqueConstraint(fields=["batch", "row_number"], name="task_batch_row_unique"),
            models.CheckConstraint(
                condition=models.Q(assignments_taken__lte=models.F("assignments_needed")),
                name="task_taken_le_needed",
            ),
        ]
        indexes = [
            # "Next open task of this batch", in row order: the claim walks this partial
            # index, which holds open tasks only, so it does not slow down as a batch is
            # consumed (ordering by the primary key made the planner scan every
            # consumed row).
            models.Index(
                fields=["batch", "row_number"],
                name="task_open_row_idx",
                condition=models.Q(assignments_taken__lt=models.F("assignments_needed")),
            ),
        ]

    def __str__(self) -> str:
        return f"Task {self.batch_id}#{self.row_number}"

    @property
    def is_gold(self) -> bool:
        return self.gold_answers is not None


# Counter rows per published batch (``BatchCounter.slot`` in 0..COUNTER_SLOTS-1).
COUNTER_SLOTS = 16


class BatchCounter(models.Model):
    """Progress of a batch kept as it happens: each assignment move adds its deltas to
    one of ``COUNTER_SLOTS`` rows of its batch (chosen at random per move), in the
    move's transaction; readers sum the rows. Several rows instead of one so that
    concurrent claims of one batch rarely wait on each other's row lock.

    Per-slot values may be negative (a claim counted in one slot, its submit in another);
    only sums mean anything. Created at publish; written only through
    ``marketplace.counters``.

    ``owed_cents``: reward + fee of assignments whose money is bound in the batch escrow
    (accepted, submitted, approved or rejected and not yet settled): what a cancel must
    leave there. ``spend_cents``: reward + fee of approved assignments.
    ``work_seconds``: summed work time of handed-in assignments.
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="+", db_index=False)
    slot = models.PositiveSmallIntegerField()
    accepted = models.IntegerField(default=0)
    submitted = models.IntegerField(default=0)
    approved = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    returned = models.IntegerField(default=0)
    expired = models.IntegerField(default=0)
    owed_cents = models.BigIntegerField(default=0)
    spend_cents = models.BigIntegerField(default=0)
    work_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "slot"], name="batch_counter_slot_unique"),
        ]

    def __str__(self) -> str:
        return f"Counters of batch {self.batch_id} (slot {self.slot})"


# --- REST API keys (issue 4) --------------------------------------------------------------


class ApiKey(models.Model):
    """A requester's key for the REST API, sent as ``Authorization: Api-Key <prefix>.<secret>``.

    Only ``prefix`` (public, shown in the key list, the lookup index) and the SHA-256 of
    the secret are stored; the full key is shown once, at creation. A fast hash is
    enough here (unlike passwords): the secret is 32 random bytes, so there is nothing
    to guess, and a slow hash would cost every API request. Written only by
    ``marketplace.services.api_keys``.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apikey_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- The task browser's card per project (issue 16) --------------------------------------

# Submissions a project needs before its measured median time replaces the estimate.
MEASURED_MIN_SUBMISSIONS = 5


class ProjectListing(models.Model):
    """A project's card in the workers' task browser: a denormalised summary of its open
    work, so that a page of the browser reads one small table (one row per project)
    whatever the number of tasks, and filters and sorts on indexed columns.

    Written only by ``marketplace.services.listings.listing_refresh``, from the live
    batches, the project's terms and its measured median time (``Project.measured_*``,
    kept by the worker side's ``refresh_measured_times`` job): after every batch move
    that changes visibility, and by beat every 30 s. The open counts may lag claims by
    up to one refresh; a claim is decided by the claim itself, never by this row.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="listing"
    )
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    # Open work in the project's published, unexpired batches.
    open_tasks = models.PositiveIntegerField(default=0)
    open_assignments = models.PositiveIntegerField(default=0)
    # The lowest reward (and its fee) among batches with open work: never overstated.
    # When the last of those batches stops taking claims (its ``expires_at``): the
    # browser hides the card from then on, before the expiry job has run.
    live_until = models.DateTimeField(null=True, blank=True)
    reward_cents = models.BigIntegerField(default=0)
    fee_cents = models.BigIntegerField(default=0)
    estimated_seconds = models.PositiveIntegerField(default=1)
    time_allotted_seconds = models.PositiveIntegerField(default=1)
    template_kind = models.CharField(max_length=32, choices=TemplateKind.choices)
    has_requirements = models.BooleanField(default=False)
    # The requirements, in columns the "only what I qualify for" filter can compare:
    # approval rate and approved count against the worker's record; ``req_locked`` for
    # what no worker can show yet (a minimum tier, a qualification, languages: the
    # reputation side will add them).
    req_min_approval_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    req_min_completed = models.PositiveIntegerField(null=True, blank=True)
    req_locked = models.BooleanField(default=False)
    # What the browser sorts and filters on: the measured rate once there are enough
    # submissions, the requester's estimate before that.
    hourly_rate_cents = models.BigIntegerField(default=0)
    expected_seconds = models.PositiveIntegerField(default=1)
    rate_is_measured = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["-hourly_rate_cents", "project"],
                name="listing_open_rate_idx",
                condition=models.Q(open_assignments__gt=0),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(open_tasks__lte=models.F("open_assignments")),
                name="listing_open_tasks_le_assignments",
            ),
        ]

    def __str__(self) -> str:
        return f"Listing of project {self.project_id}"
