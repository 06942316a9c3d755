"""Seal the ledger in the database (issue 14), and store the ledger audit's runs.

- ``created_xact``: each ledger transaction is stamped with ``pg_current_xact_id()``, the
  id of the top-level database transaction that inserted it (not ``xmin``, which inside
  Django's savepoints is the savepoint's id), by ``ledger_transaction_stamp`` whatever
  the INSERT says. ``ledger_entry_sealed`` refuses an entry inserted by any other
  database transaction, so no entry can ever be added to a committed transaction (a
  balanced pair added to an old deposit used to pass every check). The column is not a
  Django field: nothing in Python reads or writes it.
- ``ledger_account_guard`` now also freezes ``id`` and ``created_at`` (swapping two
  accounts' ids moved histories between users), and lets ``balance_cents`` change only
  inside ``payouts_ledger_apply_entry`` (it sets ``fairtask.ledger_apply`` for the
  duration of its UPDATE) running as the table owner: a trigger on a TEMP table of the
  runtime role passes ``pg_trigger_depth()`` but runs as that role.
- ``payouts_ledger_apply_entry`` is SECURITY DEFINER with a fixed ``search_path``: the
  runtime role has no UPDATE on ``balance_cents``; the trigger updates as the owner.
- ``ledger_*_no_truncate``: statement triggers refuse TRUNCATE of the ledger tables
  (CASCADE included) unless the session opted in with ``SET
  fairtask.allow_ledger_truncate = 'on'``; only the owner has TRUNCATE privilege at all,
  and only the test suite's flush opts in (tests/testdb).
- Every ledger trigger is ``ENABLE ALWAYS``: ``session_replication_role = replica`` does
  not switch them off.
- EXECUTE on the ledger's trigger functions is revoked from PUBLIC.
"""

from django.db import migrations, models

STAMP = """
ALTER TABLE payouts_ledgertransaction
    ADD COLUMN created_xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE FUNCTION payouts_ledger_stamp_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_xact := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_transaction_stamp BEFORE INSERT ON payouts_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_stamp_transaction();

CREATE FUNCTION payouts_ledger_entry_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stamped xid8;
BEGIN
    SELECT created_xact INTO stamped FROM payouts_ledgertransaction WHERE id = NEW.transaction_id;
    IF stamped IS DISTINCT FROM pg_current_xact_id() THEN
        RAISE EXCEPTION 'ledger transaction % is sealed: entries are written only with their '
                        'transaction, in the same database transaction', NEW.transaction_id
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'ledger_transaction_sealed';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_entry_sealed BEFORE INSERT ON payouts_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_entry_sealed();
"""

STAMP_REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_sealed ON payouts_ledgerentry;
DROP FUNCTION IF EXISTS payouts_ledger_entry_sealed();
DROP TRIGGER IF EXISTS ledger_transaction_stamp ON payouts_ledgertransaction;
DROP FUNCTION IF EXISTS payouts_ledger_stamp_transaction();
ALTER TABLE payouts_ledgertransaction DROP COLUMN IF EXISTS created_xact;
"""

APPLY_AND_GUARD = """
CREATE OR REPLACE FUNCTION payouts_ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER AS $$
BEGIN
    PERFORM set_config('fairtask.ledger_apply', 'on', true);
    UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + NEW.amount_cents
     WHERE id = NEW.account_id;
    PERFORM set_config('fairtask.ledger_apply', '', true);
    RETURN NULL;
END
$$;
-- A fixed search_path: the schema the ledger lives in, then pg_temp last, so that no
-- object of the caller's (a TEMP table named payouts_ledgeraccount) can stand in.
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION payouts_ledger_apply_entry() SET search_path = pg_catalog, %I, pg_temp',
                   current_schema());
END $$;

