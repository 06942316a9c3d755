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


def nonzero_balances() -> dict[int, int]:
    """Like ``balances()`` without accounts at 0 (creating an empty account moves nothing)."""
    return {pk: cents for pk, cents in balances().items() if cents}


@contextmanager
def owner_connection() -> Iterator:
    """A separate connection to the test database as the owner role (who may disable
    triggers and drop constraints), in one transaction committed at the end of the block
    (rolled back on an exception). It sees only what the test has committed: use it from
    transactional tests. Triggers it disables must be re-enabled before the block ends."""
    import psycopg
    from django.conf import settings

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    owner = settings.DATABASE_OWNER or {}
    for key, param in (
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if owner.get(key):
            params[param] = owner[key]
    with psycopg.connect(**params) as conn:
        yield conn


@contextmanager
def corrupt_as_owner(*, disable: tuple[tuple[str, str], ...] = ()) -> Iterator:
    """A cursor of the owner role with the given ledger triggers disabled; at the end of
    the block they are enabled again (ALWAYS) and the corruption committed: what only
    the owner could do (the runtime role may not disable a trigger), for ledger_check to
    find."""
    with owner_connection() as conn, conn.cursor() as cursor:
        for table, trigger in disable:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        yield cursor
        # Deferred events (foreign keys) must fire before a table's triggers can change.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, trigger in disable:
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


def violations_seen_by(cursor) -> tuple[set[str], str]:
    """Run every audit check's query on ``cursor`` (e.g. the owner's, inside a
    corruption it will roll back): the check names that found something, and the text."""
    from payouts import audit

    names, lines = set(), []
    for check in audit.registered():
        cursor.execute(check.sql)
        for (detail,) in cursor.fetchall():
            names.add(check.name)
            lines.append(f"{check.name}: {detail}")
    return names, "\n".join(lines)
