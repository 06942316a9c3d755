"""``manage.py seed_demo``: demo accounts (and, as features land, demo data for each).

Idempotent: running it twice changes nothing. Users are looked up by email; a
password is set only when the user is created, so a demo user who changed theirs
keeps it.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from marketplace.demo_accounts import DEMO_PASSWORD, DEMO_USERS, ensure_demo_user


class Command(BaseCommand):
    help = "Create the demo accounts and data (safe to run repeatedly)."

    def handle(self, *args, **options):
        with transaction.atomic():
            moderators, _ = Group.objects.get_or_create(name="moderators")
            created = 0
            for spec in DEMO_USERS:
                user, was_created = ensure_demo_user(spec)
                created += was_created
                if spec.get("moderator"):
                    user.groups.add(moderators)
        self.stdout.write(f"seed_demo: {created} demo users created, {len(DEMO_USERS) - created} already present")
        self.stdout.write(f"demo password for every account: {DEMO_PASSWORD}")
