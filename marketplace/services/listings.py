"""The task browser's cards (``ProjectListing``): one row per project summarising its
open work, so that the workers' browser reads one small table whatever the number of
tasks (see ``docs/performance.md``).

``listing_refresh`` recomputes a card from the live batches (open tasks and
assignments, the lowest reward on offer), the project's terms and its measured median
work time. It runs after every batch move (``batch_transition`` calls it on commit
for that project) and by beat every 30 s for all projects, which catches what claims,
returns, expiries and new measurements changed in between.

``hourly_rate_cents`` is the rate the browser sorts and filters on: the measured one
once a project has ``MEASURED_MIN_SUBMISSIONS`` submissions, the requester's estimate
before that. Nothing here locks batches or tasks: the listing is a read model, and a
claim never trusts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from marketplace.models import (
    MEASURED_MIN_SUBMISSIONS,
    Batch,
    BatchStatus,
    Project,
    ProjectListing,
    Task,
)
from payouts import fees

_OPEN_FIELDS = [
    "owner",
    "open_tasks",
    "open_assignments",
    "live_until",
    "reward_cents",
    "fee_cents",
    "estimated_seconds",
    "time_allotted_seconds",
    "template_kind",
    "has_requirements",
    "req_min_approval_rate",
    "req_min_completed",
    "req_locked",
    "hourly_rate_cents",
    "expected_seconds",
    "rate_is_measured",
    "refreshed_at",
]


@dataclass
class _Open:
    tasks: int = 0
    assignments: int = 0
    reward_cents: int | None = None
    fee_cents: int = 0
    live_until: datetime | None = None


def _rate(
    *,
    reward_cents: int,
    estimated_seconds: int,
    measured_seconds: float | None,
    measured_count: int,
) -> tuple[int, int, bool]:
    """(hourly rate, expected seconds, measured?) for a card."""
    if measured_seconds is not None and measured_count >= MEASURED_MIN_SUBMISSIONS:
        seconds = max(1, round(measured_seconds))
        return fees.hourly_rate_cents(reward_cents=reward_cents, seconds=seconds), seconds, True
    return (
        fees.hourly_rate_cents(reward_cents=reward_cents, seconds=estimated_seconds),
        estimated_seconds,
        False,
    )


def _requirement_columns(requirements: object) -> dict[str, object]:
    req = requirements if isinstance(requirements, dict) else {}
    quals = [
        q
        for q in req.get("qualifications") or []
        if isinstance(q, dict) and q.get("comparator", "exists") != "not_exists"
    ]
    approval = req.get("min_approval_rate")
    completed = req.get("min_completed")
    return {
        "has_requirements": any(value not in (None, "", [], {}) for value in req.values()),
        "req_min_approval_rate": approval if isinstance(approval, int) and approval > 0 else None,
        "req_min_completed": completed if isinstance(completed, int) and completed > 0 else None,
        # Holding none of them is what every worker can show today.
        "req_locked": bool(req.get("min_tier") or quals or req.get("languages")),
    }


def listing_refresh(
    *, project_ids: Iterable[int] | None = None, now: datetime | None = None
) -> int:
    """Recompute the listings of ``project_ids`` (None: every project with a live batch,
    and every listing that still shows open work). Three or four reads (the live
    batches; their open tasks through the partial ``task_open_row_idx``; the listings
    still showing work; the projects) and one upsert. Returns the number of listings
    written. Takes no locks; safe to run concurrently (the last writer wins, and each
    writes what it read a moment ago)."""
    now = now or timezone.now()
    wanted = None if project_ids is None else sorted({int(p) for p in project_ids})
    live = Batch.objects.filter(status=BatchStatus.PUBLISHED, expires_at__gt=now)
    if wanted is not None:
        live = live.filter(project_id__in=wanted)
    batches = {
        b["pk"]: b
        for b in live.values("pk", "project_id", "reward_cents", "fee_cents", "expires_at")
    }
    per_batch = (
        Task.objects.filter(
            batch_id__in=list(batches), assignments_taken__lt=F("assignments_needed")
        )
        .values("batch_id")
        .annotate(tasks=Count("id"), slots=Sum(F("assignments_needed") - F("assignments_taken")))
        .order_by()
    )
    open_by_project: dict[int, _Open] = {}
    for row in per_batch:
        batch = batches[row["batch_id"]]
        entry = open_by_project.setdefault(batch["project_id"], _Open())
        entry.tasks += row["tasks"]
        entry.assignments += int(row["slots"])
        expires = batch["expires_at"]  # set on every live batch (a CHECK says so)
        if expires is not None and (entry.live_until is None or expires > entry.live_until):
            entry.live_until = expires
        reward = batch["reward_cents"] or 0  # published: the terms are snapshotted
        if entry.reward_cents is None or reward < entry.reward_cents:
            entry.reward_cents = reward
            entry.fee_cents = batch["fee_cents"] or 0

    if wanted is None:
        showing = ProjectListing.objects.filter(open_assignments__gt=0).values_list(
            "project_id", flat=True
        )
        targets = set(open_by_project) | set(showing)
    else:
        targets = set(wanted)
    if not targets:
        return 0
    projects = Project.objects.in_bulk(sorted(targets))
    rows = []
    for pk, project in sorted(projects.items()):
        entry = open_by_project.get(pk, _Open())
        reward = entry.reward_cents if entry.reward_cents is not None else project.reward_cents
        fee = entry.fee_cents if entry.reward_cents is not None else fees.reward_fee_cents(reward)
        rate, expected, is_measured = _rate(
            reward_cents=reward,
            estimated_seconds=project.estimated_seconds,
            measured_seconds=project.measured_median_seconds,
            measured_count=project.measured_count,
        )
        rows.append(
            ProjectListing(
                project_id=pk,
                owner_id=project.owner_id,
                open_tasks=entry.tasks,
                open_assignments=entry.assignments,
                live_until=entry.live_until,
                reward_cents=reward,
                fee_cents=fee,
                estimated_seconds=project.estimated_seconds,
                time_allotted_seconds=project.time_allotted_seconds,
                template_kind=project.template_kind,
                **_requirement_columns(project.requirements),
                hourly_rate_cents=rate,
                expected_seconds=expected,
                rate_is_measured=is_measured,
                refreshed_at=now,
            )
        )
    ProjectListing.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["project"], update_fields=_OPEN_FIELDS
    )
    return len(rows)


def listing_refresh_on_commit(*, project_id: int) -> None:
    """Refresh one project's card once the current transaction commits (a batch was
    published, paused, resumed, cancelled or expired: its tasks appear or disappear
    now, not at the next periodic refresh). Bounded by the project's own open tasks."""
    transaction.on_commit(lambda: listing_refresh(project_ids=[project_id]), robust=True)
