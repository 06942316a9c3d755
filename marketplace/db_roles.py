"""Two database roles: an owner that runs migrations, and a runtime role the application
connects as (web, Celery worker, beat, the test suite).

The runtime role owns nothing, so it cannot ``ALTER TABLE ... DISABLE TRIGGER``, drop a
constraint, or (not being a superuser) ``SET session_replication_role``; and it holds only
the privileges the code uses (``RUNTIME_PRIVILEGES``): no UPDATE of ledger balances, no
DELETE, TRUNCATE or TRIGGER on the ledger, deposits or Stripe events. The owner grants
them after every ``migrate`` (``grant_runtime_privileges``, a ``post_migrate`` handler)
and sets default privileges so that a table created later gets the default grant too.

Settings (``marketplace/settings/base.py``): ``DATABASE_URL`` is the runtime role's
connection, ``DATABASE_OWNER_URL`` the owner's (same database). ``manage.py migrate`` (our
override) connects as the owner; so do the test suite's database setup and its flush.
With ``DATABASE_OWNER_URL`` unset both are the same role and no grant is made (a single
role deployment, which ``manage.py check --deploy`` warns about).

``role_setup_sql`` is what an administrator runs once per server (``python -m
marketplace.db_roles setup --admin-url ...``; ``docs/operations.md`` has it for a
managed PostgreSQL).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

# What the runtime role may do on each table; every table not listed gets DEFAULT.
# "UPDATE (col)" grants UPDATE of that column only: ``SELECT ... FOR UPDATE`` needs UPDATE
# privilege on at least one column, and the ledger's guard/append-only triggers refuse
# any actual change of those rows, so the column grant only lets the code lock rows.
DEFAULT_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
RUNTIME_PRIVILEGES: dict[str, tuple[str, ...]] = {
    # The ledger: append-only; balances change only through the SECURITY DEFINER trigger.
    "payouts_ledgeraccount": ("SELECT", "INSERT", "UPDATE (created_at)"),
    "payouts_ledgertransaction": ("SELECT", "INSERT", "UPDATE (memo)"),
    "payouts_ledgerentry": ("SELECT", "INSERT"),
    # Audit records: written once, never changed or removed by the application.
    "payouts_ledgercheckrun": ("SELECT", "INSERT"),
    "payouts_checkrun": ("SELECT", "INSERT"),
    "payouts_deposit": ("SELECT", "INSERT", "UPDATE"),
    "payouts_depositevent": ("SELECT", "INSERT"),
    "payouts_stripeevent": ("SELECT", "INSERT"),
    "payouts_stripealert": ("SELECT", "INSERT"),
    # A bonus paid is a money record: written once with its ledger posting.
    "tasks_bonus": ("SELECT", "INSERT"),
    # Settlement: a payable is written once and only ever marked settled.
    "payouts_payable": ("SELECT", "INSERT", "UPDATE (settled_at)"),
    "payouts_payoutaccount": ("SELECT", "INSERT", "UPDATE"),
    "payouts_withdrawal": ("SELECT", "INSERT", "UPDATE"),
    "payouts_withdrawalevent": ("SELECT", "INSERT"),
    "django_migrations": ("SELECT",),
}
# Tables the runtime role must never DELETE from (checked by the tests).
NO_DELETE_TABLES = (
    "payouts_ledgeraccount",
    "payouts_ledgertransaction",
    "payouts_ledgerentry",
    "payouts_deposit",
    "payouts_depositevent",
    "payouts_stripeevent",
    "payouts_stripealert",
    "tasks_bonus",
    "payouts_payable",
    "payouts_payoutaccount",
    "payouts_withdrawal",
    "payouts_withdrawalevent",
)

OWNER_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


def credentials(url: str) -> dict[str, Any]:
    """USER, PASSWORD, HOST, PORT of a database URL, parsed as Django's settings are."""
    import dj_database_url

    parsed = dj_database_url.parse(url)
    return {key: parsed.get(key, "") for key in OWNER_KEYS} | {"OPTIONS": parsed.get("OPTIONS", {})}


def split_roles(settings_dict: Mapping[str, Any], owner: Mapping[str, Any] | None) -> bool:
    """True when the owner connects as another role than the runtime connection."""
    return bool(owner) and owner.get("USER") != settings_dict.get("USER")  # type: ignore[union-attr]


@contextmanager
def connected_as_owner(alias: str = "default") -> Iterator[None]:
    """Run the block with ``connections[alias]`` connected as the owner role (from
    ``settings.DATABASE_OWNER``), then reconnect as the runtime role. Only this thread's
    connection object changes (a copy of its settings), never another thread's.

    Used by ``migrate``, the test suite's database setup/teardown and its flush. Refuses
    to run inside a transaction (closing the connection would lose it)."""
    from django.conf import settings
    from django.db import connections

    owner = getattr(settings, "DATABASE_OWNER", None)
    conn = connections[alias]
    if not split_roles(conn.settings_dict, owner) or conn.settings_dict.get("_AS_OWNER"):
        yield
        return
    if conn.in_atomic_block:
        raise RuntimeError("cannot switch to the owner role inside a transaction")
    conn.close()
    original = conn.settings_dict
    swapped = {**original, **owner, "_AS_OWNER": True}  # type: ignore[dict-item]
    swapped["OPTIONS"] = {**original.get("OPTIONS", {}), **owner.get("OPTIONS", {})}  # type: ignore[union-attr]
    conn.settings_dict = swapped
    try:
        yield
    finally:
        conn.close()
        # Test database creation/destruction renames the database while swapped.
        original["NAME"] = swapped["NAME"]
        conn.settings_dict = original


