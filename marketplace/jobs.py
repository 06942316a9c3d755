"""Celery jobs of the marketplace app."""

from __future__ import annotations

import socket

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from marketplace.models import BATCH_CLOSED_STATUSES, Batch, WorkerHeartbeat
from marketplace.selectors import due_for_expiry, stale_imports
from marketplace.services import (
    batch_expire,
    batch_import,
    batch_import_abandon,
    batch_release_remaining,
    listing_refresh,
)
from marketplace.services.batches import run_for_each


@shared_task(name="marketplace.jobs.heartbeat", acks_late=True)
def heartbeat(hostname: str | None = None) -> str:
    """Record that a worker ran a job just now (beat runs this every 30 s)."""
    host = hostname or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(hostname=host, defaults={"last_seen": timezone.now()})
    return host


# --- Requester side (issue 4) ----------------------------------------------------------


@shared_task(
    name="marketplace.jobs.import_batch",
    acks_late=True,
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    # A 50 MB file imports in well under a minute (docs/performance.md); the limits only
    # stop a runaway. The soft one raises inside the job, which then marks the batch failed.
    soft_time_limit=900,
    time_limit=960,
)
def import_batch(self, batch_id: int) -> str:  # noqa: ANN001 - Celery's bound task
    """Import an uploaded batch file (``batch_import``). Safe to run twice: a batch no
    longer ``importing`` is left alone, and a crash mid-import rolled everything back.
    Database outages are retried with backoff; when the retries are used up, or on an
    unexpected error, the batch is marked failed so that it does not stay ``importing``
    forever, and the error is re-raised for the logs."""
    try:
        batch = batch_import(batch_id=batch_id)
    except (OperationalError, InterfaceError):
        if self.request.retries >= self.max_retries:
            batch_import_abandon(
                batch_id=batch_id,
                message="The import could not reach the database; please upload the file again.",
            )
        raise
    except Exception:
        batch_import_abandon(
            batch_id=batch_id,
            message="The import stopped because of an internal error; please upload the file again.",
        )
        raise
    return batch.status if batch is not None else "missing"


@shared_task(name="marketplace.jobs.expire_batches", acks_late=True)
def expire_batches() -> dict[str, int]:
    """Batch housekeeping, run by beat every minute: expire live batches past their
    lifetime (returning their unused escrow), return what closed batches have left in
    escrow once no work is owed anything, and re-enqueue imports that never ran. Safe
    to run twice or concurrently (every batch is re-checked under its row lock, the
    ledger keys make each release happen once, an import runs once per batch)."""
    requeued = 0
    for pk in stale_imports():
        import_batch.delay(pk)
        requeued += 1

    now = timezone.now()
    expired = run_for_each(
        due_for_expiry(now=now), lambda pk: batch_expire(batch_id=pk, now=now), what="expiry"
    )
    # Closed batches whose escrow still holds money (work in progress at the close).
    leftovers = list(
        Batch.objects.filter(status__in=BATCH_CLOSED_STATUSES, escrow_settled_at__isnull=True)
        .order_by("closed_at", "pk")
        .values_list("pk", flat=True)[:1000]
    )
    checked = run_for_each(
        leftovers, lambda pk: batch_release_remaining(batch_id=pk), what="final release"
    )
    return {"expired": expired, "final_checks": checked, "imports_requeued": requeued}


@shared_task(name="marketplace.jobs.refresh_listings", acks_late=True)
def refresh_listings() -> int:
    """Recompute every task-browser card's open work (beat, every 30 s): claims,
    returns and expiries change what is left between batch moves. Safe to run twice."""
    return listing_refresh()
