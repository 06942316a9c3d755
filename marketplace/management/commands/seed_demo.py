"""``manage.py seed_demo``: demo accounts and, as features land, demo data for each.

Idempotent: running it twice changes nothing. Users are looked up by email; a
password is set only when the user is created, so a demo user who changed theirs
keeps it. Requesters are funded through the real Checkout path (the simulator).
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from marketplace.demo import seed_requester_demo
from marketplace.demo_accounts import (
    DEMO_FUNDING_CENTS,
    DEMO_PASSWORD,
    DEMO_USERS,
    DEMO_WITHDRAWAL_CENTS,
    DEMO_WITHDRAWING_WORKER,
    DemoRefused,
    ensure_demo_user,
    refuse_outside_development,
)
from payouts import demo as payouts_demo


class Command(BaseCommand):
    help = "Create the demo accounts and data (safe to run repeatedly)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")
        parser.add_argument(
            "--stripe-timeout",
            type=float,
            default=30.0,
            help="Seconds to wait for the Stripe simulator to answer.",
        )

    def handle(self, *args, quiet=False, stripe_timeout=30.0, **options):
        try:
            refuse_outside_development()
        except DemoRefused as exc:
            raise CommandError(f"seed_demo refused: {exc}") from None
        with transaction.atomic():
            moderators, _ = Group.objects.get_or_create(name="moderators")
            users = {}
            created = 0
            for spec in DEMO_USERS:
                user, was_created = ensure_demo_user(spec)
                users[spec["email"]] = user
                created += was_created
                if spec.get("moderator"):
                    user.groups.add(moderators)
        self._say(
            quiet,
            f"seed_demo: {created} demo users created, {len(DEMO_USERS) - created} already present",
        )

        requesters = [u for u in users.values() if u.is_requester]
        if not settings.STRIPE_SIMULATED:
            self._say(quiet, "seed_demo: real Stripe keys set; demo requesters are not funded")
        elif not payouts_demo.wait_for_stripe(stripe_timeout):
            self.stderr.write(
                f"seed_demo: the Stripe simulator at {settings.STRIPE_API_BASE} does not answer; "
                "demo requesters not funded (run `manage.py stripe_simulator`, then seed_demo again)"
            )
        else:
            for user in requesters:
                deposit = payouts_demo.fund_demo_requester(
                    user=user, amount_cents=DEMO_FUNDING_CENTS, site_url=settings.SITE_URL
                )
                self._say(
                    quiet,
                    f"seed_demo: {user.email} funded via Checkout: {deposit.status if deposit else '-'}",
                )
        batches = seed_requester_demo(requesters)
        published = sum(1 for b in batches if b.status == "published")
        self._say(quiet, f"seed_demo: {len(batches)} demo batches ({published} published)")
        if apps.is_installed("tasks"):
            # The worker side's demo history (looked up by name: marketplace does not
            # import the worker side).
            workers = [u for u in users.values() if u.is_worker]
            made = import_module("tasks.demo").seed_worker_history(
                workers=workers, requesters=requesters
            )
            self._say(quiet, f"seed_demo: {made} past assignments for the demo workers")
            # Review demo (approved, rejected, bonused work): tasks' command, called by name
            # because marketplace never imports tasks.
            call_command("seed_review_demo", quiet=quiet, stdout=self.stdout)
        if settings.STRIPE_SIMULATED and payouts_demo.wait_for_stripe(stripe_timeout):
            # Withdrawn money: worker1 connects a payout account and withdraws $1.00.
            worker = users.get(DEMO_WITHDRAWING_WORKER)
            withdrawal = worker and payouts_demo.demo_withdrawal(
                worker=worker, amount_cents=DEMO_WITHDRAWAL_CENTS, site_url=settings.SITE_URL
            )
            self._say(
                quiet,
                f"seed_demo: {DEMO_WITHDRAWING_WORKER} withdrawal: "
                f"{withdrawal.status if withdrawal else '-'}",
            )
        self._say(quiet, f"demo password for every account: {DEMO_PASSWORD}")

    def _say(self, quiet: bool, line: str) -> None:
        if not quiet:
            self.stdout.write(line)
