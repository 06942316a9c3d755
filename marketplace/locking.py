"""The one way to take row and key locks across apps (modelled on pretix's
``lock_objects``).

* ``lock_batches(exclusive=[...], shared=[...])`` locks batch rows: ``FOR NO KEY
  UPDATE`` for status moves (publish, pause, resume, cancel, expiry), ``FOR SHARE`` for
  readers that must see a status nobody changes before they commit.
* ``lock_keys(namespace, keys)`` takes transaction-scoped advisory locks (e.g. one per
  worker, so that one worker's concurrent claims count their holdings one at a time).

Every function here:

* refuses to run outside ``transaction.atomic`` (a lock taken in autocommit mode is
  released at once and protects nothing): ``RuntimeError``;
* takes its keys in ascending order, so two callers locking overlapping sets cannot
  deadlock; a key asked for in both modes is locked exclusively;
* sets ``lock_timeout`` for the rest of the transaction (``FAIRTASK_LOCK_TIMEOUT_MS``,
  default 5000) so that nobody queues for ever behind a stuck transaction, and turns a
  timeout into ``ApplicationError`` (code ``busy``, status 503, "try again"). The
  transaction is then aborted: let the error propagate out of ``atomic``.

One exception to the first rule, for the hottest path (the claim): ``run_locked`` sends
the locks *and* the statements they protect as one simple-query message. Outside
``atomic`` PostgreSQL runs such a message as one implicit transaction, so the locks
are held from before the first protected statement until that transaction commits,
which is all a lock is for; it saves the round trips of BEGIN and COMMIT and of the
locks on their own. Each statement of the message takes a fresh snapshot (READ
COMMITTED), so a statement after a lock sees what committed before the lock was granted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import OperationalError, connection

from core.errors import ApplicationError

# PostgreSQL's SQLSTATE for lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"

# Advisory-lock namespaces (first int of pg_advisory_xact_lock(int, int)).
WORKER_CLAIMS = 0x46540010


def busy_error() -> ApplicationError:
    return ApplicationError(
        "Someone else is changing this right now; please try again in a moment.",
        code="busy",
        status=503,
    )


def _require_atomic() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("locks must be taken inside transaction.atomic")


def _timeout_sql() -> str:
    ms = int(getattr(settings, "FAIRTASK_LOCK_TIMEOUT_MS", 5000))
    return f"SET LOCAL lock_timeout = {max(ms, 1)}"


def _run(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[list[tuple]]:
    """Run ``sql`` (ids already validated as ints: simple-query protocol, one round
    trip for the timeout and the locks), mapping a lock timeout to ``busy``. Returns
    the rows of each statement that returns rows, in order."""
    results: list[list[tuple]] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or None)
            raw = cursor.cursor  # psycopg's cursor: one result set per statement
            while True:
                if raw.description is not None:
                    results.append(raw.fetchall())
                if not raw.nextset():
                    break
        return results
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise busy_error() from exc
        raise


def _ids(values: Iterable[int]) -> set[int]:
    return {int(v) for v in values}


class LockedBatch(NamedTuple):
    """A locked batch row's state as of the lock (what a caller checks under it)."""

    id: int
    status: str
    expires_at: datetime | None


def lock_batches(
    *,
    exclusive: Iterable[int] = (),
    shared: Iterable[int] = (),
    keys: tuple[int, Iterable[int]] | None = None,
) -> dict[int, LockedBatch]:
    """Lock batch rows by id until the transaction ends, in ascending id order, and
    return their status and ``expires_at`` as read under the lock (one round trip).
    ``exclusive``: ``FOR NO KEY UPDATE`` (does not conflict with the ``FOR KEY SHARE``
    that inserting tasks takes through the foreign key); ``shared``: ``FOR SHARE``.
    ``keys=(namespace, ids)``: advisory keys (``lock_keys``) taken first, before any
    row, in the same round trip. Ids that do not exist are absent from the result."""
    _require_atomic()
    ex = _ids(exclusive)
    sh = _ids(shared) - ex
    statements = [_timeout_sql()]
    if keys is not None:
        statements.append(_keys_sql(*keys))
    if not ex and not sh:
        if keys is not None:
            _run("; ".join(statements))
        return {}
    # Consecutive runs of one mode, in id order: the overall order stays ascending.
    run: list[int] = []
    mode = ""
    for pk in sorted(ex | sh):
        m = "NO KEY UPDATE" if pk in ex else "SHARE"
        if run and m != mode:
            statements.append(_batch_lock_sql(run, mode))
            run = []
        run.append(pk)
        mode = m
    statements.append(_batch_lock_sql(run, mode))
    results = _run("; ".join(statements))
    if keys is not None:
        results = results[1:]  # the advisory locks' row
    return {row[0]: LockedBatch(*row) for rows in results for row in rows}


def _batch_lock_sql(ids: list[int], mode: str) -> str:
    id_list = ",".join(str(i) for i in ids)
    return f"SELECT id, status, expires_at FROM marketplace_batch WHERE id IN ({id_list}) ORDER BY id FOR {mode}"  # noqa: S608 - ints


def run_locked(
    *,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    shared: Iterable[int] = (),
    keys: tuple[int, Iterable[int]] | None = None,
) -> tuple[dict[int, LockedBatch], list[tuple]]:
    """One round trip: the advisory ``keys`` (as ``lock_keys``), ``FOR SHARE`` on the
    ``shared`` batch rows (as ``lock_batches``), then ``sql`` (one statement, with
    ``params``), all in one message and so in one transaction: the caller's when inside
    ``atomic`` (the locks then last until it ends), else the message's own implicit
    one, committed when ``sql`` has run. Returns the locked batches' state and the rows
    ``sql`` returned. A lock timeout is ``busy`` (503); any error rolls the message's
    transaction back (outside ``atomic``) or aborts the caller's."""
    statements = [_timeout_sql()]
    if keys is not None:
        statements.append(_keys_sql(*keys))
    batch_ids = sorted(_ids(shared))
    if batch_ids:
        statements.append(_batch_lock_sql(batch_ids, "SHARE"))
    statements.append(sql)
    results = _run("; ".join(statements), params)
    if keys is not None:
        results = results[1:]
    locked: dict[int, LockedBatch] = {}
    if batch_ids:
        locked = {row[0]: LockedBatch(*row) for row in results[0]}
        results = results[1:]
    return locked, results[0] if results else []


def lock_keys(namespace: int, keys: Iterable[int]) -> None:
    """Transaction-scoped advisory locks ``(namespace, key)``, in ascending key order."""
    _require_atomic()
    _run(f"{_timeout_sql()}; {_keys_sql(namespace, keys)}")


def _keys_sql(namespace: int, keys: Iterable[int]) -> str:
    # int4 keys: ids beyond 2^31 wrap (two keys sharing a lock only wait more, never less).
    ordered = sorted({int(k) % 2_147_483_647 for k in keys})
    if not ordered:
        return "SELECT 1"
    locks = ", ".join(f"pg_advisory_xact_lock({int(namespace)}, {k})" for k in ordered)
    return f"SELECT {locks}"


__all__ = ["WORKER_CLAIMS", "LockedBatch", "busy_error", "lock_batches", "lock_keys", "run_locked"]
