"""Reads of the task browser (selectors): which projects a worker may take work from,
filtered and sorted, a page at a time.

A page reads ``ProjectListing`` (one row per project, kept by
``marketplace.services.listings``) joined to its project and requester: the number of
queries per page is fixed (the count, the page, the worker's record, the worker's
preferences) and none of them reads tasks, so a page costs the same with 1,000 or
100,000 open tasks (``bench/browse.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField as BooleanOutput
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from marketplace.models import BatchStatus, ProjectListing, Task, User
from tasks.models import Assignment, AssignmentStatus, WorkerPreferences

SORTS = {
    "rate": ("-hourly_rate_cents", "project_id"),
    "reward": ("-reward_cents", "project_id"),
    "time": ("expected_seconds", "project_id"),
    "tasks": ("-open_tasks", "project_id"),
    "newest": ("-project_id",),
}
SORT_LABELS = {
    "rate": "Best hourly rate",
    "reward": "Highest reward",
    "time": "Shortest time",
    "tasks": "Most tasks left",
    "newest": "Newest",
}
MAX_KEYWORDS = 5


@dataclass(frozen=True)
class BrowseFilters:
    min_hourly_cents: int = 0
    min_reward_cents: int = 0
    max_seconds: int | None = None
    keywords: tuple[str, ...] = ()
    kind: str = ""
    qualified_only: bool = False
    sort: str = "rate"


@dataclass(frozen=True)
class WorkerRecord:
    """What the "only what I qualify for" filter compares requirements with."""

    approved: int
    rejected: int
    submitted: int

    @property
    def approval_rate(self) -> int:
        """Approved share of decided work, in whole percent rounded down; a worker
        with nothing decided yet counts as 100% (as on Mechanical Turk), so that
        newcomers can start."""
        decided = self.approved + self.rejected
        return 100 if decided == 0 else (100 * self.approved) // decided


def worker_record(user: User) -> WorkerRecord:
    """The worker's counts, in one aggregate query."""
    row = Assignment.objects.filter(worker_id=user.pk).aggregate(
        approved=Count("id", filter=Q(status=AssignmentStatus.APPROVED)),
        rejected=Count("id", filter=Q(status=AssignmentStatus.REJECTED)),
        submitted=Count("id", filter=Q(status=AssignmentStatus.SUBMITTED)),
    )
    return WorkerRecord(
        approved=row["approved"], rejected=row["rejected"], submitted=row["submitted"]
    )


def preferences_for(user: User) -> WorkerPreferences:
    """The worker's preferences (an unsaved default row if they never saved any)."""
    prefs = WorkerPreferences.objects.filter(user_id=user.pk).first()
    return prefs if prefs is not None else WorkerPreferences(user_id=user.pk)


def qualifies_q(record: WorkerRecord) -> Q:
    """Listings whose requirements ``record`` meets."""
    return (
        Q(req_locked=False)
        & (Q(req_min_completed__isnull=True) | Q(req_min_completed__lte=record.approved))
        & (
            Q(req_min_approval_rate__isnull=True)
            | Q(req_min_approval_rate__lte=record.approval_rate)
        )
    )


def open_listings(*, now: datetime | None = None) -> QuerySet[ProjectListing]:
    """Listings with open work in a batch that still takes claims. ``live_until`` (the
    last such batch's ``expires_at``) hides a batch the moment it expires, before the
    expiry job runs; pause and cancel refresh the card as they commit."""
    now = now or timezone.now()
    return ProjectListing.objects.filter(open_assignments__gt=0, live_until__gt=now)


def browse(
    *,
    worker: User,
    filters: BrowseFilters,
    record: WorkerRecord,
    personal_min_hourly_cents: int = 0,
    now: datetime | None = None,
) -> QuerySet[ProjectListing]:
    """The cards a worker sees, sorted, not yet paged (hand it to ``Paginator``). The
    worker's own projects (a worker who is also a requester) are left out: nobody
    works on their own tasks. Each card is annotated with ``qualifies``."""
    qs = open_listings(now=now).exclude(owner_id=worker.pk)
    min_rate = max(filters.min_hourly_cents, personal_min_hourly_cents)
    if min_rate:
        qs = qs.filter(hourly_rate_cents__gte=min_rate)
    if filters.min_reward_cents:
        qs = qs.filter(reward_cents__gte=filters.min_reward_cents)
    if filters.max_seconds is not None:
        qs = qs.filter(expected_seconds__lte=filters.max_seconds)
    if filters.kind:
        qs = qs.filter(template_kind=filters.kind)
    for word in filters.keywords[:MAX_KEYWORDS]:
        qs = qs.filter(
            Q(project__title__icontains=word)
            | Q(project__keywords__icontains=word)
            | Q(project__description__icontains=word)
        )
    qualifies = qualifies_q(record)
    if filters.qualified_only:
        qs = qs.filter(qualifies)
    qs = qs.annotate(
        qualifies=Case(
            When(qualifies, then=Value(True)), default=Value(False), output_field=BooleanOutput()
        )
    )
    order = SORTS.get(filters.sort, SORTS["rate"])
    return qs.select_related("project", "owner").order_by(*order)


# --- One task ----------------------------------------------------------------------------


def _open_tasks(now: datetime | None = None) -> QuerySet[Task]:
    now = now or timezone.now()
    return Task.objects.filter(
        batch__status=BatchStatus.PUBLISHED,
        batch__expires_at__gt=now,
        assignments_taken__lt=F("assignments_needed"),
    )


def next_task_for(*, worker: User, project_id: int, after_task_id: int = 0) -> Task | None:
    """The first task of ``project_id`` that ``worker`` could accept now (a free slot
    in a live batch, not done by them), in batch and row order; with
    ``after_task_id``, the first one after that task (Skip). Batch and project joined."""
    qs = _open_tasks().filter(batch__project_id=project_id)
    qs = qs.exclude(Exists(Assignment.objects.filter(task_id=OuterRef("pk"), worker_id=worker.pk)))
    if after_task_id:
        after = Task.objects.filter(pk=after_task_id).values("batch_id", "row_number").first()
        if after is not None:
            qs = qs.filter(
                Q(batch_id__gt=after["batch_id"])
                | Q(batch_id=after["batch_id"], row_number__gt=after["row_number"])
            )
    return qs.select_related("batch__project").order_by("batch_id", "row_number").first()


def task_of_project(*, task_id: int, project_id: int) -> Task | None:
    """Task ``task_id`` if it belongs to ``project_id`` (whatever its state: the claim
    decides whether it can be taken)."""
    return Task.objects.filter(pk=task_id, batch__project_id=project_id).first()


def open_task(*, task_id: int) -> Task | None:
    """Task ``task_id`` while its batch is live (batch and project joined), else None."""
    return (
        Task.objects.filter(
            pk=task_id, batch__status=BatchStatus.PUBLISHED, batch__expires_at__gt=timezone.now()
        )
        .select_related("batch__project")
        .first()
    )
