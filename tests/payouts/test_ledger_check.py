"""manage.py ledger_check: every check named; OK on a sound ledger; each corruption
reported by name.

The ledger is built through the services and committed (transactional tests), then
corrupted by the owner role on its own connection: the database refuses every
corruption below, and the runtime role the tests run as may not disable a trigger or
drop a constraint, so the owner does, then re-enables the trigger (ALWAYS).
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from payouts import audit, ledger
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.payouts.ledger_helpers import (
    approve_and_settle,
    corrupt_as_owner,
    deposit_through_stripe_records,
    owner_connection,
    published_batch,
    violations_seen_by,
)

pytestmark = pytest.mark.django_db(transaction=True)

ENTRY_BALANCED = ("payouts_ledgerentry", "ledger_entry_balanced")
ENTRY_SEALED = ("payouts_ledgerentry", "ledger_entry_sealed")
TXN_BALANCED = ("payouts_ledgertransaction", "ledger_transaction_balanced")
ACCOUNT_GUARD = ("payouts_ledgeraccount", "ledger_account_guard")


@pytest.fixture
def book(requester, worker, tmp_path, settings):
    """A small sound ledger: a deposit (with its Deposit), a published batch's hold, two
    settlements, a bonus and its reversal."""
    deposit_through_stripe_records(requester, 5000, "cs_1")
    batch = published_batch(requester, tmp_path, settings)
    approve_and_settle(batch, worker)
    _, settle = approve_and_settle(batch, worker)
    bonus = ledger.post(
        key="bonus-1",
        kind="bonus",
        lines=[
            (ledger.requester_account(requester), -60),
            (ledger.worker_account(worker), 50),
            (ledger.platform_revenue_account(), 10),
        ],
    )
    ledger.reverse(key="reverse-bonus-1", transaction=bonus)
    return {
        "batch": batch,
        "requester": ledger.requester_account(requester),
        "worker": ledger.worker_account(worker),
        "escrow": ledger.batch_escrow_account(batch.pk),
        "clearing": ledger.stripe_clearing_account(),
        "revenue": ledger.platform_revenue_account(),
        "settle": settle,
    }


def run_check() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ledger_check", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_check() -> tuple[set[str], str]:
    err, out = StringIO(), StringIO()
    with pytest.raises(CommandError, match=r"ledger_check found \d+ violation") as exc:
        call_command("ledger_check", stdout=out, stderr=err)
    assert exc.value.returncode == 1  # manage.py exits with status 1
    text = err.getvalue()
    names = {
        line.split()[1].rstrip(":") for line in text.splitlines() if line.startswith("VIOLATION ")
    }
    # Each failing check is also named, with its count, in the list of checks.
    for name in names:
        assert f"FAIL {name}: " in out.getvalue()
    return names, text


INSERT_TXN = (
    "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, reverses_id, created_at)"
    " VALUES (%s, %s, '', '', %s, now())"
)


def insert_txn(cursor, key: str, *, reverses: int | None = None, kind: str = "transfer") -> int:
    cursor.execute(INSERT_TXN + " RETURNING id", [key, kind, reverses])
    return cursor.fetchone()[0]


def insert_entry(cursor, txn_id: int, account, amount: int) -> None:
    cursor.execute(
        "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at) VALUES (%s, %s, %s, now())",
        [txn_id, account.pk, amount],
    )


def entry_sql(txn_id: int, account, amount: int) -> tuple[str, list]:
    return (
        "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at)"
        " VALUES (%s, %s, %s, now())",
        [txn_id, account.pk, amount],
    )


def txn_sql(key: str, *, kind: str = "transfer", reverses: int | None = None) -> tuple[str, list]:
    return (INSERT_TXN, [key, kind, reverses])


def last_txn_id() -> int:
    return LedgerTransaction.objects.order_by("-pk").values_list("pk", flat=True)[0]


def test_a_sound_ledger_is_ok(book):
    out, err = run_check()
    checks = audit.registered()
    for check in checks:
        assert f"ok   {check.name}: {check.description}\n" in out
    counts = (
        LedgerAccount.objects.count(),
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
    )
    assert out.endswith(
        f"OK: all {len(checks)} ledger checks passed "
        f"({counts[0]} accounts, {counts[1]} transactions, {counts[2]} entries)\n"
    )
    assert counts == (5, 6, 16)
    assert err == ""


def test_every_check_an_auditor_asked_for_is_registered(db):
    names = {check.name for check in audit.registered()}
    assert {
        "unbalanced_transaction",
        "balance_mismatch",
        "transaction_shape",
        "deposit_not_backed",
        "completed_deposit_not_credited",
        "clearing_vs_deposits",
        "ledger_triggers_enabled",
        "escrow_without_batch",
        "escrow_hold_vs_batch",
        "escrow_live_batch",
        "escrow_closed_batch",
    } <= names
    # marketplace registered its checks from its AppConfig.ready(); payouts imports it not.
    assert {c.app for c in audit.registered() if c.name.startswith("escrow_")} == {"marketplace"}


def test_an_empty_ledger_is_ok(db):
    out, _ = run_check()
    assert f"OK: all {len(audit.registered())} ledger checks passed (0 accounts" in out


def test_unbalanced_transaction(book):
    with corrupt_as_owner(disable=(ENTRY_BALANCED, ENTRY_SEALED)) as cursor:
        insert_entry(cursor, book["settle"].pk, book["worker"], 7)
    names, text = failing_check()
    # The extra 7¢ also shows in the grand total (balances still equal their entries), and
    # a settle with two worker entries is not a settle's shape.
    assert names == {"unbalanced_transaction", "ledger_total_not_zero", "transaction_shape"}
    key = book["settle"].idempotency_key
    assert (
        f"VIOLATION unbalanced_transaction: transaction {book['settle'].pk} ({key}) entries sum to 7 cents"
        in text
    )


def test_too_few_entries(book):
    with corrupt_as_owner(disable=(TXN_BALANCED, ENTRY_BALANCED)) as cursor:
        empty = insert_txn(cursor, "raw-empty")
        lonely = insert_txn(cursor, "raw-lonely")
        # Balanced, and the same account twice is fine (a transfer's shape).
        insert_entry(cursor, lonely, book["worker"], 5)
        insert_entry(cursor, lonely, book["worker"], -5)
    names, text = failing_check()
    assert names == {"too_few_entries"}
    assert f"VIOLATION too_few_entries: transaction {empty} (raw-empty) has 0 entries" in text
    assert "too_few_entries: transaction {lonely}" not in text


def test_too_few_entries_one_entry(book):
    with corrupt_as_owner(disable=(TXN_BALANCED, ENTRY_BALANCED)) as cursor:
        one = insert_txn(cursor, "raw-one")
        insert_entry(cursor, one, book["clearing"], -5)
    names, text = failing_check()
    assert names == {
        "too_few_entries",
        "unbalanced_transaction",
        "ledger_total_not_zero",
        "transaction_shape",
    }
    assert f"transaction {one} (raw-one) has 1 entry" in text


def test_a_withdrawal_that_skips_the_in_flight_account_is_named(book):
    """A withdrawal goes balance → in flight (request) → Stripe clearing (paid); one
    straight from the worker's balance to clearing is not a withdrawal's shape."""
    ledger.post(
        key="withdrawal-direct-1",
        kind="withdrawal",
        lines=[(book["worker"], -10), (ledger.stripe_clearing_account(), 10)],
    )
    names, text = failing_check()
    assert "transaction_shape" in names
    assert "withdrawal-direct-1" in text


def test_balance_mismatch(book):
    with corrupt_as_owner(disable=(ACCOUNT_GUARD,)) as cursor:
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + 5 WHERE id = %s",
            [book["worker"].pk],
        )
    names, text = failing_check()
    assert names == {"balance_mismatch", "ledger_total_not_zero"}
    assert f"account {book['worker'].pk} (worker_available " in text
    assert "balance_cents is 25 but its entries sum to 20" in text


def test_forbidden_negative_balance(book):
    # A balanced transaction that overdraws the worker: only the CHECK stood in the way.
    with owner_connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE payouts_ledgeraccount DROP CONSTRAINT ledger_account_balance_non_negative"
        )
        txn = insert_txn(cursor, "raw-overdraw")
        insert_entry(cursor, txn, book["worker"], -250)
        insert_entry(cursor, txn, book["requester"], 250)
        names, text = violations_seen_by(cursor)
        conn.rollback()
    assert names == {"forbidden_negative_balance"}
    assert f"account {book['worker'].pk} (worker_available" in text and "is at -230 cents" in text


def test_negative_allowed_on_wrong_kind(book):
    with owner_connection() as conn, conn.cursor() as cursor:
        cursor.execute("ALTER TABLE payouts_ledgeraccount DISABLE TRIGGER ledger_account_guard")
        cursor.execute(
            "ALTER TABLE payouts_ledgeraccount DROP CONSTRAINT ledger_account_only_clearing_negative"
        )
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET allow_negative = true WHERE id = %s",
            [book["requester"].pk],
        )
        names, _ = violations_seen_by(cursor)
        conn.rollback()
    assert names == {"negative_allowed_on_wrong_kind", "ledger_triggers_enabled"}


def test_duplicate_idempotency_key(book):
    with owner_connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'payouts_ledgertransaction'::regclass"
            " AND contype = 'u' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute"
            "  WHERE attrelid = 'payouts_ledgertransaction'::regclass AND attname = 'idempotency_key')]"
        )
        (unique_key,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE payouts_ledgertransaction DROP CONSTRAINT {unique_key}")
        cursor.execute(
            "DROP INDEX IF EXISTS payouts_ledgertransaction_idempotency_key_c795805f_like"
        )
        dup = insert_txn(cursor, "bonus-1", kind="bonus")
        insert_entry(cursor, dup, book["requester"], -1)
        insert_entry(cursor, dup, book["worker"], 1)
        names, text = violations_seen_by(cursor)
        conn.rollback()
    assert names == {"duplicate_idempotency_key"}
    assert "duplicate_idempotency_key: idempotency key bonus-1 is used by 2 transactions" in text


def test_zero_amount_entry(book):
    with owner_connection() as conn, conn.cursor() as cursor:
        cursor.execute("ALTER TABLE payouts_ledgerentry DISABLE TRIGGER ledger_entry_sealed")
        cursor.execute(
            "ALTER TABLE payouts_ledgerentry DROP CONSTRAINT ledger_entry_amount_non_zero"
        )
        insert_entry(cursor, book["settle"].pk, book["revenue"], 0)
        names, text = violations_seen_by(cursor)
        conn.rollback()
    assert names == {"zero_amount_entry", "transaction_shape", "ledger_triggers_enabled"}
    assert f"of transaction {book['settle'].pk} is 0 cents" in text


def test_reversal_mismatch(book):
    # Balanced and within funds, but not the negation of what it claims to reverse: the
    # runtime role can write this (it is a well-formed transaction); the check names it.
    original = book["settle"]
    with transaction.atomic(), connection.cursor() as cursor:
        fake = insert_txn(cursor, "raw-fake-reversal", reverses=original.pk, kind="reverse")
        insert_entry(cursor, fake, book["worker"], -10)
        insert_entry(cursor, fake, book["escrow"], 10)
    names, text = failing_check()
    assert names == {"reversal_mismatch"}
    assert f"transaction {fake} reverses {original.pk}" in text


def test_every_violation_is_listed_not_just_the_first(book):
    with corrupt_as_owner(disable=(ENTRY_BALANCED, ENTRY_SEALED, ACCOUNT_GUARD)) as cursor:
        insert_entry(cursor, book["settle"].pk, book["revenue"], 3)
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET balance_cents = 1 WHERE id = %s",
            [book["requester"].pk],
        )
    names, _ = failing_check()
    assert names == {
        "unbalanced_transaction",
        "transaction_shape",
        "balance_mismatch",
        "ledger_total_not_zero",
    }


def test_a_disabled_trigger_is_named(book):
    with owner_connection() as conn:
        conn.execute("ALTER TABLE payouts_ledgerentry DISABLE TRIGGER ledger_entry_sealed")
        conn.execute("ALTER TABLE payouts_ledgeraccount ENABLE TRIGGER ledger_account_guard")
    try:
        names, text = failing_check()
    finally:
        with owner_connection() as conn:
            conn.execute(
                "ALTER TABLE payouts_ledgerentry ENABLE ALWAYS TRIGGER ledger_entry_sealed"
            )
            conn.execute(
                "ALTER TABLE payouts_ledgeraccount ENABLE ALWAYS TRIGGER ledger_account_guard"
            )
    assert names == {"ledger_triggers_enabled"}
    assert "trigger ledger_entry_sealed on payouts_ledgerentry is disabled" in text
    assert (
        "trigger ledger_account_guard on payouts_ledgeraccount is enabled only for origin" in text
    )


def test_outside_a_transaction_it_checks_one_snapshot(requester):
    # Not inside the test's atomic block: the command opens its own REPEATABLE READ one.
    deposit_through_stripe_records(requester, 5000, "cs_1")
    out, _ = run_check()
    assert (
        f"OK: all {len(audit.registered())} ledger checks passed (2 accounts, 1 transactions, 2 entries)"
        in out
    )
    assert not connection.in_atomic_block
