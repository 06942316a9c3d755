"""Issue 14's attacks 1–7, made as an attacker with the application's database login
would: raw SQL on the suite's own connection, which is the runtime role's (see
tests/conftest.py). Each is refused by the database or named by ``ledger_check``.
"""

from __future__ import annotations

import io
from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from marketplace import services
from marketplace.db_roles import NO_DELETE_TABLES
from marketplace.models import Task
from payouts import ledger
from payouts.models import LedgerAccount, LedgerEntry
from tasks.models import Assignment
from tests.payouts.ledger_helpers import (
    approve_and_settle,
    deposit_through_stripe_records,
    published_batch,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sql(statement: str, params: list | tuple = ()) -> list[tuple]:
    """One statement in its own database transaction, committed (as an attacker would)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def forge(kind: str, key: str, lines: list[tuple[LedgerAccount, int]], ref: str = "") -> None:
    """A well-formed, balanced transaction inserted with raw SQL, committed."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)"
            " VALUES (%s, %s, '', %s, now()) RETURNING id",
            [key, kind, ref],
        )
        (txn_id,) = cursor.fetchone()
        for account, amount in sorted(lines, key=lambda line: -line[1]):
            cursor.execute(
                "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at)"
                " VALUES (%s, %s, %s, now())",
                [txn_id, account.pk, amount],
            )


def violations() -> tuple[set[str], str]:
    err = StringIO()
    with pytest.raises(CommandError, match="violation"):
        call_command("ledger_check", stdout=StringIO(), stderr=err)
    text = err.getvalue()
    return {line.split()[1].rstrip(":") for line in text.splitlines()}, text


def denied(exc: pytest.ExceptionInfo) -> bool:
    cause = exc.value.__cause__ if exc.value.__cause__ is not None else exc.value
    return isinstance(cause, psycopg.errors.InsufficientPrivilege)


def test_the_suite_runs_as_a_runtime_role_that_owns_nothing(db):
    (user, superuser, owned) = sql(
        "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
        " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "   WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        "     AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast%%')"
    )[0]
    assert (superuser, owned) == (False, 0), user
    for table in NO_DELETE_TABLES:
        for privilege in ("DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"):
            assert sql("SELECT has_table_privilege(%s, %s)", [table, privilege]) == [(False,)], (
                table,
                privilege,
            )
    for table in ("payouts_ledgeraccount", "payouts_ledgertransaction", "payouts_ledgerentry"):
        assert sql("SELECT has_table_privilege(%s, 'UPDATE')", [table]) == [(False,)], table
    assert sql(
        "SELECT has_column_privilege('payouts_ledgeraccount', 'balance_cents', 'UPDATE')"
    ) == [(False,)]


# --- 1. A balanced pair added to an old transaction ------------------------------------------


@pytest.mark.parametrize("victim", ["deposit", "settle"])
def test_1_a_balanced_pair_added_to_an_old_transaction_is_refused(
    requester, worker, tmp_path, settings, victim
):
    deposit = deposit_through_stripe_records(requester, 5000, "cs_1")
    batch = published_batch(requester, tmp_path, settings)
    _, settle = approve_and_settle(batch, worker, 0)
    old = deposit if victim == "deposit" else settle
    clearing, req = ledger.stripe_clearing_account(), ledger.requester_account(requester)
    revenue, wallet = ledger.platform_revenue_account(), ledger.worker_account(worker)
    pair = (
        [(req, 100_000), (clearing, -100_000)]
        if victim == "deposit"
        else [(wallet, 2), (revenue, -2)]
    )
    before = {a.pk: ledger.balance_cents(a) for a, _ in pair}
    with pytest.raises(IntegrityError, match="sealed") as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            for account, amount in pair:
                cursor.execute(
                    "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at)"
                    " VALUES (%s, %s, %s, now())",
                    [old.pk, account.pk, amount],
                )
    assert exc.value.__cause__.diag.constraint_name == "ledger_transaction_sealed"
    assert {a.pk: ledger.balance_cents(a) for a, _ in pair} == before
    assert LedgerEntry.objects.filter(transaction=old).count() == (2 if victim == "deposit" else 3)


