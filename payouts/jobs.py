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


@shared_task(name="payouts.jobs.settle_payables", acks_late=True)
def settle_payables() -> int:
    """Settle every unsettled payable (``payouts.settlement.settle_pending``). Enqueued
    when an approval commits and swept by beat. ``acks_late``: a worker killed
    mid-batch leaves the job on the queue, its uncommitted chunk rolled back, and the
    next run settles it; chunks are taken with ``SKIP LOCKED`` so runs at once share the
    work and never settle an assignment twice."""
    from payouts import settlement

    return settlement.settle_pending()


@shared_task(
    name="payouts.jobs.withdrawal_transfer",
    bind=True,
    acks_late=True,
    max_retries=None,
)
def withdrawal_transfer(self, withdrawal_id: int) -> str:  # type: ignore[no-untyped-def]
    """Make a requested withdrawal's Stripe transfer (``withdrawals.withdrawal_transfer``).
    Stripe's available balance short (pending card funds): retried in
    ``WITHDRAWAL_PENDING_RETRY`` seconds; a Stripe error or no answer: retried with
    backoff, with the same idempotency key, so Stripe makes one transfer."""
    import stripe
    from django.conf import settings

    from payouts import withdrawals

    try:
        return withdrawals.withdrawal_transfer(withdrawal_id=withdrawal_id)
    except withdrawals.StripeBalancePending as exc:
        raise self.retry(exc=exc, countdown=settings.WITHDRAWAL_PENDING_RETRY) from exc
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


@shared_task(name="payouts.jobs.withdrawals_reconcile", acks_late=True)
def withdrawals_reconcile() -> int:
    """Bring in-flight withdrawals in line with Stripe's transfers (beat)."""
    from payouts import withdrawals

    return withdrawals.withdrawals_reconcile()