def runtime_role() -> str | None:
    """The runtime role's name when the roles are split, else None."""
    from django.conf import settings
    from django.db import connections

    owner = getattr(settings, "DATABASE_OWNER", None)
    runtime = connections.settings["default"]  # the configured (runtime) credentials
    return runtime.get("USER") if split_roles(runtime, owner) else None


def grant_runtime_privileges(*, using: str = "default", **_kwargs: Any) -> None:
    """Give the runtime role exactly ``RUNTIME_PRIVILEGES`` on every table of the schema
    (revoking anything else first), USAGE on the sequences, and set the owner's default
    privileges so tables created later get ``DEFAULT_PRIVILEGES``. Idempotent; run as
    the owner after every migrate (connected as ``post_migrate`` handler)."""
    from django.db import connections
    from psycopg import sql

    role = runtime_role()
    if role is None:
        return
    conn = connections[using]
    runtime = sql.Identifier(role)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v')"
            " AND pg_get_userbyid(c.relowner) = current_user"
        )
        tables = [name for (name,) in cursor.fetchall()]
        statements = [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(_current_schema(cursor)), runtime
            ),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE"
                " ON TABLES TO {}"
            ).format(sql.Identifier(_current_schema(cursor)), runtime),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}"
            ).format(sql.Identifier(_current_schema(cursor)), runtime),
        ]
        for table in tables:
            privileges = RUNTIME_PRIVILEGES.get(table, DEFAULT_PRIVILEGES)
            statements.append(
                sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(sql.Identifier(table), runtime)
            )
            statements.append(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(_privilege(p) for p in privileges),
                    sql.Identifier(table),
                    runtime,
                )
            )
        statements.append(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                sql.Identifier(_current_schema(cursor)), runtime
            )
        )
        for statement in statements:
            cursor.execute(statement)


def _current_schema(cursor: Any) -> str:
    cursor.execute("SELECT current_schema()")
    return cursor.fetchone()[0]


def _privilege(text: str) -> Any:
    from psycopg import sql

    if "(" in text:
        name, column = text.rstrip(")").split("(")
        return sql.SQL("{} ({})").format(sql.SQL(name.strip()), sql.Identifier(column.strip()))
    return sql.SQL(text)


# --- Creating the roles (an administrator, once per server) -----------------------------


def role_setup_sql(
    *,
    database: str,
    owner: str,
    runtime: str,
    owner_password: str | None = None,
    runtime_password: str | None = None,
) -> list[Any]:
    """The statements that create both roles (if missing) and hand ``database`` (created
    if missing, by the caller) to the owner. Run by a superuser or an administrator
    with CREATEROLE. Passwords are optional (the embedded server trusts its socket)."""
    from psycopg import sql

    def role(name: str, password: str | None, extra: str) -> Any:
        password_sql = (
            sql.SQL(" PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("")
        )
        # The DO block makes it idempotent and safe against a concurrent creator.
        return sql.SQL(
            "DO $$ BEGIN CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION"
            " NOBYPASSRLS {extra}{password};"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN"
            " ALTER ROLE {name} LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            " {extra}{password}; END $$"
        ).format(name=sql.Identifier(name), extra=sql.SQL(extra), password=password_sql)

    return [
        role(owner, owner_password, "CREATEDB"),
        role(runtime, runtime_password, "NOCREATEDB"),
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(database), sql.Identifier(owner)
        ),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(runtime)
        ),
    ]


def setup_roles(
    *,
    admin_url: str,
    database: str,
    owner: str,
    runtime: str,
    owner_password: str | None = None,
    runtime_password: str | None = None,
) -> None:
    """Create the database (if missing) and both roles; give the owner the database, its
    ``public`` schema and every object in it that the administrator created (a database
    migrated before the split)."""
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(_with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except errors.DuplicateDatabase:
                pass
        for statement in role_setup_sql(
            database=database,
            owner=owner,
            runtime=runtime,
            owner_password=owner_password,
            runtime_password=runtime_password,
        ):
            conn.execute(statement)
    with psycopg.connect(_with_dbname(admin_url, database), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        # Tables, sequences, views and functions migrated before the roles were split.
        conn.execute(
            sql.SQL(
                """DO $$ DECLARE r record; BEGIN
                FOR r IN SELECT c.relname, c.relkind FROM pg_class c
                           JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                            AND pg_get_userbyid(c.relowner) <> {owner_text} LOOP
                    EXECUTE format('ALTER TABLE public.%I OWNER TO %I', r.relname, {owner_text});
                END LOOP;
                FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                           JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> {owner_text} LOOP
                    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.sig, {owner_text});
                END LOOP;
            END $$"""
            ).format(owner_text=sql.Literal(owner))
        )


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def with_user(url: str, user: str, password: str | None = None) -> str:
    """``url`` with its user (and password) replaced."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m marketplace.db_roles",
        description="Create the owner and runtime roles and hand the database to the owner.",
    )
    parser.add_argument("command", choices=["setup"])
    parser.add_argument("--admin-url", required=True, help="a superuser's or admin's URL")
    parser.add_argument("--database", help="default: the admin URL's database")
    parser.add_argument("--owner", default="fairtask_owner")
    parser.add_argument("--runtime", default="fairtask_app")
    parser.add_argument("--owner-password")
    parser.add_argument("--runtime-password")
    args = parser.parse_args(argv)
    database = args.database or unquote(urlsplit(args.admin_url).path.lstrip("/"))
    if not database:
        parser.error("--database is required when the admin URL names none")
    setup_roles(
        admin_url=args.admin_url,
        database=database,
        owner=args.owner,
        runtime=args.runtime,
        owner_password=args.owner_password,
        runtime_password=args.runtime_password,
    )
    print(f"roles {args.owner} (owner) and {args.runtime} (runtime) ready on {database}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
