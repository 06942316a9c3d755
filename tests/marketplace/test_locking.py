"""marketplace.locking: refuses to run outside a transaction, returns the locked rows'
state, and a lock that waits too long becomes a clear "busy" error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from core.errors import ApplicationError
from marketplace import services
from marketplace.locking import WORKER_CLAIMS, lock_batches, lock_keys
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
