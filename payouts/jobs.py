"""Celery jobs of the payouts app: the scheduled money checks.

Each runs the management command an operator would run by hand; the command records its
outcome (``CheckRun``), which /metrics exposes, and a failure is logged at ERROR (and
so reaches Sentry when it is configured).
"""

from __future__ import annotations

import io
import logging

from celery import shared_task
from django.core.management import call_command
from django.core.management.base import CommandError

log = logging.getLogger(__name__)


def _run(command: str, *args: str) -> bool:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as exc:
        log.error("%s failed: %s\n%s%s", command, exc, out.getvalue(), err.getvalue())
        return False
    log.info("%s: %s", command, out.getvalue().strip())
    return True


@shared_task(name="payouts.jobs.ledger_check", acks_late=True)
def ledger_check() -> bool:
    return _run("ledger_check")


@shared_task(name="payouts.jobs.reconcile_stripe", acks_late=True)
def reconcile_stripe() -> bool:
    # The last two days: a daily run with a day of overlap.
    return _run("reconcile_stripe", "--days", "2")
