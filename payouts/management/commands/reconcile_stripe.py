from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payouts.checks import record_check_run
from payouts.reconcile import reconcile_deposits


class Command(BaseCommand):
    help = "Compare deposits with the Stripe side; list each difference and exit 1 if there is any."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="Only sessions of the last N days."
        )

    def handle(self, *args, days=None, **options):
        since = timezone.now() - timedelta(days=days) if days else None
        checked, differences = reconcile_deposits(since=since)
        for difference in differences:
            self.stdout.write(str(difference))
        record_check_run(
            name="reconcile_stripe",
            ok=not differences,
            problems=len(differences),
            summary="\n".join(str(d) for d in differences) or f"{checked} sessions checked",
        )
        if differences:
            raise CommandError(
                f"{len(differences)} difference(s) between Fairtask and Stripe ({checked} sessions checked)"
            )
        self.stdout.write(
            f"reconcile_stripe: OK, {checked} Stripe sessions checked, no differences"
        )
