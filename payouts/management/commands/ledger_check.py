"""Verify the ledger with every registered audit check; name each check and each
violation; exit 1 on any violation.

    python manage.py ledger_check [--record]

The checks (``payouts.audit``; other apps add theirs, e.g. ``marketplace`` checks escrow
against batches): the ledger's own invariants (balanced, balances equal their entries, no
forbidden negative, unique keys, reversals, each transaction kind's shape, the database
triggers all present and ENABLE ALWAYS) and the ledger against other records (deposit
transactions against completed Deposits, Stripe clearing against deposits, escrow
against batches). One REPEATABLE READ snapshot for all of them. ``--record`` stores the
run (as the scheduled ``ledger_audit`` job does) and emails staff on a violation.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from payouts import audit


class Command(BaseCommand):
    help = "Run every ledger audit check by name; exit 1 listing each violation."

    def add_arguments(self, parser):
        parser.add_argument(
            "--record",
            action="store_true",
            help="store the run (shown on the staff money page) and email staff on a violation",
        )

    def handle(self, *args, **options):
        if options["record"]:
            stored = audit.run_and_record(source="command")
            result_violations = [
                audit.Violation(v["check"], v["detail"]) for v in stored.violations
            ]
            by_check = {c.name: 0 for c in audit.registered()}
            for v in result_violations:
                by_check[v.name] = by_check.get(v.name, 0) + 1
            counts = (stored.accounts, stored.transactions, stored.entries)
            total = stored.violation_count
        else:
            result = audit.run()
            result_violations, by_check = result.violations, result.by_check
            counts = (result.accounts, result.transactions, result.entries)
            total = len(result.violations)
        for check in audit.registered():
            found = by_check.get(check.name, 0)
            status = "ok  " if not found else "FAIL"
            suffix = "" if not found else f" ({found} violation{'s' if found != 1 else ''})"
            self.stdout.write(f"{status} {check.name}: {check.description}{suffix}")
        if total:
            for violation in result_violations:
                self.stderr.write(f"VIOLATION {violation}")
            raise CommandError(f"ledger_check found {total} violation(s); see above")
        self.stdout.write(
            f"OK: all {len(by_check)} ledger checks passed "
            f"({counts[0]} accounts, {counts[1]} transactions, {counts[2]} entries)"
        )
