"""Verify every ledger invariant with SQL; exit non-zero naming each violation.

    python manage.py ledger_check

Checks (see ``payouts.ledger.CHECKS``): every transaction balanced and with at least two
entries, every balance equal to the sum of its entries, no negative balance where
forbidden, idempotency keys unique, no zero-amount entry, reversals the exact negation
of what they reverse, all balances summing to zero. Run it from cron or after a restore.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from payouts.checks import record_check_run
from payouts.ledger import CHECKS, ledger_violations
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction


class Command(BaseCommand):
    help = "Verify the ledger's invariants; exit 1 listing each violation by name."

    def handle(self, *args, **options):
        fresh = not connection.in_atomic_block
        with transaction.atomic():
            if fresh:
                # One snapshot for every check, so a post committing between two queries
                # cannot look like a mismatch. Only possible as the transaction's first
                # statement, i.e. when not called inside someone else's transaction.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            violations = ledger_violations()
            counts = (
                LedgerAccount.objects.count(),
                LedgerTransaction.objects.count(),
                LedgerEntry.objects.count(),
            )
        if violations:
            for violation in violations:
                self.stderr.write(f"VIOLATION {violation}")
            record_check_run(
                name="ledger_check",
                ok=False,
                problems=len(violations),
                summary="\n".join(str(v) for v in violations),
            )
            raise CommandError(f"ledger_check found {len(violations)} violation(s); see above")
        summary = (
            f"OK: all {len(CHECKS)} ledger checks passed "
            f"({counts[0]} accounts, {counts[1]} transactions, {counts[2]} entries)"
        )
        record_check_run(name="ledger_check", ok=True, problems=0, summary=summary)
        self.stdout.write(summary)
