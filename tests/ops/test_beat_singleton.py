"""Two Celery beat processes, one schedule: the second waits as a standby while the
first holds the PostgreSQL advisory lock, and takes over when the first stops.

Real processes (``celery -A marketplace beat``) on the test database and the suite's
broker, with a queue of their own so that nothing they send reaches another worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from marketplace import beat_lock
from tests.fixtures.celery_worker import database_url_for_current_connection
from tests.fixtures.processes import stop_process
from tests.ops.helpers import ROOT, wait_until


class Beat:
    def __init__(self, name: str, tmp_path: Path, env: dict[str, str]):
        self.log_path = tmp_path / f"beat-{name}.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "marketplace",
                "beat",
                "-l",
                "DEBUG",
                "-s",
                str(tmp_path / f"schedule-{name}"),
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            stdout=open(self.log_path, "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def lock_holders() -> list[str]:
    """application_name of every session holding the beat lock in this database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [beat_lock.LOCK_NAMESPACE, beat_lock.LOCK_ID],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def beats(db, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.test",
        "DATABASE_URL": database_url_for_current_connection(),
        "CELERY_QUEUE": f"test-beat-{uuid.uuid4().hex[:8]}",
        "BEAT_LOCK_POLL_SECONDS": "0.5",
        "BEAT_LOCK_CHECK_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    started: list[Beat] = []

    def start(name: str) -> Beat:
        beat = Beat(name, tmp_path, env)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop()


def test_two_beats_one_scheduler(beats):
    first = beats("a")
    wait_until(
        lambda: "beat lock acquired" in first.log(), what="beat a holding the lock",
        timeout=60, log=first.log,
    )  # fmt: skip
    second = beats("b")
    wait_until(
        lambda: "waiting as a standby" in second.log(), what="beat b waiting",
        timeout=60, log=second.log,
    )  # fmt: skip
    assert lock_holders() == [f"fairtask-beat pid={first.proc.pid}"]
    # The holder runs its scheduler loop; the standby never got to its first tick.
    wait_until(
        lambda: "beat: Waking up" in first.log(), what="beat a ticking", timeout=60, log=first.log
    )
    assert "beat: Waking up" not in second.log()
    assert "Sending due task" not in second.log()
    assert second.proc.poll() is None

    first.stop()
    wait_until(
        lambda: "beat lock acquired" in second.log(), what="beat b taking over",
        timeout=60, log=second.log,
    )  # fmt: skip
    assert lock_holders() == [f"fairtask-beat pid={second.proc.pid}"]
    wait_until(
        lambda: "beat: Waking up" in second.log(), what="beat b ticking", timeout=60, log=second.log
    )


def test_a_holder_that_loses_its_lock_connection_exits_and_the_standby_takes_over(beats):
    first = beats("a")
    wait_until(
        lambda: "beat lock acquired" in first.log(), what="beat a holding the lock",
        timeout=60, log=first.log,
    )  # fmt: skip
    second = beats("b")
    wait_until(
        lambda: "waiting as a standby" in second.log(), what="beat b waiting",
        timeout=60, log=second.log,
    )  # fmt: skip
    # The holder's connection dies (a network cut, a database restart): PostgreSQL
    # releases the lock, so the holder can no longer know it is the only one.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [f"fairtask-beat pid={first.proc.pid}"],
        )
    assert first.proc.wait(timeout=60) == beat_lock.EXIT_LOST_LOCK
    assert "beat lock lost" in first.log()
    wait_until(
        lambda: "beat lock acquired" in second.log(), what="beat b taking over",
        timeout=60, log=second.log,
    )  # fmt: skip
    assert lock_holders() == [f"fairtask-beat pid={second.proc.pid}"]
