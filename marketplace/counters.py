"""Batch progress counters (``BatchCounter``): written by whoever moves an assignment,
in the move's own transaction, so that progress, spend and what escrow still owes are
read from a few rows per batch instead of counted over its assignments.

Why counters stay exact under concurrency: every move updates its counter row in the
move's own transaction, so a committed move is counted and a rolled-back one is not.
Claims and settlements, which bind or free escrow, hold ``FOR SHARE`` on the batch row
(``marketplace.locking``); a cancel or expiry holds ``FOR NO KEY UPDATE`` on it and then
locks every counter row of the batch (``counters_lock``) before it reads ``owed_cents``,
so returns and expiries in flight are waited for too and the amount is exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from django.db import connection

from marketplace.models import COUNTER_SLOTS, BatchCounter

COUNTER_FIELDS = (
    "accepted",
    "submitted",
    "approved",
    "rejected",
    "returned",
    "expired",
    "owed_cents",
    "spend_cents",
    "work_seconds",
)


def counters_create(*, batch_id: int) -> None:
    """The batch's counter rows (all zero); done at publish. Safe to repeat."""
    BatchCounter.objects.bulk_create(
        [BatchCounter(batch_id=batch_id, slot=s) for s in range(COUNTER_SLOTS)],
        ignore_conflicts=True,
    )


def _changes(deltas: Mapping[str, int]) -> dict[str, int]:
    changes = {k: int(v) for k, v in deltas.items() if v}
    unknown = set(changes) - set(COUNTER_FIELDS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    return changes


def random_slot() -> int:
    return random.randrange(COUNTER_SLOTS)  # noqa: S311 - spreading, not secrecy


def counters_add(*, batch_id: int, deltas: Mapping[str, int], slot: int | None = None) -> None:
    """Add ``deltas`` (counter field -> amount) to one counter row of the batch (a
    random slot unless given). Must run in the transaction of the move it counts; the
    row stays locked until that transaction ends. RuntimeError if the batch has no
    counter rows (it was never published: nothing can move there)."""
    if not connection.in_atomic_block:
        raise RuntimeError("counters_add must run inside the move's transaction")
    changes = _changes(deltas)
    if not changes:
        return
    slot = random_slot() if slot is None else slot
    sets = ", ".join(f"{k} = {k} + %s" for k in changes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE marketplace_batchcounter SET {sets} WHERE batch_id = %s AND slot = %s",  # noqa: S608 - names checked above
            [*changes.values(), batch_id, slot],
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"batch {batch_id} has no counter rows")


def counters_add_sql(*, deltas: Mapping[str, int]) -> tuple[str, dict[str, int]]:
    """``counters_add`` as SQL, for a move written as one statement (the counter update
    is a data-modifying CTE after the move it counts, so it commits or rolls back with
    it): ``UPDATE marketplace_batchcounter SET ... WHERE batch_id = %(batch)s AND slot =
    %(slot)s`` (the caller binds ``batch`` and ``slot``, e.g. ``random_slot()``, and may
    append conditions) and the parameters of the deltas. The caller checks that it
    updated one row."""
    changes = _changes(deltas)
    if not changes:
        raise ValueError("no counter changes")
    sets = ", ".join(f"{k} = {k} + %(counter_{k})s" for k in changes)
    return (
        f"UPDATE marketplace_batchcounter SET {sets} WHERE batch_id = %(batch)s AND slot = %(slot)s",  # noqa: S608 - names checked above
        {f"counter_{k}": v for k, v in changes.items()},
    )


def counters_lock(*, batch_id: int) -> None:
    """Lock every counter row of the batch (slot order) until the transaction ends: no
    claim, return, expiry or settlement of the batch can commit a move meanwhile."""
    if not connection.in_atomic_block:
        raise RuntimeError("counters_lock must run inside transaction.atomic")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT slot FROM marketplace_batchcounter WHERE batch_id = %s ORDER BY slot FOR UPDATE",
            [batch_id],
        )


def counter_sums(batch_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Summed counters per batch id (batches without rows are absent)."""
    ids = list(batch_ids)
    if not ids:
        return {}
    cols = ", ".join(f"SUM({f})" for f in COUNTER_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT batch_id, {cols} FROM marketplace_batchcounter "  # noqa: S608 - constant names
            "WHERE batch_id = ANY(%s) GROUP BY batch_id",
            [ids],
        )
        return {
            row[0]: {f: int(v or 0) for f, v in zip(COUNTER_FIELDS, row[1:], strict=True)}
            for row in cursor.fetchall()
        }


def owed_cents(*, batch_id: int) -> int:
    """Reward + fee still bound in the batch's escrow by work in progress or unsettled
    review (summed counters)."""
    return counter_sums([batch_id]).get(batch_id, {}).get("owed_cents", 0)


__all__ = [
    "COUNTER_FIELDS",
    "counter_sums",
    "counters_add",
    "counters_add_sql",
    "counters_create",
    "counters_lock",
    "owed_cents",
    "random_slot",
]
