"""Reads of the requester side (HackSoft selectors). Object-level permission lives here:
``project_for``/``batch_for`` raise ``Http404`` for anything the user does not own, so
a view that fetches through them cannot show another requester's objects (and does not
reveal that they exist).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from marketplace import builtin_templates, counters, templating
from marketplace.counters import counter_sums
from marketplace.models import (
    BATCH_LIVE_STATUSES,
    ApiKey,
    Batch,
    BatchEvent,
    BatchStatus,
    Project,
    ProjectStatus,
    TemplateKind,
    User,
)
from payouts import fees, ledger

# An import not finished this long after the upload is enqueued again (see stale_imports).
STALE_IMPORT_AFTER = timedelta(minutes=10)

# --- Objects the user owns ---------------------------------------------------------------


def projects_for(user: User, *, include_archived: bool = False) -> QuerySet[Project]:
    """The user's projects, newest first."""
    qs = Project.objects.filter(owner_id=user.pk)
    if not include_archived:
        qs = qs.filter(status=ProjectStatus.ACTIVE)
    return qs


def project_for(user: User, project_id: int | str) -> Project:
    """The user's project ``project_id``; ``Http404`` if it is someone else's or absent."""
    try:
        return Project.objects.get(pk=int(project_id), owner_id=user.pk)
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("Project not found.") from None


def batches_for(user: User, *, project_id: int | None = None) -> QuerySet[Batch]:
    """The user's batches (project joined), newest first."""
    qs = Batch.objects.filter(owner_id=user.pk).select_related("project")
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    return qs


def batch_for(user: User, batch_id: int | str) -> Batch:
    """The user's batch ``batch_id`` (project joined); ``Http404`` otherwise."""
    try:
        return Batch.objects.select_related("project").get(pk=int(batch_id), owner_id=user.pk)
    except (Batch.DoesNotExist, ValueError, TypeError):
        raise Http404("Batch not found.") from None


def api_keys_for(user: User) -> QuerySet[ApiKey]:
    """The user's API keys, newest first, revoked ones included."""
    return ApiKey.objects.filter(user_id=user.pk)


def batch_events(batch: Batch) -> QuerySet[BatchEvent]:
    """The batch's status history, oldest first, with actors."""
    return batch.events.select_related("actor").order_by("created_at", "id")


# --- Pricing and quotes ------------------------------------------------------------------


@dataclass(frozen=True)
class Pricing:
    """What the project form shows as the requester types (per assignment)."""

    reward_cents: int
    fee_cents: int
    cost_per_assignment_cents: int
    hourly_rate_cents: int
    minimum_reward_cents: int
    meets_pay_floor: bool
    fee_rate_bp: int
    pay_floor_cents_per_hour: int
    fee_minimum_cents: int = 0
    # True when the percentage would give less than the minimum fee, so the minimum is
    # what is charged (the form then says "$0.01 minimum", not "20%").
    fee_is_minimum: bool = False


@dataclass(frozen=True)
class PlannedBatch:
    """The cost of a batch the requester is still designing: rows × assignments per
    task × (reward + fee)."""

    rows: int
    assignments_per_task: int
    assignment_count: int
    total_cost_cents: int


def planned_batch(*, pricing: Pricing, rows: int, assignments_per_task: int) -> PlannedBatch:
    assignments = rows * assignments_per_task
    return PlannedBatch(
        rows=rows,
        assignments_per_task=assignments_per_task,
        assignment_count=assignments,
        total_cost_cents=assignments * pricing.cost_per_assignment_cents,
    )


def project_pricing(
    *, reward_cents: int, estimated_seconds: int, terms: fees.Terms | None = None
) -> Pricing:
    """Fee, total per assignment, effective hourly rate and the pay-floor minimum for a
    reward and an estimated time (both positive ints; ValueError otherwise)."""
    if reward_cents < 1 or estimated_seconds < 1:
        raise ValueError("reward and estimated time must be positive")
    terms = terms or fees.current_terms()
    fee = fees.reward_fee_cents(reward_cents, terms)
    floor = terms.pay_floor_cents_per_hour
    return Pricing(
        reward_cents=reward_cents,
        fee_cents=fee,
        cost_per_assignment_cents=reward_cents + fee,
        hourly_rate_cents=fees.hourly_rate_cents(
            reward_cents=reward_cents, seconds=estimated_seconds
        ),
        minimum_reward_cents=fees.minimum_reward_cents(
            estimated_seconds=estimated_seconds, floor_cents_per_hour=floor
        ),
        meets_pay_floor=fees.meets_pay_floor(
            reward_cents=reward_cents,
            estimated_seconds=estimated_seconds,
            floor_cents_per_hour=floor,
        ),
        fee_rate_bp=terms.fee_rate_bp,
        pay_floor_cents_per_hour=floor,
        fee_minimum_cents=terms.fee_minimum_cents,
        fee_is_minimum=fees.fee_cents(reward_cents, rate_bp=terms.fee_rate_bp, minimum_cents=0)
        < terms.fee_minimum_cents,
    )


