"""The requester's review of submitted work: approve, reject, reverse a rejection, bonus,
block; auto-approval and the final release of rejected work's money.

These live in ``tasks`` because they move ``Assignment`` rows (the owner's services do
the writes); ``marketplace`` never imports ``tasks``, so the requester's review pages
and API are here too (``tasks/review_views.py``, ``tasks/review_api.py``), mounted under
the requester URLs by the project URLconf.

Bulk approve/reject are set-based: one ``SELECT ... FOR UPDATE`` of the rows (in id
order), one ``UPDATE``, one ``INSERT ... SELECT`` of the events, one counter update per
batch and one bulk insert of payables (``payouts.settlement``), whatever the count, so
10,000 assignments are decided in one short transaction. Settlement (``payouts``) pays
the payables in the background.

Locks, in order: the batch row ``FOR SHARE`` (only where money leaves escrow: the final
release of a rejection), the assignment rows (id order), one counter row per batch,
the ledger accounts (primary-key order, inside ``payouts.ledger``).

Every failure raises ``core.errors.ApplicationError`` and changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.money import format_cents
from marketplace import counters
from marketplace.locking import lock_batches
from marketplace.models import Batch, Project, User
from payouts import fees, ledger, settlement
from tasks import services
from tasks.models import (
    Assignment,
    AssignmentStatus,
    Bonus,
    RejectReason,
    WorkerBlock,
)

# One request may decide this many assignments (the review table's "all matching").
MAX_BULK = 20_000
MAX_NOTE_CHARS = 2_000
MAX_BONUS_CENTS = 100_000  # $1,000 per bonus
REVERSAL_WINDOW = timedelta(days=30)


def dispute_window() -> timedelta:
    """How long a rejection's money stays in escrow (a dispute may still be filed)."""
    return timedelta(days=int(getattr(settings, "FAIRTASK_DISPUTE_WINDOW_DAYS", 7)))


@dataclass(frozen=True)
class ReviewResult:
    ids: list[int]
    status: str


def _clean_ids(assignment_ids: Iterable[object]) -> list[int]:
    ids: set[int] = set()
    for raw in assignment_ids:
        try:
            value = int(raw)  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            raise ApplicationError(
                "Assignment ids are whole numbers.", code="invalid_ids", field="assignment_ids"
            ) from None
        if not 0 < value < 2**63:
            raise ApplicationError(
                "Assignment ids are positive whole numbers.",
                code="invalid_ids",
                field="assignment_ids",
            )
        ids.add(value)
    if not ids:
        raise ApplicationError(
            "Choose at least one assignment.", code="no_assignments", field="assignment_ids"
        )
    if len(ids) > MAX_BULK:
        raise ApplicationError(
            f"At most {MAX_BULK:,} assignments can be decided at once; {len(ids):,} were sent.",
            code="too_many",
            field="assignment_ids",
        )
    return sorted(ids)


_LOCK_SQL = """
SELECT a.id, a.status, a.batch_id, a.worker_id, a.reward_cents, a.fee_cents
  FROM tasks_assignment a JOIN marketplace_batch b ON b.id = a.batch_id
 WHERE a.id = ANY(%s) AND b.owner_id = %s
 ORDER BY a.id
   FOR NO KEY UPDATE OF a"""

_STATE_WORD = {
    AssignmentStatus.ACCEPTED: "still in progress",
    AssignmentStatus.SUBMITTED: "waiting for review",
    AssignmentStatus.APPROVED: "already approved",
    AssignmentStatus.REJECTED: "already rejected",
    AssignmentStatus.RETURNED: "returned by the worker",
    AssignmentStatus.EXPIRED: "expired",
}


