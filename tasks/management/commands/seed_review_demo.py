"""``manage.py seed_review_demo``: approved, rejected and bonused demo work (see
``tasks.demo``); ``seed_demo`` runs it."""

from django.core.management.base import BaseCommand

from tasks.demo import seed_review_demo


class Command(BaseCommand):
    help = "Demo review data: approved, rejected and bonused work (safe to run repeatedly)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, quiet=False, **options):
        line = seed_review_demo()
        if not quiet:
            self.stdout.write(f"seed_demo: review: {line}")
