"""Settlement of approved work: payables in, ledger postings out.

``payable_record`` / ``payables_record_many`` are called by the approving code (in its
transaction) and write one ``Payable`` per assignment; on commit they enqueue the
``payouts.jobs.settle_payables`` job, which ``settle_pending`` runs: batches of payables
become ``settle-<assignment id>`` ledger transactions (escrow → worker reward, escrow →
platform revenue fee) and are marked settled in the same database transaction, where the
registered settled-callbacks (``on_settled``; ``tasks`` sets ``Assignment.settled_at``)
also run. ``docs/money.md`` (Settlement) has the entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, connection, transaction

from core.errors import ApplicationError
from payouts.models import Payable

SettledCallback = Callable[[list[int]], None]
_SETTLED_CALLBACKS: dict[str, SettledCallback] = {}


def on_settled(*, name: str, callback: SettledCallback) -> None:
    """Register ``callback(assignment_ids)``, run inside the settling database
    transaction with the ids of the assignments just settled (each id once, ever).
    Idempotent by ``name``. Apps register from ``AppConfig.ready()`` so that payouts
    never imports them."""
    _SETTLED_CALLBACKS[name] = callback


def _run_settled_callbacks(assignment_ids: list[int]) -> None:
    if not assignment_ids:
        return
    for callback in _SETTLED_CALLBACKS.values():
        callback(assignment_ids)


@dataclass(frozen=True)
class PayableRow:
    """One approved assignment's money, for ``payables_record_many``."""

    assignment_id: int
    batch_id: int
    requester_id: int
    worker_id: int
    reward_cents: int
    fee_cents: int


class AlreadyPayable(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "This work has already been approved for payment.", code="already_payable", status=409
        )


def payable_record(
    *,
    assignment_id: int,
    batch_id: int,
    requester: AbstractBaseUser,
    worker: AbstractBaseUser,
    reward_cents: int,
    fee_cents: int,
) -> None:
    """Record that ``assignment_id`` is owed ``reward_cents`` + ``fee_cents`` out of the
    batch's escrow, and settle it in the background once the caller's transaction
    commits. Must run inside ``transaction.atomic`` (the approval's). Raises
    ``AlreadyPayable`` (409) if the assignment already has a payable; ``ValueError``
    for bad amounts (a programming error: they come from the assignment)."""
    payables_record_many(
        rows=[
            PayableRow(
                assignment_id=assignment_id,
                batch_id=batch_id,
                requester_id=int(requester.pk),  # type: ignore[arg-type]
                worker_id=int(worker.pk),  # type: ignore[arg-type]
                reward_cents=reward_cents,
                fee_cents=fee_cents,
            )
        ]
    )


def payables_record_many(*, rows: Sequence[PayableRow]) -> None:
    """``payable_record`` for many assignments in one set-based INSERT (bulk approve).
    All or nothing: one assignment that already has a payable raises ``AlreadyPayable``
    and records none (the caller's transaction should then roll back)."""
    if not connection.in_atomic_block:
        raise RuntimeError("payables are recorded inside the approving transaction")
    if not rows:
        return
    for row in rows:
        if row.reward_cents <= 0 or row.fee_cents < 0:
            raise ValueError(f"bad amounts for assignment {row.assignment_id}")
    columns = list(
        zip(
            *[
                (
                    r.assignment_id,
                    r.batch_id,
                    r.requester_id,
                    r.worker_id,
                    r.reward_cents,
                    r.fee_cents,
                )
                for r in rows
            ],
            strict=True,
        )
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO payouts_payable
                       (assignment_id, batch_id, requester_id, worker_id, reward_cents,
                        fee_cents, created_at)
                SELECT a, b, r, w, rw, f, now()
                  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                              %s::bigint[], %s::bigint[]) AS u(a, b, r, w, rw, f)
                """,
                [list(c) for c in columns],
            )
    except IntegrityError as exc:
        if "assignment_id" in str(exc):
            raise AlreadyPayable() from exc
        raise
    transaction.on_commit(_enqueue_settlement)


def _enqueue_settlement() -> None:
    from payouts.jobs import settle_payables

    settle_payables.delay()


def settle_pending(*, chunk: int = 2000, max_chunks: int | None = None) -> int:
    """Settle unsettled payables, ``chunk`` at a time, each chunk in its own database
    transaction, until none is left (or ``max_chunks`` chunks). Returns how many were
    settled. Safe to run concurrently and to retry (see ``settle_chunk``)."""
    total = 0
    done = 0
    while max_chunks is None or done < max_chunks:
        n = settle_chunk(limit=chunk)
        done += 1
        total += n
        if n == 0:
            break
    return total


def settle_chunk(*, limit: int = 2000) -> int:
    """Settle up to ``limit`` unsettled payables in one database transaction; returns
    how many. Payables locked by a concurrent run are skipped (``SKIP LOCKED``)."""
    from payouts import ledger

    with transaction.atomic():
        payables = list(
            Payable.objects.select_for_update(skip_locked=True)
            .filter(settled_at__isnull=True)
            .select_related("worker")
            .order_by("id")[:limit]
        )
        for p in payables:
            ledger.settle(
                key=f"settle-{p.assignment_id}",
                batch_id=p.batch_id,
                worker=p.worker,
                reward_cents=p.reward_cents,
                fee_cents=p.fee_cents,
                memo=f"assignment {p.assignment_id}",
            )
        ids = [p.pk for p in payables]
        from django.utils import timezone

        Payable.objects.filter(pk__in=ids).update(settled_at=timezone.now())
        _run_settled_callbacks([p.assignment_id for p in payables])
    return len(payables)
