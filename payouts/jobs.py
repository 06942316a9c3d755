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
