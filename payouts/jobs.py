"""Celery jobs of the payouts app: the scheduled money checks.

``ledger_audit`` runs every ledger audit check and stores the run (``LedgerCheckRun``,
shown on the staff money overview and exposed by /metrics), emailing staff on a
violation. ``reconcile_stripe`` runs the management command an operator would run by
hand; the command records its outcome (``CheckRun``). A failure is logged at ERROR (and
so reaches Sentry when it is configured).
"""

from __future__ import annotations

import io
import logging

from celery import shared_task
from django.core.management import call_command
from django.core.management.base import CommandError

from payouts import audit

log = logging.getLogger(__name__)


@shared_task(name="payouts.jobs.ledger_audit", acks_late=True)
def ledger_audit() -> int:
    """Run every ledger audit check, store the run (``LedgerCheckRun``) and email staff
    on a violation. Scheduled by beat (``LEDGER_AUDIT_INTERVAL`` seconds, see settings).
    Read-only on the ledger, so a retry or a second run only adds a row."""
    return audit.run_and_record(source="schedule").pk


def _run(command: str, *args: str) -> bool:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as exc:
        log.error("%s failed: %s\n%s%s", command, exc, out.getvalue(), err.getvalue())
        return False
    log.info("%s: %s", command, out.getvalue().strip())
    return True


@shared_task(name="payouts.jobs.reconcile_stripe", acks_late=True)
def reconcile_stripe() -> bool:
    # The last two days: a daily run with a day of overlap.
    return _run("reconcile_stripe", "--days", "2")
