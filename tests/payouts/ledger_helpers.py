"""Helpers shared by the ledger tests (imported, not fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from payouts.models import LedgerAccount


def balances() -> dict[int, int]:
    """Every account's balance_cents, by pk, read from the database."""
    return dict(LedgerAccount.objects.values_list("pk", "balance_cents"))


def run_deferred_checks() -> None:
    """Fire the deferred constraint triggers now (as COMMIT would), then defer again."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def raw_sql_without(
    *, triggers: tuple[tuple[str, str], ...] = (), constraints: tuple[tuple[str, str], ...] = ()
) -> Iterator:
    """A cursor with some ledger triggers disabled and constraints dropped, to corrupt
    the ledger on purpose inside the test's transaction (the DDL rolls back with it).

    Pending deferred trigger events block ALTER TABLE, so they are fired first."""
    run_deferred_checks()
    with connection.cursor() as cursor:
        for table, trigger in triggers:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        for table, constraint in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        yield cursor


def nonzero_balances() -> dict[int, int]:
    """Like ``balances()`` without accounts at 0 (creating an empty account moves nothing)."""
    return {pk: cents for pk, cents in balances().items() if cents}
