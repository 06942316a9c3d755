"""What the database itself guarantees about the ledger, whatever code writes to it.

- ``ledger_transaction_balanced`` / ``ledger_entry_balanced``: DEFERRABLE INITIALLY
  DEFERRED constraint triggers. At COMMIT (or ``SET CONSTRAINTS ... IMMEDIATE``) every
  transaction inserted or touched must have at least 2 entries summing to 0.
- ``ledger_*_append_only``: UPDATE and DELETE of transactions and entries are refused.
  Row-level BEFORE triggers only, so TRUNCATE (pytest-django's flush) still works.
- ``ledger_entry_apply``: each inserted entry adds its amount to its account's
  ``balance_cents`` in the same statement. Chosen over updating the balance in Python
  because then ``balance == sum(entries)`` holds for any writer, raw SQL included, and
  the CHECK ``balance_cents >= 0 OR allow_negative`` (migration 0002) fires on the very
  insert that would overdraw. The service still locks the rows first and checks in
  Python, to raise a clear ``InsufficientFunds`` rather than a database error.
- ``ledger_account_guard``: a new account starts at 0; kind, owner, ref, currency and
  allow_negative never change; balance_cents changes only from ``ledger_entry_apply``
  (trigger depth 2), never by a direct UPDATE.

Errors use SQLSTATE class 23 (integrity constraint violation), so Django raises
``django.db.IntegrityError``.
"""

from django.db import migrations

APPEND_ONLY = """
CREATE FUNCTION payouts_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused; post a reversing transaction instead',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
              CONSTRAINT = 'ledger_append_only';
END
$$;
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON payouts_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_append_only();
CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON payouts_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_append_only();
"""

APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON payouts_ledgertransaction;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON payouts_ledgerentry;
DROP FUNCTION IF EXISTS payouts_ledger_append_only();
"""

BALANCED = """
CREATE FUNCTION payouts_ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    txn_id bigint;
    n integer;
    total numeric;
BEGIN
    IF TG_TABLE_NAME = 'payouts_ledgertransaction' THEN
        txn_id := NEW.id;
    ELSE
        txn_id := NEW.transaction_id;
    END IF;
    SELECT count(*), coalesce(sum(amount_cents), 0) INTO n, total
      FROM payouts_ledgerentry WHERE transaction_id = txn_id;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is not balanced: % entries summing to % cents '
                        '(a transaction needs at least 2 entries summing to 0)', txn_id, n, total
            USING ERRCODE = 'check_violation', TABLE = 'payouts_ledgerentry',
                  CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON payouts_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payouts_ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON payouts_ledgerentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payouts_ledger_check_balanced();
"""

BALANCED_REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_balanced ON payouts_ledgerentry;
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON payouts_ledgertransaction;
DROP FUNCTION IF EXISTS payouts_ledger_check_balanced();
"""

APPLY_ENTRY = """
CREATE FUNCTION payouts_ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + NEW.amount_cents
     WHERE id = NEW.account_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entry_apply AFTER INSERT ON payouts_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_apply_entry();
"""

APPLY_ENTRY_REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_apply ON payouts_ledgerentry;
DROP FUNCTION IF EXISTS payouts_ledger_apply_entry();
"""

ACCOUNT_GUARD = """
CREATE FUNCTION payouts_ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.balance_cents <> 0 THEN
            RAISE EXCEPTION 'a ledger account starts at 0 cents, not %', NEW.balance_cents
                USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                      CONSTRAINT = 'ledger_account_guard';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.kind, NEW.owner_id, NEW.ref, NEW.currency, NEW.allow_negative)
       IS DISTINCT FROM (OLD.kind, OLD.owner_id, OLD.ref, OLD.currency, OLD.allow_negative) THEN
        RAISE EXCEPTION 'ledger account %: kind, owner, ref, currency and allow_negative never change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'ledger_account_guard';
    END IF;
    -- Depth 2 = called from ledger_entry_apply; a direct UPDATE runs at depth 1.
    IF NEW.balance_cents <> OLD.balance_cents AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'ledger account %: balance_cents changes only by posting entries', OLD.id
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'ledger_account_guard';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_account_guard BEFORE INSERT OR UPDATE ON payouts_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_account_guard();
"""

ACCOUNT_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS ledger_account_guard ON payouts_ledgeraccount;
DROP FUNCTION IF EXISTS payouts_ledger_account_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0002_ledger"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY, APPEND_ONLY_REVERSE),
        migrations.RunSQL(BALANCED, BALANCED_REVERSE),
        migrations.RunSQL(APPLY_ENTRY, APPLY_ENTRY_REVERSE),
        migrations.RunSQL(ACCOUNT_GUARD, ACCOUNT_GUARD_REVERSE),
    ]
