"""Celery jobs of the payouts app."""

from __future__ import annotations

from celery import shared_task

from payouts import audit


@shared_task(name="payouts.jobs.ledger_audit", acks_late=True)
def ledger_audit() -> int:
    """Run every ledger audit check, store the run (``LedgerCheckRun``) and email staff
    on a violation. Scheduled by beat (``LEDGER_AUDIT_INTERVAL`` seconds, see settings).
    Read-only on the ledger, so a retry or a second run only adds a row."""
    return audit.run_and_record(source="schedule").pk


@shared_task(name="payouts.jobs.settle_payables", acks_late=True)
def settle_payables() -> int:
    """Settle every unsettled payable (``payouts.settlement.settle_pending``). Enqueued
    when an approval commits and swept by beat. ``acks_late``: a worker killed
    mid-batch leaves the job on the queue, its uncommitted chunk rolled back, and the
    next run settles it; chunks are taken with ``SKIP LOCKED`` so runs at once share the
    work and never settle an assignment twice."""
    from payouts import settlement

    return settlement.settle_pending()