# --- 2. A forged deposit with no Deposit behind it -------------------------------------------


def test_2_a_forged_deposit_is_named(requester):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    forge(
        "deposit",
        "deposit-cs_forged",
        [
            (ledger.requester_account(requester), 100_000),
            (ledger.stripe_clearing_account(), -100_000),
        ],
        ref="cs_forged",
    )
    names, text = violations()
    assert names == {"deposit_not_backed", "clearing_vs_deposits"}
    assert "(deposit-cs_forged) of 100000 cents has no Deposit behind it" in text


def test_2_a_deposit_credited_twice_or_to_another_user_is_named(requester, other_requester):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    # The Deposit row is the runtime role's to update (the webhook completes it); pointing
    # the credit at another requester's Deposit is named.
    txn = ledger.deposit(
        key="deposit-cs_2", user=other_requester, amount_cents=700, external_ref="cs_2"
    )
    sql(
        "INSERT INTO payouts_deposit (user_id, amount_cents, credited_cents, currency, status,"
        " checkout_session_id, checkout_url, ledger_transaction_id, created_at)"
        " VALUES (%s, 700, 700, 'usd', 'completed', 'cs_2', '', %s, now())",
        [requester.pk, txn.pk],
    )
    names, text = violations()
    assert names == {"deposit_not_backed"}
    assert f"the ledger credits usd 700 cents to user {other_requester.pk}" in text


# --- 3. Two accounts' ids swapped ------------------------------------------------------------------


def test_3_swapping_account_ids_is_refused(requester, other_requester):
    a = ledger.requester_account(requester)
    b = ledger.requester_account(other_requester)
    with pytest.raises(ProgrammingError) as exc:
        sql(
            "UPDATE payouts_ledgeraccount SET id = CASE id WHEN %s THEN %s ELSE %s END"
            " WHERE id IN (%s, %s)",
            [a.pk, b.pk, a.pk, a.pk, b.pk],
        )
    assert denied(exc)
    assert ledger.requester_account(requester).pk == a.pk
    # (As the owner, the guard trigger refuses it too: test_ledger_db.)


# --- 4. UPDATE of a balance from a trigger on a TEMP table --------------------------------------


def test_4_a_balance_update_from_a_temp_table_trigger_is_refused(requester):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    account = ledger.requester_account(requester)
    with pytest.raises(ProgrammingError) as exc:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE lever (n int)")
            cursor.execute(
                "CREATE FUNCTION pg_temp.pull() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN UPDATE public.payouts_ledgeraccount SET balance_cents = balance_cents + 100000"
                " WHERE id = ACCOUNT; RETURN NEW; END $$".replace("ACCOUNT", str(int(account.pk)))
            )
            cursor.execute(
                "CREATE TRIGGER pull AFTER INSERT ON lever FOR EACH ROW EXECUTE FUNCTION pg_temp.pull()"
            )
            cursor.execute("INSERT INTO lever VALUES (1)")  # pg_trigger_depth() = 1 inside
    assert denied(exc)
    assert ledger.balance_cents(account) == 5000


# --- 5. TRUNCATE ... CASCADE ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE payouts_ledgerentry, payouts_ledgertransaction, payouts_ledgeraccount CASCADE",
        "TRUNCATE payouts_ledgeraccount CASCADE",
        "TRUNCATE marketplace_user CASCADE",
        "TRUNCATE payouts_deposit CASCADE",
        "TRUNCATE payouts_stripeevent",
    ],
)
def test_5_truncate_is_refused(requester, statement):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    with pytest.raises(ProgrammingError) as exc:
        sql(statement)
    assert denied(exc)
    out = StringIO()
    call_command("ledger_check", stdout=out, stderr=StringIO())
    assert "(2 accounts, 1 transactions, 2 entries)" in out.getvalue()
    # (As the owner, the statement triggers refuse it: test_ledger_db.)