def _decide(
    *,
    requester_id: int | None,
    ids: list[int],
    to: str,
    actor: User | None,
    reason: str,
    reject_reason: str,
    reject_note: str,
    now: datetime,
    rows: list[tuple[int, str, int, int, int, int]] | None = None,
) -> list[tuple[int, str, int, int, int, int]]:
    """Move submitted assignments ``ids`` to ``to`` in the caller's transaction (rows
    locked here unless ``rows`` are given, already locked). All or nothing."""
    if rows is None:
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_SQL, [ids, requester_id])
            rows = cursor.fetchall()
        found = {r[0] for r in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            # Another requester's ids answer exactly like ids that do not exist.
            raise ApplicationError(
                f"{len(missing):,} of these assignments were not found among your batches "
                f"(e.g. {', '.join(map(str, missing[:5]))}); nothing was changed.",
                code="not_found",
                status=404,
                extra={"ids": missing[:50]},
            )
        wrong = [r for r in rows if r[1] != AssignmentStatus.SUBMITTED]
        if wrong:
            first = wrong[0]
            raise ApplicationError(
                f"{len(wrong):,} of these assignments cannot be {to}: assignment {first[0]} is "
                f"{_STATE_WORD[AssignmentStatus(first[1])]}; nothing was changed.",
                code="illegal_transition",
                status=409,
                extra={"ids": [r[0] for r in wrong[:50]], "status": first[1], "requested": to},
            )
    decided = [r[0] for r in rows]
    if not decided:
        return rows
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_assignment SET status = %s, reviewed_at = %s, reject_reason = %s,"
            " reject_note = %s WHERE id = ANY(%s)",
            [to, now, reject_reason, reject_note, decided],
        )
        cursor.execute(
            "INSERT INTO tasks_assignmentevent"
            " (assignment_id, old_status, new_status, actor_id, reason, created_at)"
            " SELECT id, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS id",
            [AssignmentStatus.SUBMITTED, to, actor.pk if actor else None, reason, now, decided],
        )
    per_batch: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for _id, _st, batch_id, _w, reward, fee in rows:
        per_batch[batch_id][0] += 1
        per_batch[batch_id][1] += reward + fee
    for batch_id in sorted(per_batch):
        n, cost = per_batch[batch_id]
        deltas = {AssignmentStatus.SUBMITTED.value: -n, to: n}
        if to == AssignmentStatus.APPROVED:
            deltas["spend_cents"] = cost
        counters.counters_add(batch_id=batch_id, deltas=deltas)
    return rows


def _owners(batch_ids: Iterable[int]) -> dict[int, int]:
    return dict(Batch.objects.filter(pk__in=set(batch_ids)).values_list("pk", "owner_id"))


def _record_payables(rows: Sequence[tuple[int, str, int, int, int, int]]) -> None:
    owners = _owners(r[2] for r in rows)
    settlement.payables_record_many(
        rows=[
            settlement.PayableRow(
                assignment_id=aid,
                batch_id=batch_id,
                requester_id=owners[batch_id],
                worker_id=worker_id,
                reward_cents=reward,
                fee_cents=fee,
            )
            for aid, _st, batch_id, worker_id, reward, fee in rows
        ]
    )


def _after_commit(kind: str, ids: list[int]) -> None:
    from tasks import jobs  # the job module imports this one

    # robust: a broker outage must not turn a committed decision into an error page
    # (the decision stands; only its email is lost, and Django logs the failure).
    transaction.on_commit(lambda: jobs.notify_reviewed.delay(kind, ids), robust=True)


def assignments_approve(
    *, requester: User, assignment_ids: Iterable[object], now: datetime | None = None
) -> ReviewResult:
    """Approve the requester's submitted assignments ``assignment_ids`` (one or
    thousands): each moves to approved with an event, the batches' counters, and a
    payable that settlement pays (reward to the worker, fee to the platform) later.
    All or nothing: ``not_found`` (404: not the requester's or absent),
    ``illegal_transition`` (409: not submitted, e.g. approved twice or returned),
    ``invalid_ids`` / ``no_assignments`` / ``too_many`` (400)."""
    ids = _clean_ids(assignment_ids)
    now = now or timezone.now()
    with transaction.atomic():
        rows = _decide(
            requester_id=requester.pk,
            ids=ids,
            to=AssignmentStatus.APPROVED,
            actor=requester,
            reason="",
            reject_reason="",
            reject_note="",
            now=now,
        )
        _record_payables(rows)
        _after_commit("approved", ids)
    return ReviewResult(ids=ids, status=AssignmentStatus.APPROVED)


