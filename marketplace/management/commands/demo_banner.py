"""Prints the address and the demo logins at the start of ``make run``."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from marketplace.demo_accounts import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Print where the marketplace is served and the demo logins."

    def handle(self, *args, **options):
        port = os.environ.get("PORT", "8000")
        lines = [
            "",
            "=" * 64,
            f"  Fairtask is starting at  http://127.0.0.1:{port}/",
            f"  Health:                  http://127.0.0.1:{port}/healthz",
            "  Demo logins (password for all: " + DEMO_PASSWORD + "):",
        ]
        for spec in DEMO_USERS:
            roles = (
                ", ".join(str(r) for r in spec.get("roles", ()))
                or "admin + moderator (sets up TOTP at first login)"
            )
            lines.append(f"    {spec['email']:<26} {roles}")
        lines += ["  Stop everything with Ctrl-C.", "=" * 64, ""]
        self.stdout.write("\n".join(lines))