# --- 6. Switching the guarantees off -------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE payouts_ledgerentry DISABLE TRIGGER ledger_entry_balanced",
        "ALTER TABLE payouts_ledgerentry DISABLE TRIGGER ALL",
        "ALTER TABLE payouts_ledgeraccount DROP CONSTRAINT ledger_account_balance_non_negative",
        "DROP TRIGGER ledger_account_guard ON payouts_ledgeraccount",
        "CREATE OR REPLACE FUNCTION payouts_ledger_account_guard() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "SET session_replication_role = replica",
        "ALTER TABLE payouts_ledgeraccount ENABLE REPLICA TRIGGER ledger_account_guard",
    ],
)
def test_6_the_runtime_role_cannot_switch_the_guarantees_off(db, statement):
    with pytest.raises(ProgrammingError) as exc:
        sql(statement)
    assert denied(exc)


# --- 7. Escrow -----------------------------------------------------------------------------------


def test_7a_a_draft_flipped_to_published_without_a_hold_is_named(requester, tmp_path, settings):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    batch = published_batch(requester, tmp_path, settings)  # a sound one next to it
    other = services.batch_upload(
        project=batch.project,
        user=requester,
        fileobj=io.BytesIO(b"text,source\nhello,email\n"),
        filename="b.csv",
    )
    sql(
        "UPDATE marketplace_batch SET status = 'published', published_at = now(),"
        " expires_at = now() + interval '1 day', reward_cents = 10, fee_cents = 2,"
        " total_cost_cents = 12 WHERE id = %s",
        [other.pk],
    )
    names, text = violations()
    assert names == {"escrow_hold_vs_batch"}
    assert f"batch {other.pk} (published) has escrow_held_cents 0 and total 12 but no hold" in text


def test_7b_a_forged_release_out_of_a_live_batch_is_named(requester, worker, tmp_path, settings):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    batch = published_batch(requester, tmp_path, settings)
    approve_and_settle(batch, worker, 0)
    escrow = ledger.batch_escrow_account(batch.pk)
    forge(
        "release",
        f"release-batch-{batch.pk}-forged",
        [(escrow, -60), (ledger.requester_account(requester), 60)],
    )
    names, text = violations()
    assert names == {"escrow_live_batch"}
    assert f"batch {batch.pk} (published): escrow is 48 cents; held 120 − settled 12 = 108" in text


def test_7c_a_cancelled_batch_drained_below_what_its_work_is_owed_is_named(
    requester, worker, tmp_path, settings
):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    batch = published_batch(requester, tmp_path, settings)
    task = Task.objects.filter(batch=batch).order_by("row_number").first()
    Assignment.objects.create(
        task=task,
        batch=batch,
        worker=worker,
        status="submitted",
        accepted_at=timezone.now(),
        deadline=timezone.now() + timedelta(hours=1),
        submitted_at=timezone.now(),
        auto_approve_at=timezone.now(),
        reward_cents=batch.reward_cents,
        fee_cents=batch.fee_cents,
    )
    batch = services.batch_cancel(batch=batch, user=requester)
    escrow = ledger.batch_escrow_account(batch.pk)
    assert ledger.balance_cents(escrow) == 12  # what the submitted work is owed
    out = StringIO()
    call_command("ledger_check", stdout=out, stderr=StringIO())  # sound so far
    forge(
        "release",
        f"release-batch-{batch.pk}-drain",
        [(escrow, -12), (ledger.requester_account(requester), 12)],
    )
    names, text = violations()
    assert names == {"escrow_closed_batch"}
    assert f"batch {batch.pk} (cancelled): escrow is 0 cents but its work is still owed 12" in text