def clean_reject_reason(reason: object, note: object) -> tuple[str, str]:
    if reason not in RejectReason.values:
        raise ApplicationError(
            "Choose a reason for the rejection from the list.",
            code="invalid_reason",
            field="reason",
        )
    text = str(note or "").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise ApplicationError(
            f"The explanation is {len(text):,} characters; at most {MAX_NOTE_CHARS:,}.",
            code="note_too_long",
            field="note",
        )
    if reason == RejectReason.OTHER and not text:
        raise ApplicationError(
            "Explain the rejection: the worker sees what you write.",
            code="note_required",
            field="note",
        )
    return str(reason), text


def assignments_reject(
    *,
    requester: User,
    assignment_ids: Iterable[object],
    reason: str,
    note: str = "",
    now: datetime | None = None,
) -> ReviewResult:
    """Reject submitted assignments with a reason from ``RejectReason`` and free text
    (required for ``other``), both shown to the worker. Their reward + fee stays in
    escrow for the dispute window, then returns to the requester
    (``rejections_release``). Errors as ``assignments_approve`` plus ``invalid_reason``,
    ``note_required``, ``note_too_long`` (400)."""
    reason, note = clean_reject_reason(reason, note)
    ids = _clean_ids(assignment_ids)
    now = now or timezone.now()
    label = RejectReason(reason).label
    with transaction.atomic():
        _decide(
            requester_id=requester.pk,
            ids=ids,
            to=AssignmentStatus.REJECTED,
            actor=requester,
            reason=f"{label}: {note}" if note else label,
            reject_reason=reason,
            reject_note=note,
            now=now,
        )
        _after_commit("rejected", ids)
    return ReviewResult(ids=ids, status=AssignmentStatus.REJECTED)


def _own_assignment(requester: User, assignment_id: object, *, lock: bool) -> Assignment:
    try:
        pk = int(assignment_id)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        pk = 0
    qs = Assignment.objects.filter(pk=pk, batch__owner_id=requester.pk)
    if lock:
        qs = qs.select_for_update(of=("self",), no_key=True)
    assignment = qs.select_related("batch", "worker").first() if 0 < pk < 2**63 else None
    if assignment is None:
        raise ApplicationError("Assignment not found.", code="not_found", status=404)
    return assignment


