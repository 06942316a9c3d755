"""Apply each account's balance once per INSERT statement, not once per entry.

Before: ``ledger_entry_apply`` (BEFORE INSERT, per row) updated the account row for every
entry. One row updated k times in one database transaction leaves k row versions that
cannot be pruned before commit, and each update walks that chain, so a hot account (a
batch's escrow, a revenue shard) cost O(k²) in a set-based posting: 5,000 settlements
in one statement ran at 1,243/s, 20,000 at 465/s (docs/performance.md).

Now:

- ``ledger_entry_apply`` (BEFORE INSERT, per row, SECURITY DEFINER) locks the account row
  ``FOR UPDATE`` (a no-op when this transaction already holds it, as ``ledger.post`` and
  settlement do), then stamps ``balance_after_cents`` = the account's newest entry's
  ``balance_after_cents`` + this amount. The newest entry is one read of the
  ``(account_id, id)`` index; entries inserted earlier by the same statement are visible
  to it (PostgreSQL shows a row-level BEFORE trigger the rows its command already
  inserted). Taking the lock first means the read sees every committed entry of the
  account. An entry whose id was drawn before the lock while a later-numbered one was
  posted is refused (``serialization_failure``, retry): ids stay in posting order per
  account, which keyset statements and the audit rely on. ``ledger.post`` and settlement
  lock their accounts before inserting, so they never meet it.
- ``ledger_entry_apply_balances`` (AFTER INSERT, per statement, over the transition
  table, SECURITY DEFINER) adds each account's net amount to its ``balance_cents`` in one
  UPDATE, and refuses the statement unless every touched account's new balance equals
  the ``balance_after_cents`` of its newest entry: the stored running balances and the
  account balance can never disagree. The account's CHECK
  (``ledger_account_balance_non_negative``) now sees each account once per statement,
  still at that INSERT and not at COMMIT; ``ledger.post`` and settlement refuse an
  overdraft before they insert.

The account guard still lets only a trigger running as the owner with the
``fairtask.ledger_apply`` flag move a balance; both functions keep a fixed search_path
and EXECUTE revoked from PUBLIC, and both triggers are ENABLE ALWAYS.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER ledger_entry_apply ON payouts_ledgerentry;

CREATE OR REPLACE FUNCTION payouts_ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER AS $$
DECLARE
    newest_id bigint;
    previous bigint;
BEGIN
    PERFORM 1 FROM payouts_ledgeraccount WHERE id = NEW.account_id FOR UPDATE;
    IF NOT FOUND THEN
        -- The foreign key would name it at the end of the statement; say it now.
        RAISE EXCEPTION 'ledger account % does not exist', NEW.account_id
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
    SELECT e.id, e.balance_after_cents INTO newest_id, previous
      FROM payouts_ledgerentry e WHERE e.account_id = NEW.account_id
     ORDER BY e.id DESC LIMIT 1;
    IF newest_id > NEW.id THEN
        -- This entry took its id before the account's lock, and another was posted
        -- meanwhile: in id order (how statements page) its balance after would be wrong.
        RAISE EXCEPTION 'ledger account %: entry % was numbered before entry %, posted while it '
                        'waited; lock the account (SELECT ... FOR UPDATE) before inserting '
                        'its entries, and retry', NEW.account_id, NEW.id, newest_id
            USING ERRCODE = 'serialization_failure', TABLE = TG_TABLE_NAME;
    END IF;
    NEW.balance_after_cents := coalesce(previous, 0) + NEW.amount_cents;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION payouts_ledger_apply_balances() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER AS $$
DECLARE
    bad_id bigint;
    bad_balance bigint;
    bad_after bigint;
    mismatch boolean;
BEGIN
    PERFORM set_config('fairtask.ledger_apply', 'on', true);
    WITH per_account AS (
        SELECT account_id, sum(amount_cents) AS delta, max(id) AS last_id
          FROM new_entries GROUP BY account_id
    ), applied AS (
        UPDATE payouts_ledgeraccount a SET balance_cents = a.balance_cents + p.delta
          FROM per_account p WHERE a.id = p.account_id
        RETURNING a.id, a.balance_cents
    )
    SELECT applied.id, applied.balance_cents, e.balance_after_cents
      INTO bad_id, bad_balance, bad_after
      FROM applied
      JOIN per_account p ON p.account_id = applied.id
      -- The newest entry through the primary key (the transition table has no index).
      JOIN payouts_ledgerentry e ON e.id = p.last_id
     WHERE e.balance_after_cents <> applied.balance_cents
     LIMIT 1;
    mismatch := FOUND;
    PERFORM set_config('fairtask.ledger_apply', '', true);
    IF mismatch THEN
        RAISE EXCEPTION 'ledger account %: balance % cents disagrees with its newest entry''s '
                        'balance after (% cents)', bad_id, bad_balance, bad_after
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'ledger_entry_apply_balances';
    END IF;
    RETURN NULL;
END
$$;

DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION payouts_ledger_apply_entry() SET search_path = pg_catalog, %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION payouts_ledger_apply_balances() SET search_path = pg_catalog, %I, pg_temp',
                   current_schema());
END $$;
REVOKE EXECUTE ON FUNCTION payouts_ledger_apply_entry() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION payouts_ledger_apply_balances() FROM PUBLIC;

CREATE TRIGGER ledger_entry_apply BEFORE INSERT ON payouts_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_apply_entry();
ALTER TABLE payouts_ledgerentry ENABLE ALWAYS TRIGGER ledger_entry_apply;
CREATE TRIGGER ledger_entry_apply_balances AFTER INSERT ON payouts_ledgerentry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION payouts_ledger_apply_balances();
ALTER TABLE payouts_ledgerentry ENABLE ALWAYS TRIGGER ledger_entry_apply_balances;
"""

# Back to 0009's per-row function.
REVERSE = """
DROP TRIGGER ledger_entry_apply_balances ON payouts_ledgerentry;
DROP FUNCTION payouts_ledger_apply_balances();
DROP TRIGGER ledger_entry_apply ON payouts_ledgerentry;
CREATE OR REPLACE FUNCTION payouts_ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER AS $$
BEGIN
    PERFORM set_config('fairtask.ledger_apply', 'on', true);
    UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + NEW.amount_cents
     WHERE id = NEW.account_id
    RETURNING balance_cents INTO NEW.balance_after_cents;
    PERFORM set_config('fairtask.ledger_apply', '', true);
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_entry_apply BEFORE INSERT ON payouts_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_apply_entry();
ALTER TABLE payouts_ledgerentry ENABLE ALWAYS TRIGGER ledger_entry_apply;
"""


class Migration(migrations.Migration):
    dependencies = [("payouts", "0009_entry_balance_after_withdrawals")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
