"""The test suite's ``flush`` (TransactionTestCase empties every table after each
transactional test): as the owner role, opting in to emptying the ledger.

The runtime role the tests run as has no TRUNCATE privilege on any table, and the
ledger's statement triggers refuse TRUNCATE unless the session sets
``fairtask.allow_ledger_truncate``; only this command, installed only in the test
settings, does both. Production's ``manage.py flush`` is Django's: refused on the ledger.
"""

from __future__ import annotations

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from marketplace.db_roles import connected_as_owner


class Command(DjangoFlush):
    def handle(self, **options):
        database = options["database"]
        with connected_as_owner(database):
            with connections[database].cursor() as cursor:
                cursor.execute("SET fairtask.allow_ledger_truncate = 'on'")
            try:
                return super().handle(**options)
            finally:
                with connections[database].cursor() as cursor:
                    cursor.execute("RESET fairtask.allow_ledger_truncate")
