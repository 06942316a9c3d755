"""What the database enforces by itself, with raw SQL that bypasses payouts.ledger.

The tests run as the runtime role (as the application does), so most direct edits are
refused for want of privilege before any trigger runs; the tests marked "as the owner"
show that the triggers refuse them too, for the role that does hold the privilege.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, ProgrammingError, connection, transaction

from payouts import ledger
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.fixtures.threads import at_once
from tests.payouts.ledger_helpers import owner_connection, run_deferred_checks


def constraint_of(exc: pytest.ExceptionInfo) -> str | None:
    return exc.value.__cause__.diag.constraint_name


def denied(exc: pytest.ExceptionInfo) -> bool:
    return isinstance(exc.value.__cause__, psycopg.errors.InsufficientPrivilege)


def insert_txn(cursor, key: str, *, reverses: int | None = None, kind: str = "transfer") -> int:
    cursor.execute(
        "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, reverses_id, created_at)"
        " VALUES (%s, %s, '', '', %s, now()) RETURNING id",
        [key, kind, reverses],
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
        txn = insert_txn(cursor, "raw-1", kind="deposit")
        insert_entry(cursor, txn, req, 700)
        insert_entry(cursor, txn, clearing, -700)
    # The balance trigger kept balance == sum(entries) without the service.
    assert (ledger.balance_cents(req), ledger.balance_cents(clearing)) == (700, -700)
    assert ledger.ledger_violations() == []


@pytest.mark.django_db(transaction=True)
def test_adding_an_entry_to_an_old_transaction_is_refused(requester):
    txn = ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=100)
    with pytest.raises(IntegrityError, match="sealed") as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            insert_entry(cursor, txn.pk, ledger.requester_account(requester), 5)
    assert constraint_of(exc) == "ledger_transaction_sealed"
    assert ledger.balance_cents(ledger.requester_account(requester)) == 100


def test_a_transaction_cannot_be_stamped_with_another_database_transaction(requester):
    # The stamp is the database's, whatever the INSERT says: a forged created_xact (say,
    # that of an old transaction) is overwritten, and entries then seal to this one.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref,"
            " created_at, created_xact) VALUES ('raw-stamp', 'deposit', '', '', now(), '1')"
            " RETURNING created_xact = pg_current_xact_id()"
        )
        assert cursor.fetchone()[0] is True
        transaction.set_rollback(True)  # an empty transaction would fail the commit check


def truncate_sql() -> str:
    return "TRUNCATE payouts_ledgerentry, payouts_ledgertransaction, payouts_ledgeraccount CASCADE"


def test_the_runtime_role_cannot_truncate_the_ledger(posted):
    with pytest.raises(ProgrammingError) as exc, transaction.atomic(), connection.cursor() as c:
        c.execute(truncate_sql())
    assert denied(exc)
    assert LedgerEntry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_as_the_owner_truncate_is_refused_unless_the_session_opts_in(requester):
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=100)
    for table in ("payouts_ledgerentry", "payouts_ledgertransaction", "payouts_ledgeraccount"):
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="TRUNCATE"):
            with owner_connection() as conn:
                conn.execute(f"TRUNCATE {table} CASCADE")
    # Truncating a table that the ledger references (CASCADE reaches the ledger) too.
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="TRUNCATE"):
        with owner_connection() as conn:
            conn.execute("TRUNCATE marketplace_user CASCADE")
    assert LedgerEntry.objects.count() == 2
    # The test suite's flush opts in (tests/testdb), as the owner.
    with owner_connection() as conn:
        conn.execute("SET fairtask.allow_ledger_truncate = 'on'")
        conn.execute(truncate_sql())
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
        "DELETE FROM payouts_ledgertransaction",
        "UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + 1",
        "UPDATE payouts_ledgeraccount SET ref = 'x'",
        "DELETE FROM payouts_ledgeraccount",
    ],
)
def test_the_runtime_role_may_not_edit_or_delete_ledger_rows(posted, sql):
    with pytest.raises(ProgrammingError) as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert denied(exc)
    assert LedgerEntry.objects.filter(transaction=posted).count() == 2


def test_what_the_runtime_role_may_update_the_triggers_refuse(posted):
    # UPDATE (memo) / UPDATE (created_at) are granted only so that SELECT ... FOR UPDATE
    # can lock rows; the append-only trigger and the account guard refuse the change.
    with pytest.raises(IntegrityError, match="append-only") as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE payouts_ledgertransaction SET memo = 'edited'")
    assert constraint_of(exc) == "ledger_append_only"
    with pytest.raises(IntegrityError, match="never change") as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE payouts_ledgeraccount SET created_at = now()")
    assert constraint_of(exc) == "ledger_account_guard"


def test_the_orm_cannot_delete_or_edit_either(posted):
    entry = posted.entries.first()
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerTransaction.objects.filter(pk=posted.pk).update(memo="x")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE payouts_ledgerentry SET amount_cents = amount_cents * 2", "append-only"),
        ("DELETE FROM payouts_ledgerentry", "append-only"),
        ("UPDATE payouts_ledgertransaction SET memo = 'edited'", "append-only"),
        ("DELETE FROM payouts_ledgertransaction", "append-only"),
        (
            "UPDATE payouts_ledgeraccount SET balance_cents = balance_cents + 1",
            "changes only by posting entries",
        ),
        ("UPDATE payouts_ledgeraccount SET balance_cents = -1", "changes only by posting entries"),
        ("UPDATE payouts_ledgeraccount SET ref = 'x'", "never change"),
        ("UPDATE payouts_ledgeraccount SET allow_negative = NOT allow_negative", "never change"),
        ("UPDATE payouts_ledgeraccount SET id = id + 1000", "never change"),
        ("UPDATE payouts_ledgeraccount SET created_at = now()", "never change"),
    ],
)
def test_as_the_owner_the_triggers_refuse_edits(requester, sql, message):
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=1000)
    with pytest.raises(psycopg.errors.IntegrityError, match=message):
        with owner_connection() as conn:
            conn.execute(sql)
    assert LedgerEntry.objects.count() == 2


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


@pytest.mark.django_db(transaction=True)
def test_the_negative_balance_check_holds_even_without_the_guard_trigger(requester):
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=1000)
    req = ledger.requester_account(requester)
    with pytest.raises(psycopg.errors.CheckViolation, match="ledger_account_balance_non_negative"):
        with owner_connection() as conn:
            conn.execute("ALTER TABLE payouts_ledgeraccount DISABLE TRIGGER ledger_account_guard")
            conn.execute(
                "UPDATE payouts_ledgeraccount SET balance_cents = -1 WHERE id = %s", [req.pk]
            )
    # stripe_clearing is the one account allowed below zero.
    with owner_connection() as conn:
        conn.execute("ALTER TABLE payouts_ledgeraccount DISABLE TRIGGER ledger_account_guard")
        conn.execute(
            "UPDATE payouts_ledgeraccount SET balance_cents = -5 WHERE kind = 'stripe_clearing'"
        )
        conn.rollback()


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


# --- Balances applied once per statement (migration 0010) ---------------------------------


def test_one_statement_of_many_entries_on_one_account_keeps_the_running_balance(
    posted, requester, worker
):
    """A set-based posting (as settlement writes): 40 transfers requester → worker in one
    INSERT of entries. Every entry's balance after is the running sum in id order and each
    account row is updated once for the statement, not once per entry."""
    req, wrk = ledger.requester_account(requester), ledger.worker_account(worker)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)"
            " SELECT 'raw-' || g, 'transfer', '', '', now() FROM generate_series(1, 40) g"
            " ORDER BY g RETURNING id"
        )
        txns = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'payouts_ledgeraccount'"
        )
        updates_before = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at)"
            " SELECT t, a, m, now() FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) u(t, a, m)",
            [
                [t for t in txns for _ in (0, 1)],
                [a for _ in txns for a in (req.pk, wrk.pk)],
                [m for i, _ in enumerate(txns, 1) for m in (-i, i)],
            ],
        )
        cursor.execute(
            "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'payouts_ledgeraccount'"
        )
        # Two accounts, one statement: two row updates (n_tup_upd counts HOT updates too).
        assert cursor.fetchone()[0] - updates_before == 2
    total = sum(range(1, 41))
    assert (ledger.balance_cents(req), ledger.balance_cents(wrk)) == (1000 - total, total)
    rows = list(
        LedgerEntry.objects.filter(account=wrk).order_by("id").values_list("balance_after_cents")
    )
    running = [sum(range(1, i + 1)) for i in range(1, 41)]
    assert [r[0] for r in rows] == running
    assert ledger.ledger_violations() == []


@pytest.mark.django_db(transaction=True)
def test_entries_that_disagree_with_the_balance_are_refused(requester):
    """The statement trigger compares each account's new balance with its newest entry's
    balance after. With the row trigger that computes it disabled (only the owner can),
    a made-up balance after is refused at that INSERT."""
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=1000)
    req, clearing = ledger.requester_account(requester), ledger.stripe_clearing_account()
    with pytest.raises(psycopg.errors.IntegrityError, match="disagrees with its newest entry"):
        with owner_connection() as conn:
            conn.execute("ALTER TABLE payouts_ledgerentry DISABLE TRIGGER ledger_entry_apply")
            txn = conn.execute(
                "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)"
                " VALUES ('raw-forged', 'transfer', '', '', now()) RETURNING id"
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents,"
                " balance_after_cents, created_at) VALUES (%s, %s, 5, 999999, now()),"
                " (%s, %s, -5, -1005, now())",
                [txn, req.pk, txn, clearing.pk],
            )
    assert ledger.balance_cents(req) == 1000
    assert ledger.ledger_violations() == []


@pytest.mark.django_db(transaction=True)
def test_raw_posts_that_take_no_lock_are_ordered_or_refused(requester, worker):
    """Eight threads insert entries on the same two accounts without locking them first
    (``ledger.post`` and settlement do). The row trigger's lock orders them; an entry
    whose id was drawn before another was posted is refused as a serialization failure.
    Whatever commits chains: each stored balance after is the running sum in id order."""
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=10_000)
    req, wrk = ledger.requester_account(requester), ledger.worker_account(worker)
    committed: list[int] = []

    def post(n: int) -> None:
        for i in range(10):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    txn = insert_txn(cursor, f"raw-{n}-{i}")
                    insert_entry(cursor, txn, req, -1)
                    insert_entry(cursor, txn, wrk, 1)
                committed.append(1)
            except OperationalError as exc:
                if not isinstance(exc.__cause__, psycopg.errors.SerializationFailure):
                    raise

    assert at_once([lambda n=n: post(n) for n in range(8)]) == [None] * 8
    n = len(committed)
    # A commit can refuse at most the 7 posts then waiting behind it: 80 <= 8 x commits.
    assert n >= 10
    assert (ledger.balance_cents(req), ledger.balance_cents(wrk)) == (10_000 - n, n)
    afters = list(
        LedgerEntry.objects.filter(account=wrk).order_by("id").values_list("balance_after_cents")
    )
    assert [a[0] for a in afters] == list(range(1, n + 1))
    assert ledger.ledger_violations() == []


@pytest.mark.django_db(transaction=True)
def test_posts_that_lock_first_all_commit_in_order(requester, worker):
    """The same eight threads through ``ledger.transfer`` (accounts locked before the
    insert): none is refused and every balance after chains."""
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=10_000)
    req, wrk = ledger.requester_account(requester), ledger.worker_account(worker)

    def post(n: int) -> None:
        for i in range(10):
            ledger.post(key=f"locked-{n}-{i}", kind="transfer", lines=[(req, -1), (wrk, 1)])

    assert at_once([lambda n=n: post(n) for n in range(8)]) == [None] * 8
    assert (ledger.balance_cents(req), ledger.balance_cents(wrk)) == (10_000 - 80, 80)
    afters = list(
        LedgerEntry.objects.filter(account=wrk).order_by("id").values_list("balance_after_cents")
    )
    assert [a[0] for a in afters] == list(range(1, 81))
    assert ledger.ledger_violations() == []