@dataclass(frozen=True)
class BatchQuote:
    """The cost of publishing a batch (or, once published, what it was published at)."""

    reward_cents: int
    fee_cents: int
    assignments_per_task: int
    task_count: int
    assignment_count: int
    cost_per_assignment_cents: int
    total_cost_cents: int
    balance_cents: int
    shortfall_cents: int
    meets_pay_floor: bool
    minimum_reward_cents: int
    published_terms: bool  # True: the snapshot taken at publish, not current terms


def batch_quote(batch: Batch, *, terms: fees.Terms | None = None) -> BatchQuote:
    """Rewards + fees for every assignment of ``batch`` and the owner's balance.

    A draft is quoted with the project's and the platform's current terms (what
    ``batch_publish`` will hold); a published batch returns its snapshot. Takes no
    locks: ``batch_publish`` recomputes this under its lock."""
    project = batch.project
    terms = terms or fees.current_terms()
    floor = terms.pay_floor_cents_per_hour
    if (
        batch.published_at is not None
        and batch.reward_cents is not None
        and batch.fee_cents is not None
    ):
        reward, fee, per_task = batch.reward_cents, batch.fee_cents, batch.assignments_per_task
        snapshot = True
    else:
        reward = project.reward_cents
        fee = fees.reward_fee_cents(reward, terms)
        per_task = project.assignments_per_task
        snapshot = False
    assignments = batch.task_count * per_task
    total = assignments * (reward + fee)
    balance = ledger.requester_balance_cents(batch.owner)  # a read: creates no account
    return BatchQuote(
        reward_cents=reward,
        fee_cents=fee,
        assignments_per_task=per_task,
        task_count=batch.task_count,
        assignment_count=assignments,
        cost_per_assignment_cents=reward + fee,
        total_cost_cents=batch.total_cost_cents
        if snapshot and batch.total_cost_cents is not None
        else total,
        balance_cents=balance,
        shortfall_cents=0 if snapshot else max(0, total - balance),
        meets_pay_floor=fees.meets_pay_floor(
            reward_cents=reward,
            estimated_seconds=project.estimated_seconds,
            floor_cents_per_hour=floor,
        ),
        minimum_reward_cents=fees.minimum_reward_cents(
            estimated_seconds=project.estimated_seconds, floor_cents_per_hour=floor
        ),
        published_terms=snapshot,
    )


# --- Progress ----------------------------------------------------------------------------


# Assignment states as counted (``BatchCounter`` columns; the worker side's
# ``AssignmentStatus`` values, named here so that this app does not import ``tasks``).
ASSIGNMENT_STATES = ("accepted", "submitted", "approved", "rejected", "returned", "expired")
# Slots of a task that are done or being done; returned/expired ones were given back.
_DONE = ("submitted", "approved", "rejected")


@dataclass(frozen=True)
class BatchProgress:
    total_assignments: int
    by_state: dict[str, int]  # every AssignmentStatus value, zeros included
    in_progress: int  # accepted
    pending_review: int  # submitted
    completed: int  # submitted + approved + rejected
    remaining: int  # slots nobody holds
    percent_complete: float  # completed / total, one decimal
    spend_cents: int  # reward + fee of approved assignments
    median_seconds: float | None  # measured work time (None until one is handed in)
    hourly_rate_cents: int | None  # reward per measured median hour
    escrow_cents: int | None  # current escrow balance (None when not read, e.g. lists)
    rows_processed: int
    bytes_processed: int
    upload_size: int


def _progress(
    batch: Batch, sums: Mapping[str, int] | None, *, escrow_cents: int | None
) -> BatchProgress:
    by_state = {st: int(sums[st]) if sums else 0 for st in ASSIGNMENT_STATES}
    total = batch.assignment_count
    holding = sum(by_state[st] for st in ("accepted", *_DONE))
    completed = sum(by_state[st] for st in _DONE)
    median_seconds = (
        float(batch.measured_median_seconds) if batch.measured_median_seconds is not None else None
    )
    reward = batch.reward_cents if batch.reward_cents is not None else batch.project.reward_cents
    hourly = (
        fees.hourly_rate_cents(reward_cents=reward, seconds=median_seconds)
        if median_seconds is not None and median_seconds > 0
        else None
    )
    return BatchProgress(
        total_assignments=total,
        by_state=by_state,
        in_progress=by_state["accepted"],
        pending_review=by_state["submitted"],
        completed=completed,
        remaining=max(0, total - holding),
        percent_complete=round(100 * completed / total, 1) if total else 0.0,
        spend_cents=int(sums["spend_cents"]) if sums else 0,
        median_seconds=median_seconds,
        hourly_rate_cents=hourly,
        escrow_cents=escrow_cents,
        rows_processed=batch.rows_processed,
        bytes_processed=batch.bytes_processed,
        upload_size=batch.upload_size,
    )


