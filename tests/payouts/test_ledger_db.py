"""What the database enforces by itself, with raw SQL that bypasses payouts.ledger."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from payouts import ledger
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.payouts.ledger_helpers import raw_sql_without, run_deferred_checks


def constraint_of(exc: pytest.ExceptionInfo) -> str | None:
    return exc.value.__cause__.diag.constraint_name


def insert_txn(cursor, key: str, *, reverses: int | None = None) -> int:
    cursor.execute(
        "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, reverses_id, created_at)"
        " VALUES (%s, 'transfer', '', '', %s, now()) RETURNING id",
        [key, reverses],
    )
    return cursor.fetchone()[0]


def insert_entry(cursor, txn_id: int, account: LedgerAccount, amount: int) -> None:
    cursor.execute(
        "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at) VALUES (%s, %s, %s, now())",
        [txn_id, account.pk, amount],
    )


# --- Balanced at COMMIT (needs real commits) ----------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ((400, -500), "2 entries summing to -100 cents"),
        ((500,), "1 entries summing to 500 cents"),
        ((), "0 entries summing to 0 cents"),
    ],
    ids=["unbalanced", "one-entry", "no-entries"],
)
def test_an_unbalanced_transaction_is_refused_at_commit(requester, amounts, message):
    clearing, req = ledger.stripe_clearing_account(), ledger.requester_account(requester)
    with pytest.raises(IntegrityError, match=message) as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            txn = insert_txn(cursor, "raw-1")
            for account, amount in zip((req, clearing), amounts, strict=False):
                insert_entry(cursor, txn, account, amount)
            # Inside the transaction nothing has complained yet: the check is deferred.
    assert constraint_of(exc) == "ledger_transaction_balanced"
    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert ledger.balance_cents(req) == 0


@pytest.mark.django_db(transaction=True)
def test_a_balanced_raw_transaction_commits_and_moves_balances(requester):
    clearing, req = ledger.stripe_clearing_account(), ledger.requester_account(requester)
    with transaction.atomic(), connection.cursor() as cursor:
        txn = insert_txn(cursor, "raw-1")
        insert_entry(cursor, txn, req, 700)
        insert_entry(cursor, txn, clearing, -700)
    # The balance trigger kept balance == sum(entries) without the service.
    assert (ledger.balance_cents(req), ledger.balance_cents(clearing)) == (700, -700)
    assert ledger.ledger_violations() == []


@pytest.mark.django_db(transaction=True)
def test_adding_an_unbalancing_entry_to_an_old_transaction_is_refused(requester):
    txn = ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=100)
    with pytest.raises(IntegrityError, match="not balanced"):
        with transaction.atomic(), connection.cursor() as cursor:
            insert_entry(cursor, txn.pk, ledger.requester_account(requester), 5)
    assert ledger.balance_cents(ledger.requester_account(requester)) == 100


@pytest.mark.django_db(transaction=True)
def test_truncate_still_works(requester):
    # pytest-django flushes transactional tests with TRUNCATE: the row triggers must not block it.
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=100)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE payouts_ledgerentry, payouts_ledgertransaction, payouts_ledgeraccount CASCADE"
        )
    assert not LedgerAccount.objects.exists()


# --- Append-only, guards and CHECKs (refused at once) --------------------------------------------


@pytest.fixture
def posted(db, requester):
    return ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=1000)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE payouts_ledgerentry SET amount_cents = amount_cents * 2",
        "UPDATE payouts_ledgerentry SET created_at = now()",
        "DELETE FROM payouts_ledgerentry",
        "UPDATE payouts_ledgertransaction SET memo = 'edited'",
        "DELETE FROM payouts_ledgertransaction",
    ],
)
def test_entries_and_transactions_cannot_be_updated_or_deleted(posted, sql):
    with pytest.raises(IntegrityError, match="append-only") as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert constraint_of(exc) == "ledger_append_only"
    assert LedgerEntry.objects.filter(transaction=posted).count() == 2


def test_the_orm_cannot_delete_or_edit_either(posted):
    entry = posted.entries.first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerTransaction.objects.filter(pk=posted.pk).update(memo="x")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + 1",
            "changes only by posting entries",
        ),
        ("UPDATE payouts_ledgeraccount SET balance_cents = -1", "changes only by posting entries"),
        ("UPDATE payouts_ledgeraccount SET ref = 'x'", "never change"),
        ("UPDATE payouts_ledgeraccount SET allow_negative = NOT allow_negative", "never change"),
    ],
)
def test_account_balances_change_only_through_entries(posted, sql, message):
    with pytest.raises(IntegrityError, match=message) as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert constraint_of(exc) == "ledger_account_guard"


def test_a_new_account_starts_at_zero(db):
    with pytest.raises(IntegrityError, match="starts at 0") as exc, transaction.atomic():
        LedgerAccount.objects.create(kind="platform_revenue", balance_cents=100)
    assert constraint_of(exc) == "ledger_account_guard"


def test_an_entry_that_would_overdraw_is_refused_by_the_check(posted, requester):
    # Takes 1001¢ from a requester holding 1000¢: the balance trigger's UPDATE hits
    # CHECK (balance_cents >= 0 OR allow_negative) on that very insert, not at commit.
    req = ledger.requester_account(requester)
    with pytest.raises(IntegrityError) as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            txn = insert_txn(cursor, "raw-overdraw")
            insert_entry(cursor, txn, req, -1001)
    assert constraint_of(exc) == "ledger_account_balance_non_negative"
    assert ledger.balance_cents(req) == 1000


def test_the_negative_balance_check_holds_even_without_the_guard_trigger(posted, requester):
    req = ledger.requester_account(requester)
    with pytest.raises(IntegrityError) as exc:
        with raw_sql_without(
            triggers=(("payouts_ledgeraccount", "ledger_account_guard"),)
        ) as cursor:
            with transaction.atomic():
                cursor.execute(
                    "UPDATE payouts_ledgeraccount SET balance_cents = -1 WHERE id = %s", [req.pk]
                )
    assert constraint_of(exc) == "ledger_account_balance_non_negative"
    # stripe_clearing is the one account allowed below zero.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payouts_ledgeraccount SET balance_cents = -5 WHERE kind = 'stripe_clearing'"
        )


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        (
            {"kind": "requester_available", "allow_negative": True},
            "ledger_account_only_clearing_negative",
        ),
        (
            {"kind": "stripe_clearing", "allow_negative": False, "ref": "second"},
            "ledger_account_only_clearing_negative",
        ),
        ({"kind": "requester_available"}, "ledger_account_owner_matches_kind"),  # no owner
        ({"kind": "batch_escrow", "ref": "project:1"}, "ledger_account_owner_matches_kind"),
        ({"kind": "platform_revenue", "currency": "eur"}, "ledger_account_currency_usd"),
    ],
)
def test_account_shape_is_checked(db, fields, constraint):
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        LedgerAccount.objects.create(**fields)
    assert constraint_of(exc) == constraint


def test_platform_accounts_are_singletons_despite_null_owner(db):
    ledger.platform_revenue_account()
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        LedgerAccount.objects.create(kind="platform_revenue")
    assert constraint_of(exc) == "ledger_account_unique_kind_owner_ref"


def test_idempotency_keys_are_unique_in_the_database(posted):
    with (
        pytest.raises(IntegrityError, match="idempotency_key"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_txn(cursor, "deposit-cs_1")


def test_a_transaction_is_reversed_at_most_once_in_the_database(posted):
    ledger.reverse(key="reverse-1", transaction=posted)
    with (
        pytest.raises(IntegrityError, match="reverses_id"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        insert_txn(cursor, "reverse-2", reverses=posted.pk)


def test_zero_amount_entries_are_refused(posted):
    with pytest.raises(IntegrityError) as exc, transaction.atomic(), connection.cursor() as cursor:
        insert_entry(cursor, posted.pk, ledger.stripe_clearing_account(), 0)
    assert constraint_of(exc) == "ledger_entry_amount_non_zero"


def test_service_writes_pass_the_deferred_checks(posted, requester, worker):
    ledger.hold(key="hold-batch-1", user=requester, batch_id=1, amount_cents=10)
    ledger.settle(key="settle-1", batch_id=1, worker=worker, reward_cents=8, fee_cents=2)
    run_deferred_checks()
