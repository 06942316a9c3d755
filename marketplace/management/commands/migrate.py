"""``manage.py migrate`` as the owner role (``DATABASE_OWNER_URL``), whatever role the
application connects as; then the runtime role gets its grants (``post_migrate``, see
``marketplace.db_roles``)."""

from __future__ import annotations

from django.core.management.commands.migrate import Command as DjangoMigrate

from marketplace.db_roles import connected_as_owner


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        with connected_as_owner(options["database"]):
            return super().handle(*args, **options)
