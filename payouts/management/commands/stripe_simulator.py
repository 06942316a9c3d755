"""``manage.py stripe_simulator``: run the Stripe simulator with this project's
settings (its port from ``STRIPE_API_BASE``, the webhook secret our endpoint checks,
and the webhook URL on ``SITE_URL``), so the two can never disagree."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from payouts.stripe_sim.__main__ import main as simulator_main


class Command(BaseCommand):
    help = "Run the built-in Stripe simulator (development only)."

    def handle(self, *args, **options):
        if not settings.STRIPE_SIMULATED:
            raise CommandError(
                "STRIPE_SECRET_KEY is set: this deployment talks to Stripe, not the simulator"
            )
        base = urlsplit(settings.STRIPE_API_BASE)
        webhook_url = settings.SITE_URL.rstrip("/") + reverse("payouts:stripe_webhook")
        argv = [
            "--host",
            base.hostname or "127.0.0.1",
            "--port",
            str(base.port or settings.STRIPE_SIM_PORT),
            "--webhook-url",
            webhook_url,
            "--webhook-secret",
            settings.STRIPE_WEBHOOK_SECRET,
        ]
        raise SystemExit(simulator_main(argv))
