"""Exactly one Celery beat sends the schedule, however many are started.

Before its first tick, every beat process (``beat_init``, wired in
``marketplace.celery``) takes a PostgreSQL session-level advisory lock on a connection
of its own and keeps that connection open for as long as it runs. A second beat finds
the lock taken and waits, checking again every few seconds: a hot standby. When the
holder stops, or dies, or its connection breaks, PostgreSQL releases the lock and one
waiting beat takes over (the schedule's intervals restart from then; each job is safe
to run early or twice anyway).

A holder that loses its lock connection cannot know whether another beat took over, so
it exits (status 70) and its restart policy brings it back as a waiter. A watchdog
thread checks the connection every ``CHECK_SECONDS`` (15 s), so after a connection cut
the old holder may still send for up to that long while a standby has taken over: the
one window in which two beats send. Every job is safe to run twice.

The lock must be taken on PostgreSQL itself, not through PgBouncer in transaction mode
(session locks do not survive connection reuse there): give beat a direct DATABASE_URL.
Turned off with ``BEAT_LOCK=0`` (then run one beat only).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

# pg_try_advisory_lock(int4, int4): our namespace and the beat's id within it.
LOCK_NAMESPACE = 0x46_54  # "FT"
LOCK_ID = 1
POLL_SECONDS = float(os.environ.get("BEAT_LOCK_POLL_SECONDS", "5"))
CHECK_SECONDS = float(os.environ.get("BEAT_LOCK_CHECK_SECONDS", "15"))
EXIT_LOST_LOCK = 70

_held: dict[str, Any] = {}


def _connect() -> Any:
    import psycopg
    from django.db import connections

    params = dict(connections["default"].get_connection_params())
    params.pop("cursor_factory", None)  # Django's own cursor class
    params["application_name"] = f"fairtask-beat pid={os.getpid()}"
    return psycopg.connect(**params, autocommit=True)


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, LOCK_ID)).fetchone()
    return bool(row and row[0])


def acquire(*, poll_seconds: float = POLL_SECONDS) -> Any:
    """Block until this process holds the beat lock; return the connection holding it.
    Connection errors while waiting are retried (the database may be starting)."""
    waiting_logged = False
    while True:
        try:
            conn = _connect()
        except Exception:  # noqa: BLE001 - database not reachable yet: wait like for the lock
            log.warning("beat lock: database unreachable; retrying in %.0f s", poll_seconds)
            time.sleep(poll_seconds)
            continue
        try:
            while True:
                if _try_lock(conn):
                    log.info("beat lock acquired: this beat sends the schedule")
                    return conn
                if not waiting_logged:
                    log.info("beat lock held by another beat: waiting as a standby")
                    waiting_logged = True
                time.sleep(poll_seconds)
        except Exception:  # noqa: BLE001 - lost the connection while waiting: reconnect
            log.warning("beat lock: connection lost while waiting; reconnecting", exc_info=True)
            conn.close()
            time.sleep(poll_seconds)


def _watch(conn: Any, check_seconds: float) -> None:
    while True:
        time.sleep(check_seconds)
        try:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND classid = %s AND objid = %s",
                (LOCK_NAMESPACE, LOCK_ID),
            ).fetchone()
            still_held = bool(row and row[0])
        except Exception:  # noqa: BLE001
            still_held = False
        if not still_held:
            log.critical(
                "beat lock lost (database connection broken): exiting so that a "
                "restart waits for the lock again"
            )
            logging.shutdown()
            os._exit(EXIT_LOST_LOCK)


def hold(*, check_seconds: float = CHECK_SECONDS) -> None:
    """Acquire the lock (waiting as long as another beat holds it) and watch it."""
    conn = acquire()
    _held["conn"] = conn
    threading.Thread(
        target=_watch, args=(conn, check_seconds), name="beat-lock-watchdog", daemon=True
    ).start()
