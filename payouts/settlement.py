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

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper

from core.errors import ApplicationError

logger = logging.getLogger(__name__)

SettledCallback = Callable[[list[int]], object]
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


def revenue_shards() -> int:
    """How many ``platform_revenue`` shard accounts settlement spreads fees over."""
    return max(1, int(getattr(settings, "SETTLEMENT_REVENUE_SHARDS", 8)))


def _ensure_revenue_shards(cursor: CursorWrapper) -> None:
    cursor.execute(
        """
        INSERT INTO payouts_ledgeraccount
               (kind, owner_id, ref, currency, balance_cents, allow_negative, created_at)
        SELECT 'platform_revenue', NULL, 'shard:' || g, 'usd', 0, false, now()
          FROM generate_series(1, %s) AS g
        ON CONFLICT DO NOTHING
        """,
        [revenue_shards()],
    )


def _pick_revenue_shard(cursor: CursorWrapper) -> int:
    """Lock one revenue shard that no concurrent settlement holds (``SKIP LOCKED``);
    if all are held, wait for a random one. Taken before the other accounts: only
    settlement locks shards, and it never waits for one while holding another account,
    except in the all-busy case, where it holds nothing else yet."""
    base = (
        "SELECT id FROM payouts_ledgeraccount WHERE kind = 'platform_revenue'"
        " AND owner_id IS NULL AND ref LIKE 'shard:%%' ORDER BY random() LIMIT 1 FOR UPDATE"
    )
    for sql in (base + " SKIP LOCKED", base):
        cursor.execute(sql, [])
        row = cursor.fetchone()
        if row is not None:
            return int(row[0])
    raise RuntimeError("no platform revenue shard account")


def settle_chunk(*, limit: int = 2000) -> int:
    """Settle up to ``limit`` unsettled payables in one database transaction with
    set-based writes; returns how many were settled.

    1. Take the oldest unsettled payables ``FOR UPDATE SKIP LOCKED`` (a concurrent run
       takes others; a killed run's rows are unlocked by its rollback).
    2. Lock one revenue shard (``_pick_revenue_shard``), then the batches' escrows and
       the workers' accounts (created if missing) in primary-key order, as
       ``ledger.post`` does, so settlement and ordinary posts cannot deadlock.
    3. Skip (and log) the payables of an escrow that holds less than they need.
    4. One INSERT of the ``settle-<assignment id>`` transactions (a key that already
       exists was settled before: skipped), one INSERT of their entries (escrow
       −(reward + fee), worker +reward, revenue shard +fee when the fee is not 0); the
       database's triggers update the balances, stamp each entry's balance after, seal
       and check the balance of each transaction at COMMIT.
    5. Mark the payables settled and run the settled-callbacks, in the same transaction.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, assignment_id, batch_id, worker_id, reward_cents, fee_cents
              FROM payouts_payable WHERE settled_at IS NULL
             ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
            """,
            [limit],
        )
        payables = cursor.fetchall()
        if not payables:
            return 0
        _ensure_revenue_shards(cursor)
        shard_id = _pick_revenue_shard(cursor)
        workers = sorted({p[3] for p in payables})
        cursor.execute(
            """
            INSERT INTO payouts_ledgeraccount
                   (kind, owner_id, ref, currency, balance_cents, allow_negative, created_at)
            SELECT 'worker_available', w, '', 'usd', 0, false, now() FROM unnest(%s::bigint[]) w
            ON CONFLICT DO NOTHING
            """,
            [workers],
        )
        refs = sorted({f"batch:{p[2]}" for p in payables})
        cursor.execute(
            """
            SELECT id, kind, owner_id, ref, balance_cents FROM payouts_ledgeraccount
             WHERE (kind = 'worker_available' AND owner_id = ANY(%s) AND ref = '')
                OR (kind = 'batch_escrow' AND owner_id IS NULL AND ref = ANY(%s))
             ORDER BY id FOR UPDATE
            """,
            [workers, refs],
        )
        worker_acc: dict[int, int] = {}
        escrow_acc: dict[int, tuple[int, int]] = {}
        for acc_id, kind, owner_id, ref, balance in cursor.fetchall():
            if kind == "worker_available":
                worker_acc[owner_id] = acc_id
            else:
                escrow_acc[int(ref.split(":", 1)[1])] = (acc_id, balance)

        need: dict[int, int] = {}
        for p in payables:
            need[p[2]] = need.get(p[2], 0) + p[4] + p[5]
        short = {b for b, n in need.items() if b not in escrow_acc or escrow_acc[b][1] < n}
        for b in sorted(short):
            logger.error(
                "settlement: escrow of batch %s holds %s cents, its payables need %s; skipped",
                b,
                escrow_acc.get(b, (None, 0))[1],
                need[b],
            )
        payables = [p for p in payables if p[2] not in short]
        if not payables:
            return 0

        by_assignment = {p[1]: p for p in payables}
        cursor.execute(
            """
            INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)
            SELECT 'settle-' || a, 'settle', 'Pay for assignment ' || a, '', now()
              FROM unnest(%s::bigint[]) AS a ORDER BY a
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, idempotency_key
            """,
            [sorted(by_assignment)],
        )
        txn_ids: list[int] = []
        account_ids: list[int] = []
        amounts: list[int] = []
        for txn_id, key in cursor.fetchall():
            _aid, _ap, batch_id, worker_id, reward, fee = by_assignment[int(key[7:])]
            lines = [(escrow_acc[batch_id][0], -(reward + fee)), (worker_acc[worker_id], reward)]
            if fee:
                lines.append((shard_id, fee))
            for account_id, amount in lines:
                txn_ids.append(txn_id)
                account_ids.append(account_id)
                amounts.append(amount)
        if txn_ids:
            cursor.execute(
                """
                INSERT INTO payouts_ledgerentry
                       (transaction_id, account_id, amount_cents, balance_after_cents, created_at)
                SELECT t, a, m, 0, now()
                  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS u(t, a, m)
                 ORDER BY a, t
                """,
                [txn_ids, account_ids, amounts],
            )
        cursor.execute(
            "UPDATE payouts_payable SET settled_at = now() WHERE id = ANY(%s)",
            [[p[0] for p in payables]],
        )
        _run_settled_callbacks(sorted(by_assignment))
    return len(payables)
