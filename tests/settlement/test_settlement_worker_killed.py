"""A real Celery worker SIGKILLed in the middle of a settlement batch, then restarted:
every approved assignment ends settled exactly once.

Determinism without sleeps: a second database connection holds every revenue shard so the job stops right after taking its payables; then a third takes
the batch's counter rows and the second releases the shards, so the job writes its ledger
transactions and entries and stops again in the settled-callback (which updates the
counters). Only then is the worker killed, with its batch written but not committed.
"""

from __future__ import annotations

import os
import signal
import subprocess

import psycopg
import pytest
from django.db import connection, transaction

from marketplace.celery import solo_worker_argv
from payouts import ledger, settlement
from payouts.jobs import settle_payables
from payouts.models import LedgerTransaction, Payable
from tasks.models import Assignment
from tests.fixtures.celery_worker import ROOT, database_url_for_current_connection
from tests.settlement.helpers import approved_many
from tests.tasks.conftest import published

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _blocked_on(side: psycopg.Connection, table: str) -> bool:
    # pg_stat_activity is snapshotted once per transaction: take a fresh look each time.
    side.execute("SELECT pg_stat_clear_snapshot()")
    row = side.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        " AND wait_event_type = 'Lock' AND query ILIKE %s",
        [f"%{table}%"],
    ).fetchone()
    return bool(row and row[0])


def test_worker_killed_mid_batch_then_restarted_settles_each_once(celery_worker, tmp_path):
    from django.conf import settings

    requester_batch = published(_requester(), tasks=12, assignments_per_task=1)
    escrow = ledger.batch_escrow_account(requester_batch.pk)
    escrow_before = escrow.balance_cents
    with transaction.atomic(), connection.cursor() as cursor:
        settlement._ensure_revenue_shards(cursor)
    side = psycopg.connect(database_url_for_current_connection())
    shards = side.execute(
        "SELECT id FROM payouts_ledgeraccount WHERE kind = 'platform_revenue'"
        " AND ref LIKE 'shard:%' FOR UPDATE"
    ).fetchall()
    assert len(shards) == settlement.revenue_shards()

    done = approved_many(requester_batch, 10)  # each commit enqueues settle_payables
    celery_worker.wait_for(lambda: _blocked_on(side, "payouts_ledgeraccount"), timeout=60)
    counters = psycopg.connect(database_url_for_current_connection())
    counters.execute(
        "SELECT slot FROM marketplace_batchcounter WHERE batch_id = %s FOR UPDATE",
        [requester_batch.pk],
    )
    side.execute("ROLLBACK")  # the shards are free: the job writes its batch now
    celery_worker.wait_for(lambda: _blocked_on(side, "marketplace_batchcounter"), timeout=60)
    assert _blocked_on(side, "marketplace_batchcounter")

    os.kill(celery_worker.proc.pid, signal.SIGKILL)
    celery_worker.proc.wait(timeout=30)
    counters.rollback()
    counters.close()
    side.close()
    # The killed batch left nothing behind.
    assert not LedgerTransaction.objects.filter(kind="settle").exists()
    assert Payable.objects.filter(settled_at__isnull=True).count() == 10

    # Restart a worker on the same queue; beat's sweep sends the job again.
    log = open(tmp_path / "restarted.log", "wb")  # noqa: SIM115 - closed below
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.test",
        "DATABASE_URL": database_url_for_current_connection(),
        "CELERY_QUEUE": celery_worker.queue,
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        solo_worker_argv(celery_worker.queue),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    celery_worker.proc = proc
    celery_worker.log_path = tmp_path / "restarted.log"
    try:
        assert settings.CELERY_TASK_DEFAULT_QUEUE == celery_worker.queue
        settle_payables.delay()
        celery_worker.wait_for(
            lambda: not Payable.objects.filter(settled_at__isnull=True).exists(), timeout=90
        )
    finally:
        log.close()

    for a in done:
        assert LedgerTransaction.objects.filter(idempotency_key=f"settle-{a.pk}").count() == 1
        assert Assignment.objects.get(pk=a.pk).settled_at is not None
    workers = {a.worker_id: a for a in done}
    for a in workers.values():
        assert ledger.worker_account(a.worker).balance_cents == sum(
            x.reward_cents for x in done if x.worker_id == a.worker_id
        )
    cost = sum(a.reward_cents + a.fee_cents for a in done)
    assert ledger.balance_cents(escrow) == escrow_before - cost
    assert ledger.ledger_violations() == []


def _requester():
    from tests.fixtures.users import RequesterFactory

    return RequesterFactory()