def assignment_reverse_rejection(
    *, requester: User, assignment_id: object, now: datetime | None = None
) -> Assignment:
    """Approve a rejected assignment after all, within ``REVERSAL_WINDOW`` (30 days) of
    the rejection: the worker is paid. While the money is still in escrow it is paid
    like any approval (a payable); after the dispute window returned it to the
    requester, the reward + fee is paid from the requester's available balance
    (ledger kind ``bonus``, key ``rejection-reversed-<id>``). Errors: ``not_found``
    (404), ``not_rejected`` (409), ``reversal_window_closed`` (409),
    ``insufficient_funds`` (409, nothing changed)."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(requester, assignment_id, lock=True)
        if assignment.status != AssignmentStatus.REJECTED:
            raise ApplicationError(
                f"Only a rejected assignment can be reversed; this one is "
                f"{_STATE_WORD[AssignmentStatus(assignment.status)]}.",
                code="not_rejected",
                status=409,
            )
        decided = assignment.reviewed_at or now
        if now - decided > REVERSAL_WINDOW:
            raise ApplicationError(
                "A rejection can be reversed within 30 days; this one is older.",
                code="reversal_window_closed",
                status=409,
            )
        assignment.reviewed_at = now
        services.transition(
            assignment=assignment,
            to=AssignmentStatus.APPROVED,
            actor=requester,
            reason="rejection reversed by the requester",
            now=now,
            update_fields=("reviewed_at",),
        )
        if assignment.settled_at is None:
            _record_payables(
                [
                    (
                        assignment.pk,
                        assignment.status,
                        assignment.batch_id,
                        assignment.worker_id,
                        assignment.reward_cents,
                        assignment.fee_cents,
                    )
                ]
            )
        else:
            ledger.bonus(
                key=f"rejection-reversed-{assignment.pk}",
                requester=requester,
                worker=assignment.worker,
                amount_cents=assignment.reward_cents,
                fee_cents=assignment.fee_cents,
                memo=f"Assignment {assignment.pk}: rejection reversed",
            )
        _after_commit("approved", [assignment.pk])
        return assignment


def clean_bonus_cents(amount_cents: object) -> int:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents < 1:
        raise ApplicationError(
            "A bonus is at least $0.01.", code="invalid_amount", field="amount_cents"
        )
    if amount_cents > MAX_BONUS_CENTS:
        raise ApplicationError(
            f"A bonus is at most {format_cents(MAX_BONUS_CENTS)}.",
            code="invalid_amount",
            field="amount_cents",
        )
    return amount_cents


def assignment_bonus(
    *,
    requester: User,
    assignment_id: object,
    amount_cents: object,
    reason: str,
    now: datetime | None = None,
) -> Bonus:
    """Pay the worker of one of the requester's handed-in assignments a bonus from the
    requester's available balance, with the platform fee on top (``payouts.fees``):
    requester − (bonus + fee), worker + bonus, platform revenue + fee, key
    ``bonus-<bonus id>``. Errors: ``invalid_amount`` (400: below 1¢ or above the
    maximum), ``reason_required`` (400), ``not_found`` (404), ``not_handed_in`` (409),
    ``insufficient_funds`` (409). Nothing is written on error."""
    amount = clean_bonus_cents(amount_cents)
    text = (reason or "").strip()
    if not text:
        raise ApplicationError(
            "Say why you give this bonus; the worker sees it.",
            code="reason_required",
            field="reason",
        )
    if len(text) > MAX_NOTE_CHARS:
        raise ApplicationError(
            f"The reason is at most {MAX_NOTE_CHARS:,} characters.",
            code="reason_too_long",
            field="reason",
        )
    now = now or timezone.now()
    fee = fees.bonus_fee_cents(amount)
    with transaction.atomic():
        assignment = _own_assignment(requester, assignment_id, lock=False)
        if assignment.status not in (
            AssignmentStatus.SUBMITTED,
            AssignmentStatus.APPROVED,
            AssignmentStatus.REJECTED,
        ):
            raise ApplicationError(
                "A bonus is for work that was handed in.", code="not_handed_in", status=409
            )
        bonus = Bonus.objects.create(
            assignment=assignment,
            requester=requester,
            worker=assignment.worker,
            amount_cents=amount,
            fee_cents=fee,
            reason=text,
            created_at=now,
        )
        ledger.bonus(
            key=f"bonus-{bonus.pk}",
            requester=requester,
            worker=assignment.worker,
            amount_cents=amount,
            fee_cents=fee,
            memo=f"Bonus for assignment {assignment.pk}",
        )
        _after_commit("bonus", [bonus.pk])
        return bonus


def worker_block(*, requester: User, assignment_id: object, reason: str) -> WorkerBlock:
    """Block the worker of one of the requester's assignments (reason kept, never shown
    to the worker): they no longer see the requester's projects and cannot claim
    them. Blocking again updates the reason. Errors: ``not_found`` (404),
    ``reason_required`` (400)."""
    text = (reason or "").strip()
    if not text:
        raise ApplicationError(
            "Say why you block this worker.", code="reason_required", field="reason"
        )
    assignment = _own_assignment(requester, assignment_id, lock=False)
    block, _created = WorkerBlock.objects.update_or_create(
        requester_id=requester.pk,
        worker_id=assignment.worker_id,
        defaults={"reason": text[:MAX_NOTE_CHARS]},
    )
    return block


def _not_blocked() -> ApplicationError:
    return ApplicationError(
        "This worker is not blocked (already unblocked?); nothing was changed.",
        code="not_blocked",
        status=409,
    )


def worker_unblock(*, requester: User, assignment_id: object) -> None:
    """Lift the requester's block of the worker of one of their assignments: the worker
    sees and may claim the requester's projects again. One ``DELETE`` whose row count
    is checked, so of two unblocks at once exactly one succeeds. Errors: ``not_found``
    (404: not the requester's assignment), ``not_blocked`` (409: nothing to lift)."""
    assignment = _own_assignment(requester, assignment_id, lock=False)
    deleted, _ = WorkerBlock.objects.filter(
        requester_id=requester.pk, worker_id=assignment.worker_id
    ).delete()
    if not deleted:
        raise _not_blocked()


def block_lift(*, requester: User, block_id: object) -> None:
    """Lift one of the requester's blocks by its id (the blocked-workers page and
    ``DELETE /api/v1/blocks/{id}/``). Another requester's block answers exactly like one
    that does not exist, and so does a block already lifted: ``not_found`` (404), with
    a message saying it may have been lifted already; nothing is changed."""
    try:
        pk = int(block_id)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        pk = 0
    deleted = 0
    if 0 < pk < 2**63:
        deleted, _ = WorkerBlock.objects.filter(pk=pk, requester_id=requester.pk).delete()
    if not deleted:
        raise ApplicationError(
            "No such block: this worker is not blocked by you (already unblocked?); "
            "nothing was changed.",
            code="not_found",
            status=404,
        )


def is_blocked(*, worker: User, project: Project) -> bool:
    return WorkerBlock.objects.filter(requester_id=project.owner_id, worker_id=worker.pk).exists()


# --- Jobs: auto-approval and the final release of rejected work ---------------------------


def assignments_auto_approve(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Approve submitted assignments whose frozen ``auto_approve_at`` has passed (rows a
    requester is deciding right now are skipped: ``SKIP LOCKED``, the next run sees
    them). Set-based, like a bulk approval; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, status, batch_id, worker_id, reward_cents, fee_cents"
                "  FROM tasks_assignment WHERE status = 'submitted' AND auto_approve_at <= %s"
                " ORDER BY id LIMIT %s FOR NO KEY UPDATE SKIP LOCKED",
                [now, limit],
            )
            rows = cursor.fetchall()
        if not rows:
            return 0
        _decide(
            requester_id=None,
            ids=[r[0] for r in rows],
            to=AssignmentStatus.APPROVED,
            actor=None,
            reason="approved automatically: not reviewed in time",
            reject_reason="",
            reject_note="",
            now=now,
            rows=rows,
        )
        _record_payables(rows)
        _after_commit("approved", [r[0] for r in rows])
    return len(rows)


def rejection_release(*, assignment_id: int, now: datetime | None = None) -> bool:
    """Once a rejection's dispute window has closed, return its reward + fee from the
    batch escrow to the requester (``release``, key
    ``release-batch-<batch id>-rejected-<assignment id>``) and mark it settled. Locks
    the batch row (shared, like settlement), the assignment row (``SKIP LOCKED``), one
    counter row, the ledger accounts. Returns whether it released."""
    now = now or timezone.now()
    batch_id = (
        Assignment.objects.filter(pk=assignment_id).values_list("batch_id", flat=True).first()
    )
    if batch_id is None:
        return False
    with transaction.atomic():
        lock_batches(shared=[batch_id])
        assignment = (
            Assignment.objects.select_for_update(skip_locked=True, no_key=True)
            .select_related("batch__owner")
            .filter(
                pk=assignment_id,
                status=AssignmentStatus.REJECTED,
                settled_at__isnull=True,
                reviewed_at__lte=now - dispute_window(),
            )
            .first()
        )
        if assignment is None:
            return False
        services.assignment_mark_settled(assignment=assignment, now=now)
        ledger.release(
            key=f"release-batch-{batch_id}-rejected-{assignment.pk}",
            user=assignment.batch.owner,
            batch_id=batch_id,
            amount_cents=assignment.reward_cents + assignment.fee_cents,
            memo=f"Assignment {assignment.pk}: rejected, dispute window closed",
        )
        return True


def rejections_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or timezone.now()
    return list(
        Assignment.objects.filter(
            status=AssignmentStatus.REJECTED,
            settled_at__isnull=True,
            reviewed_at__lte=now - dispute_window(),
        )
        .order_by("reviewed_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def rejections_release(*, now: datetime | None = None, limit: int = 1000) -> int:
    now = now or timezone.now()
    return sum(
        rejection_release(assignment_id=pk, now=now) for pk in rejections_due(now=now, limit=limit)
    )
