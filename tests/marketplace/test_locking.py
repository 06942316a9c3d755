"""marketplace.locking: refuses to run outside a transaction, returns the locked rows'
state, and a lock that waits too long becomes a clear "busy" error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from core.errors import ApplicationError
from marketplace import services
from marketplace.locking import WORKER_CLAIMS, lock_batches, lock_keys, run_locked
from tests.fixtures.users import RequesterFactory
from tests.marketplace.conftest import csv_bytes, fund, make_project, upload


@pytest.mark.django_db(transaction=True)
def test_locks_refuse_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        lock_batches(shared=[1])
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        lock_keys(WORKER_CLAIMS, [1])


@pytest.mark.django_db
def test_lock_batches_returns_the_state_under_the_lock(draft):
    with transaction.atomic():
        states = lock_batches(shared=[draft.pk, 10**9], keys=(WORKER_CLAIMS, [7, 3]))
    assert list(states) == [draft.pk]
    assert (states[draft.pk].status, states[draft.pk].expires_at) == ("draft", None)
    with transaction.atomic():
        assert lock_batches(exclusive=[draft.pk], shared=[draft.pk])[draft.pk].status == "draft"
        assert lock_batches() == {}


@pytest.mark.django_db(transaction=True)
def test_a_lock_held_too_long_is_a_busy_error_and_changes_nothing(settings, tmp_path):
    settings.FAIRTASK_UPLOAD_DIR = tmp_path
    settings.FAIRTASK_LOCK_TIMEOUT_MS = 200
    requester = RequesterFactory()
    fund(requester, 10_000)
    batch = services.batch_publish(
        batch=upload(make_project(requester), requester, csv_bytes(3)), user=requester
    )
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                lock_batches(shared=[batch.pk])  # a claim in flight
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(ApplicationError) as info:
            services.batch_pause(batch=batch, user=requester)
        assert (info.value.code, info.value.status) == ("busy", 503)
        assert (
            info.value.message
            == "Someone else is changing this right now; please try again in a moment."
        )
    finally:
        release.set()
        holder.join()
    batch.refresh_from_db()
    assert batch.status == "published"
    assert services.batch_pause(batch=batch, user=requester).status == "paused"


_MY_LOCKS = (
    "SELECT locktype, mode FROM pg_locks WHERE pid = pg_backend_pid() AND granted"
    " AND (locktype = 'advisory' OR (locktype = 'relation' AND relation = %s::regclass))"
    " ORDER BY 1"
)


@pytest.mark.django_db(transaction=True)
def test_run_locked_holds_its_locks_for_its_statement_only(settings, tmp_path):
    """Outside atomic the message is one transaction: the statement runs under the
    worker key and the batch share lock, which are gone once it returns; a batch locked
    for a status move makes it wait, then fail as busy."""
    settings.FAIRTASK_UPLOAD_DIR = tmp_path
    settings.FAIRTASK_LOCK_TIMEOUT_MS = 200
    requester = RequesterFactory()
    fund(requester, 10_000)
    batch = services.batch_publish(
        batch=upload(make_project(requester), requester, csv_bytes(3)), user=requester
    )
    assert connection.get_autocommit()
    locked, rows = run_locked(
        sql=_MY_LOCKS, params=["marketplace_batch"], shared=[batch.pk], keys=(WORKER_CLAIMS, [5])
    )
    assert (locked[batch.pk].status, rows) == (
        "published",
        [("advisory", "ExclusiveLock"), ("relation", "RowShareLock")],
    )
    with connection.cursor() as cursor:
        cursor.execute(_MY_LOCKS, ["marketplace_batch"])
        assert cursor.fetchall() == []
    held, release = threading.Event(), threading.Event()

    def pause_in_flight():
        try:
            with transaction.atomic():
                lock_batches(exclusive=[batch.pk])
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=pause_in_flight)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(ApplicationError) as info:
            run_locked(sql="SELECT 1", shared=[batch.pk])
        assert (info.value.code, info.value.status) == ("busy", 503)
    finally:
        release.set()
        holder.join()
    assert run_locked(sql="SELECT 1", shared=[batch.pk])[1] == [(1,)]
