"""manage.py ledger_check: OK on a sound ledger; each corruption reported by name.

The database refuses every corruption below, so each test first disables the trigger or
drops the constraint that would stop it, inside the test's transaction (rolled back).
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from payouts import ledger
from tests.payouts.ledger_helpers import raw_sql_without

pytestmark = pytest.mark.django_db

ENTRY_BALANCED = ("payouts_ledgerentry", "ledger_entry_balanced")
TXN_BALANCED = ("payouts_ledgertransaction", "ledger_transaction_balanced")
ACCOUNT_GUARD = ("payouts_ledgeraccount", "ledger_account_guard")


@pytest.fixture
def book(requester, worker):
    """A small sound ledger: a deposit, a hold, a settlement, a reversal."""
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=5000, external_ref="cs_1")
    ledger.hold(key="hold-batch-1", user=requester, batch_id=1, amount_cents=1200)
    reversed_settle = ledger.settle(
        key="settle-1", batch_id=1, worker=worker, reward_cents=100, fee_cents=20
    )
    settle = ledger.settle(
        key="settle-2", batch_id=1, worker=worker, reward_cents=100, fee_cents=20
    )
    ledger.reverse(key="reverse-settle-1", transaction=reversed_settle)
    return {
        "requester": ledger.requester_account(requester),
        "worker": ledger.worker_account(worker),
        "escrow": ledger.batch_escrow_account(1),
        "clearing": ledger.stripe_clearing_account(),
        "settle": settle,
    }


def run_check() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ledger_check", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_check() -> tuple[set[str], str]:
    err = StringIO()
    with pytest.raises(CommandError, match=r"ledger_check found \d+ violation") as exc:
        call_command("ledger_check", stdout=StringIO(), stderr=err)
    assert exc.value.returncode == 1  # manage.py exits with status 1
    text = err.getvalue()
    names = {
        line.split()[1].rstrip(":") for line in text.splitlines() if line.startswith("VIOLATION ")
    }
    return names, text


def insert_txn(cursor, key: str, *, reverses: int | None = None) -> int:
    cursor.execute(
        "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, reverses_id, created_at)"
        " VALUES (%s, 'transfer', '', '', %s, now()) RETURNING id",
        [key, reverses],
    )
    return cursor.fetchone()[0]


def insert_entry(cursor, txn_id: int, account, amount: int) -> None:
    cursor.execute(
        "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at) VALUES (%s, %s, %s, now())",
        [txn_id, account.pk, amount],
    )


def test_a_sound_ledger_is_ok(book):
    out, err = run_check()
    assert (
        out
        == f"OK: all {len(ledger.CHECKS)} ledger checks passed (5 accounts, 5 transactions, 13 entries)\n"
    )
    assert err == ""


def test_an_empty_ledger_is_ok(db):
    out, _ = run_check()
    assert out.startswith("OK: all 9 ledger checks passed (0 accounts")


def test_unbalanced_transaction(book):
    with raw_sql_without(triggers=(ENTRY_BALANCED,)) as cursor:
        insert_entry(cursor, book["settle"].pk, book["worker"], 7)
    names, text = failing_check()
    # The extra 7¢ also shows in the grand total (balances still equal their entries).
    assert names == {"unbalanced_transaction", "ledger_total_not_zero"}
    assert (
        f"VIOLATION unbalanced_transaction: transaction {book['settle'].pk} (settle-2) entries sum to 7 cents"
        in text
    )


def test_too_few_entries(book):
    with raw_sql_without(triggers=(TXN_BALANCED, ENTRY_BALANCED)) as cursor:
        empty = insert_txn(cursor, "raw-empty")
        lonely = insert_txn(cursor, "raw-lonely")
        insert_entry(cursor, lonely, book["clearing"], 5)
        insert_entry(
            cursor, lonely, book["clearing"], -5
        )  # balanced but the same account twice is fine
    names, text = failing_check()
    assert names == {"too_few_entries"}
    assert f"VIOLATION too_few_entries: transaction {empty} (raw-empty) has 0 entries" in text
    assert "raw-lonely" not in text


def test_too_few_entries_one_entry(book):
    with raw_sql_without(triggers=(TXN_BALANCED, ENTRY_BALANCED)) as cursor:
        one = insert_txn(cursor, "raw-one")
        insert_entry(cursor, one, book["clearing"], -5)
    names, text = failing_check()
    assert names == {"too_few_entries", "unbalanced_transaction", "ledger_total_not_zero"}
    assert f"transaction {one} (raw-one) has 1 entry" in text


def test_balance_mismatch(book):
    with raw_sql_without(triggers=(ACCOUNT_GUARD,)) as cursor:
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + 5 WHERE id = %s",
            [book["worker"].pk],
        )
    names, text = failing_check()
    assert names == {"balance_mismatch", "ledger_total_not_zero"}
    assert f"account {book['worker'].pk} (worker_available " in text
    assert "balance_cents is 105 but its entries sum to 100" in text


def test_forbidden_negative_balance(book):
    # A balanced transaction that overdraws the worker: only the CHECK stood in the way.
    with raw_sql_without(
        constraints=(("payouts_ledgeraccount", "ledger_account_balance_non_negative"),)
    ) as cursor:
        txn = insert_txn(cursor, "raw-overdraw")
        insert_entry(cursor, txn, book["worker"], -150)
        insert_entry(cursor, txn, book["escrow"], 150)
    names, text = failing_check()
    assert names == {"forbidden_negative_balance"}
    assert f"account {book['worker'].pk} (worker_available" in text and "is at -50 cents" in text


def test_negative_allowed_on_wrong_kind(book):
    with raw_sql_without(
        triggers=(ACCOUNT_GUARD,),
        constraints=(("payouts_ledgeraccount", "ledger_account_only_clearing_negative"),),
    ) as cursor:
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET allow_negative = true WHERE id = %s",
            [book["requester"].pk],
        )
    names, _ = failing_check()
    assert names == {"negative_allowed_on_wrong_kind"}


def test_duplicate_idempotency_key(book):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'payouts_ledgertransaction'::regclass"
            " AND contype = 'u' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute"
            "  WHERE attrelid = 'payouts_ledgertransaction'::regclass AND attname = 'idempotency_key')]"
        )
        (unique_key,) = cursor.fetchone()
    with raw_sql_without(constraints=(("payouts_ledgertransaction", unique_key),)) as cursor:
        cursor.execute(
            "DROP INDEX IF EXISTS payouts_ledgertransaction_idempotency_key_c795805f_like"
        )
        dup = insert_txn(cursor, "hold-batch-1")
        insert_entry(cursor, dup, book["clearing"], -1)
        insert_entry(cursor, dup, book["requester"], 1)
    names, text = failing_check()
    assert names == {"duplicate_idempotency_key"}
    assert (
        "VIOLATION duplicate_idempotency_key: idempotency key hold-batch-1 is used by 2 transactions"
        in text
    )


def test_zero_amount_entry(book):
    with raw_sql_without(
        constraints=(("payouts_ledgerentry", "ledger_entry_amount_non_zero"),)
    ) as cursor:
        insert_entry(cursor, book["settle"].pk, book["escrow"], 0)
    names, text = failing_check()
    assert names == {"zero_amount_entry"}
    assert f"of transaction {book['settle'].pk} is 0 cents" in text


def test_reversal_mismatch(book):
    # Balanced and within funds, but not the negation of what it claims to reverse.
    original = book["settle"]
    with connection.cursor() as cursor:
        fake = insert_txn(cursor, "raw-fake-reversal", reverses=original.pk)
        insert_entry(cursor, fake, book["worker"], -100)
        insert_entry(cursor, fake, book["escrow"], 100)
    names, text = failing_check()
    assert names == {"reversal_mismatch"}
    assert f"transaction {fake} reverses {original.pk}" in text


def test_every_violation_is_listed_not_just_the_first(book):
    with raw_sql_without(
        triggers=(ENTRY_BALANCED, ACCOUNT_GUARD),
        constraints=(("payouts_ledgerentry", "ledger_entry_amount_non_zero"),),
    ) as cursor:
        insert_entry(cursor, book["settle"].pk, book["escrow"], 0)
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET balance_cents = 1 WHERE id = %s",
            [book["requester"].pk],
        )
    names, _ = failing_check()
    assert names == {"zero_amount_entry", "balance_mismatch", "ledger_total_not_zero"}


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_checks_one_snapshot(requester):
    # Not inside the test's atomic block: the command opens its own REPEATABLE READ one.
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=5000)
    out, _ = run_check()
    assert out.startswith("OK: all 9 ledger checks passed (2 accounts, 1 transactions, 2 entries)")
    assert not connection.in_atomic_block