def batch_progress(batch: Batch) -> BatchProgress:
    """Live progress of one batch: its counter rows summed (``BatchCounter``, kept in the
    transaction of every assignment move, so the cost does not grow with the work
    done), plus the escrow balance from the ledger once the batch has been published.
    The median work time is the stored one (``refresh_measured_times`` job).

    While the batch is importing, ``rows_processed``/``bytes_processed`` come from the
    row as committed by the import's progress connection: pass a freshly read batch
    (``batch_for``) to see them move."""
    sums = counter_sums([batch.pk]).get(batch.pk)
    escrow = None
    if batch.published_at is not None:
        escrow = ledger.batch_escrow_balance_cents(batch.pk)
    return _progress(batch, sums, escrow_cents=escrow)


@dataclass(frozen=True)
class BatchSummary:
    batch: Batch
    progress: BatchProgress


def requester_batches(
    user: User,
    *,
    project_id: int | None = None,
    statuses: Iterable[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[BatchSummary]:
    """The user's batches, newest first, each with its progress, in two queries (the
    batches with their projects; one GROUP BY over their counter rows) whatever the
    number of batches or of assignments. ``escrow_cents`` is left None here (one ledger read per batch
    would be N queries); ``batch_progress`` gives it for a single batch."""
    qs = batches_for(user, project_id=project_id)
    if statuses is not None:
        qs = qs.filter(status__in=list(statuses))
    batches = list(qs[offset : offset + limit])
    if not batches:
        return []
    sums = counter_sums([b.pk for b in batches])
    return [BatchSummary(b, _progress(b, sums.get(b.pk), escrow_cents=None)) for b in batches]


# --- Escrow and the jobs' scans ---------------------------------------------------------


def escrow_owed_cents(*, batch_id: int) -> int:
    """Reward + fee of the batch's assignments whose money must stay in escrow: accepted,
    submitted, approved or rejected and not yet settled (``BatchCounter.owed_cents``,
    summed). Exact only while the caller holds the counter rows (``counters_lock``),
    which every move of the batch's assignments updates."""
    return counters.owed_cents(batch_id=batch_id)


def stale_imports(
    *, now: datetime | None = None, older_than: timedelta = STALE_IMPORT_AFTER
) -> list[int]:
    """Ids of batches still ``importing`` long after their upload (the enqueue was lost,
    or the worker died and its message is gone). Re-enqueueing them is safe: an import
    already running holds the advisory lock and a finished one is no longer importing."""
    now = now or timezone.now()
    return list(
        Batch.objects.filter(status=BatchStatus.IMPORTING, created_at__lte=now - older_than)
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )


def due_for_expiry(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Ids of live batches whose lifetime is over (oldest first). No lock: each is
    re-checked under its lock by ``batch_expire``."""
    now = now or timezone.now()
    return list(
        Batch.objects.filter(status__in=BATCH_LIVE_STATUSES, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- Template preview --------------------------------------------------------------------


def template_sample_row(
    *, template_kind: str, template_html: str, template_config: Mapping[str, Any] | None
) -> dict[str, str]:
    """A row to preview a template with: the built-in's sample, or for custom HTML
    ``"sample <name>"`` for each placeholder."""
    if template_kind != TemplateKind.CUSTOM:
        return builtin_templates.sample_row(template_kind, template_config)
    return {name: f"sample {name}" for name in templating.placeholders(template_html)}


def template_preview(
    *,
    template_kind: str,
    template_html: str = "",
    template_config: Mapping[str, Any] | None = None,
    row: Mapping[str, Any] | None = None,
) -> str:
    """The HTML a worker would see for ``row`` (default: a sample row), to be shown in
    the same sandboxed frame as real work. Raises ApplicationError for an invalid
    template or configuration, or a row missing a placeholder."""
    if template_kind == TemplateKind.CUSTOM:
        templating.check_template(template_html)
        html = template_html
    else:
        html = builtin_templates.get(template_kind, template_config)
    if row is None:
        row = template_sample_row(
            template_kind=template_kind, template_html=html, template_config=template_config
        )
    return templating.render(html, row)
