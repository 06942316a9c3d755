"""``manage.py stripe_simulator``: run the Stripe simulator with this project's
settings, so the two can never disagree: its port from ``STRIPE_API_BASE``, the
secret key it accepts (``STRIPE_SECRET_KEY``: one account), and the two webhook
endpoints configured as one would in Stripe's dashboard: the account endpoint
(``/payouts/stripe/webhook/``, ``STRIPE_WEBHOOK_SECRET``) and the Connect endpoint
(``/payouts/stripe/connect-webhook/``, ``STRIPE_CONNECT_WEBHOOK_SECRET``), on
``SITE_URL``. Stripe's card fee and pending funds are on; the state is kept in
``var/stripe-sim/state.json`` across restarts."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from payouts.stripe_gateway import webhook_secrets
from payouts.stripe_sim.__main__ import main as simulator_main


class Command(BaseCommand):
    help = "Run the built-in Stripe simulator (development only)."

    def handle(self, *args, **options):
        if not settings.STRIPE_SIMULATED:
            raise CommandError(
                "STRIPE_SECRET_KEY is set: this deployment talks to Stripe, not the simulator"
            )
        base = urlsplit(settings.STRIPE_API_BASE)
        site = settings.SITE_URL.rstrip("/")
        # The simulator signs with one secret per endpoint: the first of each list (the
        # others are accepted by our side during a rotation).
        argv = [
            "--host",
            base.hostname or "127.0.0.1",
            "--port",
            str(base.port or settings.STRIPE_SIM_PORT),
            "--api-key",
            settings.STRIPE_SECRET_KEY,
            "--webhook-url",
            site + reverse("payouts:stripe_webhook"),
            "--webhook-secret",
            webhook_secrets()[0],
            "--connect-webhook-url",
            site + reverse("payouts:stripe_connect_webhook"),
            "--connect-webhook-secret",
            webhook_secrets(connect=True)[0],
            "--available-delay",
            str(settings.STRIPE_SIM_AVAILABLE_DELAY),
            "--state",
            str(settings.STRIPE_SIM_STATE),
        ]
        raise SystemExit(simulator_main(argv))
