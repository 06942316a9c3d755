"""Server-side prepared statements for the hottest SQL (the claim and the submit).

PostgreSQL parses and plans every statement it is sent. For the claim's one statement
(take the slot, insert the assignment and its event, count it; see
``tasks.services._CLAIM_SQL``) planning took about 1 ms on our 2-core machines, more
than executing it (0.8 ms): at hundreds of claims a second that is the database's
biggest single cost, and the one thing the claim paid that a bare ``SKIP LOCKED`` take
did not. A prepared statement is parsed once per connection, and after five runs
PostgreSQL keeps a generic plan when it is no worse than the custom ones, so later runs
skip planning.

Why not psycopg's own preparation (``prepare=True`` on a server-binding cursor): it
prepares through the extended protocol, which takes one statement per message; the
claim sends its locks and its statement as *one* simple-query message
(``marketplace.locking.run_locked``: one round trip, one implicit transaction). SQL's
own ``PREPARE name AS …`` / ``EXECUTE name(…)`` fit inside such a message, and the
arguments of ``EXECUTE`` are bound client-side like every other Django query.

Usage: declare a statement once at import (``Statement("name", sql)``, with the usual
``%(name)s`` placeholders), then ``stmt.execute(cursor, values)``, or ``stmt.sql()``
where the SQL would go (inside a longer message) with ``stmt.params(values)``. The first use on a database connection sends
the ``PREPARE`` (one extra round trip per connection and statement; connections are
persistent). A prepared statement lives as long as its session and survives
rollbacks. Behind a pooler in transaction mode (PgBouncer) consecutive transactions
may use different sessions, so there the setting ``FAIRTASK_PREPARED_STATEMENTS``
(``DB_PREPARED_STATEMENTS``; off by default with ``CONN_MAX_AGE=0``) sends each
statement as plain SQL instead (``docs/operations.md``).
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import connection

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Names of the statements prepared on each open psycopg connection.
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


class Statement:
    """One named statement. ``sql`` uses ``%(name)s`` placeholders (and ``%%`` for a
    literal ``%``); each distinct name becomes one parameter ``$n``, whose type
    PostgreSQL infers from its use (cast it in the SQL where it cannot)."""

    def __init__(self, name: str, sql: str):
        if not _NAME.match(name):
            raise ValueError(f"bad statement name {name!r}")
        self.name = name
        self.text = sql
        self.names: list[str] = []
        for found in _PLACEHOLDER.findall(sql):
            if found not in self.names:
                self.names.append(found)
        body = _PLACEHOLDER.sub(lambda m: f"${self.names.index(m.group(1)) + 1}", sql)
        self._prepare = f"PREPARE {name} AS {body.replace('%%', '%')}"
        args = ", ".join(f"%({n})s" for n in self.names)
        self._execute = f"EXECUTE {name}({args})" if self.names else f"EXECUTE {name}"

    def sql(self) -> str:
        """The ``EXECUTE`` to send on the default connection, preparing the statement
        there first if this connection has not yet; the statement's own text when
        ``FAIRTASK_PREPARED_STATEMENTS`` is off (same parameters either way)."""
        if not settings.FAIRTASK_PREPARED_STATEMENTS:
            return self.text
        connection.ensure_connection()
        raw = connection.connection
        done = _prepared.setdefault(raw, set())
        if self.name not in done:
            with connection.cursor() as cursor:
                cursor.execute(self._prepare)
            done.add(self.name)
        return self._execute

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        missing = [n for n in self.names if n not in values]
        if missing:
            raise KeyError(f"{self.name}: no value for {missing}")
        return {n: values[n] for n in self.names}

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> None:
        """Run the statement on ``cursor`` (a cursor of the default connection)."""
        cursor.execute(self.sql(), self.params(values))


_by_text: dict[tuple[str, str], Statement] = {}


def statement(prefix: str, sql: str) -> Statement:
    """The ``Statement`` for ``sql``, named ``<prefix>_<hash of sql>``: for SQL put
    together from a few fragments (a counter update's columns, say), one prepared
    statement per distinct text, made once per process."""
    key = (prefix, sql)
    found = _by_text.get(key)
    if found is None:
        digest = hashlib.blake2s(sql.encode(), digest_size=6).hexdigest()
        found = _by_text[key] = Statement(f"{prefix}_{digest}", sql)
    return found


__all__ = ["Statement", "statement"]