CREATE OR REPLACE FUNCTION payouts_ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.balance_cents <> 0 THEN
            RAISE EXCEPTION 'a ledger account starts at 0 cents, not %', NEW.balance_cents
                USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                      CONSTRAINT = 'ledger_account_guard';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.kind, NEW.owner_id, NEW.ref, NEW.currency, NEW.allow_negative, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.kind, OLD.owner_id, OLD.ref, OLD.currency, OLD.allow_negative, OLD.created_at) THEN
        RAISE EXCEPTION 'ledger account %: id, kind, owner, ref, currency, allow_negative and '
                        'created_at never change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'ledger_account_guard';
    END IF;
    IF NEW.balance_cents <> OLD.balance_cents THEN
        -- Only payouts_ledger_apply_entry (depth 2, running as the table's owner, with its
        -- flag set) moves a balance. A direct UPDATE runs at depth 1; a trigger of someone
        -- else's table runs as that someone.
        IF pg_trigger_depth() < 2
           OR current_setting('fairtask.ledger_apply', true) IS DISTINCT FROM 'on'
           OR current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
            RAISE EXCEPTION 'ledger account %: balance_cents changes only by posting entries', OLD.id
                USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                      CONSTRAINT = 'ledger_account_guard';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
"""

NO_TRUNCATE = """
CREATE FUNCTION payouts_ledger_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fairtask.allow_ledger_truncate', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'the ledger is append-only: TRUNCATE of % is refused', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'ledger_append_only';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_account_no_truncate BEFORE TRUNCATE ON payouts_ledgeraccount
    FOR EACH STATEMENT EXECUTE FUNCTION payouts_ledger_no_truncate();
CREATE TRIGGER ledger_transaction_no_truncate BEFORE TRUNCATE ON payouts_ledgertransaction
    FOR EACH STATEMENT EXECUTE FUNCTION payouts_ledger_no_truncate();
CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON payouts_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION payouts_ledger_no_truncate();
"""

NO_TRUNCATE_REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_no_truncate ON payouts_ledgerentry;
DROP TRIGGER IF EXISTS ledger_transaction_no_truncate ON payouts_ledgertransaction;
DROP TRIGGER IF EXISTS ledger_account_no_truncate ON payouts_ledgeraccount;
DROP FUNCTION IF EXISTS payouts_ledger_no_truncate();
"""

TRIGGERS = {
    "payouts_ledgeraccount": ("ledger_account_guard", "ledger_account_no_truncate"),
    "payouts_ledgertransaction": (
        "ledger_transaction_append_only",
        "ledger_transaction_balanced",
        "ledger_transaction_stamp",
        "ledger_transaction_no_truncate",
    ),
    "payouts_ledgerentry": (
        "ledger_entry_append_only",
        "ledger_entry_balanced",
        "ledger_entry_apply",
        "ledger_entry_sealed",
        "ledger_entry_no_truncate",
    ),
}
ENABLE_ALWAYS = "\n".join(
    f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name};"
    for table, names in TRIGGERS.items()
    for name in names
)
ENABLE_ORIGIN = ENABLE_ALWAYS.replace("ENABLE ALWAYS", "ENABLE")

FUNCTIONS = (
    "payouts_ledger_append_only()",
    "payouts_ledger_check_balanced()",
    "payouts_ledger_apply_entry()",
    "payouts_ledger_account_guard()",
    "payouts_ledger_stamp_transaction()",
    "payouts_ledger_entry_sealed()",
    "payouts_ledger_no_truncate()",
)
REVOKE_EXECUTE = "\n".join(f"REVOKE EXECUTE ON FUNCTION {f} FROM PUBLIC;" for f in FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0005_stripe_fees_deposit_events_alerts"),
    ]

    operations = [
        migrations.CreateModel(
            name="LedgerCheckRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("schedule", "Scheduled job"),
                            ("command", "ledger_check --record"),
                        ],
                        max_length=16,
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField()),
                ("ok", models.BooleanField()),
                ("check_count", models.PositiveIntegerField()),
                ("violation_count", models.PositiveIntegerField()),
                ("violations", models.JSONField(blank=True, default=list)),
                ("accounts", models.BigIntegerField()),
                ("transactions", models.BigIntegerField()),
                ("entries", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["-started_at"], name="ledger_check_run_recent")],
            },
        ),
        migrations.RunSQL(STAMP, STAMP_REVERSE),
        # Reversing restores 0003's functions by re-running its SQL is not possible here
        # (CREATE OR REPLACE of the same names); the reverse leaves the stricter versions.
        migrations.RunSQL(APPLY_AND_GUARD, migrations.RunSQL.noop),
        migrations.RunSQL(NO_TRUNCATE, NO_TRUNCATE_REVERSE),
        migrations.RunSQL(ENABLE_ALWAYS, ENABLE_ORIGIN),
        migrations.RunSQL(REVOKE_EXECUTE, migrations.RunSQL.noop),
    ]
