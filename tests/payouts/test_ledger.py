"""The ledger services (payouts/ledger.py): exact amounts, idempotency, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.db import transaction

from core.errors import ApplicationError
from marketplace.models import User
from payouts import ledger
from payouts.ledger import AlreadyReversed, IdempotencyConflict, InsufficientFunds, InvalidAmount
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payouts.withdrawals import withdrawal_in_flight_account
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.payouts.ledger_helpers import balances, run_deferred_checks

pytestmark = pytest.mark.django_db

Kind = LedgerAccount.Kind


def entries_of(txn: LedgerTransaction) -> list[tuple[str, int]]:
    return sorted((str(e.account), e.amount_cents) for e in txn.entries.select_related("account"))


def counts() -> tuple[int, int, int]:
    return (
        LedgerAccount.objects.count(),
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
    )


# --- Accounts ----------------------------------------------------------------------------


def test_accounts_are_created_once_with_their_kind(requester, worker):
    r = ledger.requester_account(requester)
    assert ledger.requester_account(requester) == r
    assert (r.kind, r.owner, r.ref, r.allow_negative, r.balance_cents, r.currency) == (
        Kind.REQUESTER_AVAILABLE,
        requester,
        "",
        False,
        0,
        "usd",
    )
    w = ledger.worker_account(worker)
    assert (w.kind, w.owner) == (Kind.WORKER_AVAILABLE, worker)
    assert ledger.worker_account(requester) != r  # same user, other kind: another account
    e = ledger.batch_escrow_account(7)
    assert (e.kind, e.owner, e.ref) == (Kind.BATCH_ESCROW, None, "batch:7")
    assert ledger.batch_escrow_account(7) == e
    assert ledger.batch_escrow_account(8) != e
    assert ledger.platform_revenue_account() == ledger.platform_revenue_account()
    clearing = ledger.stripe_clearing_account()
    assert (clearing.kind, clearing.allow_negative) == (Kind.STRIPE_CLEARING, True)
    assert ledger.stripe_clearing_account() == clearing
    assert LedgerAccount.objects.count() == 7


@pytest.mark.parametrize("batch_id", [0, -1, True, "3", 1.0, None])
def test_batch_escrow_needs_a_positive_integer_id(batch_id):
    with pytest.raises(ValueError, match="batch_id"):
        ledger.batch_escrow_account(batch_id)


def test_user_accounts_need_a_saved_user():
    with pytest.raises(ValueError, match="saved user"):
        ledger.requester_account(User(email="unsaved@example.com"))
    with pytest.raises(ValueError, match="saved user"):
        ledger.worker_account(None)


# --- Flows with exact amounts -----------------------------------------------------------------


def test_deposit_moves_money_from_stripe_clearing_to_the_requester(requester):
    txn = ledger.deposit(
        key="deposit-cs_1", user=requester, amount_cents=5000, external_ref="cs_1", memo="top-up"
    )
    assert (txn.kind, txn.idempotency_key, txn.external_ref, txn.memo) == (
        "deposit",
        "deposit-cs_1",
        "cs_1",
        "top-up",
    )
    assert entries_of(txn) == sorted(
        [
            (str(ledger.requester_account(requester)), 5000),
            (str(ledger.stripe_clearing_account()), -5000),
        ]
    )
    assert ledger.balance_cents(ledger.requester_account(requester)) == 5000
    assert ledger.balance_cents(ledger.stripe_clearing_account()) == -5000


def test_hold_release_settle_to_the_cent(funded_requester, worker):
    requester = funded_requester
    req, escrow = ledger.requester_account(requester), ledger.batch_escrow_account(3)
    ledger.hold(key="hold-batch-3", user=requester, batch_id=3, amount_cents=1200)
    assert (ledger.balance_cents(req), ledger.balance_cents(escrow)) == (3800, 1200)

    settle = ledger.settle(
        key="settle-41", batch_id=3, worker=worker, reward_cents=100, fee_cents=20
    )
    assert settle.kind == "settle"
    assert sorted(settle.entries.values_list("amount_cents", flat=True)) == [-120, 20, 100]
    assert ledger.balance_cents(escrow) == 1080
    assert ledger.balance_cents(ledger.worker_account(worker)) == 100
    assert ledger.balance_cents(ledger.platform_revenue_account()) == 20

    ledger.release(key="release-batch-3-cancel", user=requester, batch_id=3, amount_cents=1080)
    assert (ledger.balance_cents(req), ledger.balance_cents(escrow)) == (4880, 0)
    assert ledger.balance_cents(ledger.stripe_clearing_account()) == -5000
    assert sum(balances().values()) == 0
    run_deferred_checks()
    assert ledger.ledger_violations() == []


def test_settle_with_a_zero_fee_writes_no_revenue_entry(funded_requester, worker):
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=10)
    txn = ledger.settle(key="settle-1", batch_id=1, worker=worker, reward_cents=10, fee_cents=0)
    assert sorted(txn.entries.values_list("amount_cents", flat=True)) == [-10, 10]
    assert not LedgerAccount.objects.filter(
        kind=Kind.PLATFORM_REVENUE, entries__isnull=False
    ).exists()


def test_withdrawal_and_failed_withdrawal(funded_requester, worker):
    # As docs/money.md describes them: the request moves the money into flight, a failed
    # withdrawal reverses the request, a paid one moves it on to Stripe clearing.
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=600)
    ledger.settle(key="settle-1", batch_id=1, worker=worker, reward_cents=500, fee_cents=100)
    wallet, in_flight = ledger.worker_account(worker), withdrawal_in_flight_account(worker)
    clearing = ledger.stripe_clearing_account()
    out = ledger.transfer(
        key="withdrawal-9",
        source=wallet,
        destination=in_flight,
        amount_cents=500,
        kind="withdrawal",
    )
    assert out.kind == "withdrawal"
    assert (ledger.balance_cents(wallet), ledger.balance_cents(in_flight)) == (0, 500)
    with pytest.raises(InsufficientFunds):
        ledger.transfer(
            key="withdrawal-10",
            source=wallet,
            destination=in_flight,
            amount_cents=1,
            kind="withdrawal",
        )
    back = ledger.reverse(key="withdrawal-9-failed", transaction=out)
    assert (back.kind, back.reverses) == ("reverse", out)
    assert (ledger.balance_cents(wallet), ledger.balance_cents(in_flight)) == (500, 0)
    ledger.transfer(
        key="withdrawal-11",
        source=wallet,
        destination=in_flight,
        amount_cents=500,
        kind="withdrawal",
    )
    ledger.transfer(
        key="withdrawal-paid-11",
        source=in_flight,
        destination=clearing,
        amount_cents=500,
        kind="withdrawal",
    )
    assert (ledger.balance_cents(wallet), ledger.balance_cents(in_flight)) == (0, 0)
    assert ledger.balance_cents(clearing) == -5000 + 500


def test_bonus_with_its_fee_in_one_transaction(funded_requester, worker):
    # The bonus flow of docs/money.md, written with post().
    txn = ledger.post(
        key="bonus-3",
        kind="bonus",
        lines=[
            (ledger.requester_account(funded_requester), -(250 + 50)),
            (ledger.worker_account(worker), 250),
            (ledger.platform_revenue_account(), 50),
        ],
        memo="Bonus: great answers",
    )
    assert txn.kind == "bonus"
    assert ledger.balance_cents(ledger.requester_account(funded_requester)) == 4700
    assert ledger.balance_cents(ledger.worker_account(worker)) == 250
    assert ledger.balance_cents(ledger.platform_revenue_account()) == 50


def test_transfer_refuses_one_account_and_unknown_kinds(funded_requester):
    req = ledger.requester_account(funded_requester)
    with pytest.raises(ValueError, match="two different accounts"):
        ledger.transfer(key="t-1", source=req, destination=req, amount_cents=1)
    with pytest.raises(ValueError, match="unknown ledger transaction kind 'gift'"):
        ledger.transfer(
            key="t-1",
            source=req,
            destination=ledger.platform_revenue_account(),
            amount_cents=1,
            kind="gift",
        )
    assert LedgerTransaction.objects.count() == 1


def test_post_refreshes_the_balances_of_the_accounts_passed_in(funded_requester):
    req, escrow = ledger.requester_account(funded_requester), ledger.batch_escrow_account(1)
    ledger.post(key="hold-batch-1", kind="hold", lines=[(req, -700), (escrow, 700)])
    assert (req.balance_cents, escrow.balance_cents) == (4300, 700)


def test_an_account_may_appear_twice_in_one_transaction(funded_requester):
    # Net -5000 on the requester; written credits first so the row-by-row balance CHECK
    # never sees an intermediate overdraft.
    req, escrow = ledger.requester_account(funded_requester), ledger.batch_escrow_account(1)
    ledger.post(key="odd", kind="transfer", lines=[(req, -6000), (req, 1000), (escrow, 5000)])
    assert (ledger.balance_cents(req), ledger.balance_cents(escrow)) == (0, 5000)


# --- Idempotency ------------------------------------------------------------------------------


def test_same_key_twice_is_one_transaction(requester):
    first = ledger.deposit(
        key="deposit-cs_1", user=requester, amount_cents=5000, external_ref="cs_1"
    )
    before = counts()
    again = ledger.deposit(
        key="deposit-cs_1", user=requester, amount_cents=5000, external_ref="cs_1", memo="retry"
    )
    assert again.pk == first.pk
    assert again.memo == ""  # the first transaction, untouched
    assert counts() == before
    assert ledger.balance_cents(ledger.requester_account(requester)) == 5000


def test_same_key_for_a_hold_settle_and_release_returns_the_first(funded_requester, worker):
    hold = ledger.hold(key="hold-batch-2", user=funded_requester, batch_id=2, amount_cents=300)
    assert (
        ledger.hold(key="hold-batch-2", user=funded_requester, batch_id=2, amount_cents=300) == hold
    )
    settle = ledger.settle(
        key="settle-5", batch_id=2, worker=worker, reward_cents=100, fee_cents=20
    )
    assert (
        ledger.settle(key="settle-5", batch_id=2, worker=worker, reward_cents=100, fee_cents=20)
        == settle
    )
    release = ledger.release(
        key="release-batch-2-expired", user=funded_requester, batch_id=2, amount_cents=180
    )
    assert (
        ledger.release(
            key="release-batch-2-expired", user=funded_requester, batch_id=2, amount_cents=180
        )
        == release
    )
    assert ledger.balance_cents(ledger.requester_account(funded_requester)) == 4880
    assert LedgerTransaction.objects.count() == 4


@pytest.mark.parametrize(
    "retry",
    [
        {"amount_cents": 5001, "external_ref": "cs_1"},  # different amount
        {"amount_cents": 5000, "external_ref": "cs_2"},  # different external ref
        {"amount_cents": 5000, "external_ref": "cs_1", "other_user": True},  # different account
    ],
    ids=["amount", "external_ref", "account"],
)
def test_same_key_with_different_lines_is_a_conflict(requester, retry):
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=5000, external_ref="cs_1")
    before, money = counts(), balances()
    user = RequesterFactory() if retry.pop("other_user", False) else requester
    with pytest.raises(IdempotencyConflict) as exc:
        ledger.deposit(key="deposit-cs_1", user=user, **retry)
    assert exc.value.code == "idempotency_conflict"
    assert "'deposit-cs_1'" in exc.value.message
    assert counts()[1:] == before[1:]
    assert {k: v for k, v in balances().items() if v} == {k: v for k, v in money.items() if v}


def test_same_key_with_another_kind_is_a_conflict(funded_requester):
    req, escrow = ledger.requester_account(funded_requester), ledger.batch_escrow_account(1)
    ledger.post(key="k", kind="hold", lines=[(req, -5), (escrow, 5)])
    with pytest.raises(IdempotencyConflict):
        ledger.post(key="k", kind="transfer", lines=[(req, -5), (escrow, 5)])


# --- Refusals -------------------------------------------------------------------------------------


def test_insufficient_funds_says_what_is_available_and_changes_nothing(funded_requester):
    before, money = counts(), balances()
    with pytest.raises(InsufficientFunds) as exc:
        ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=5001)
    err = exc.value
    assert isinstance(err, ApplicationError)
    assert (err.code, err.status, err.available_cents, err.needed_cents) == (
        "insufficient_funds",
        409,
        5000,
        5001,
    )
    assert (
        err.message
        == "Not enough money in the requester's available balance: $50.00 available, $50.01 needed."
    )
    assert err.extra["available_cents"] == 5000
    # The escrow account may now exist (created before the lock) but nothing moved.
    assert counts()[1:] == before[1:]
    assert {k: v for k, v in balances().items() if v} == {k: v for k, v in money.items() if v}
    assert ledger.balance_cents(ledger.requester_account(funded_requester)) == 5000


def test_insufficient_funds_leaves_the_callers_transaction_usable(funded_requester):
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=9999)
        ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=5000)
    assert ledger.balance_cents(ledger.requester_account(funded_requester)) == 0


def test_escrow_cannot_pay_out_more_than_it_holds(funded_requester, worker):
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=100)
    with pytest.raises(
        InsufficientFunds, match=r"escrow of batch 1: \$1.00 available, \$1.01 needed"
    ):
        ledger.settle(key="settle-1", batch_id=1, worker=worker, reward_cents=100, fee_cents=1)
    with pytest.raises(InsufficientFunds):
        ledger.release(
            key="release-batch-1-cancel", user=funded_requester, batch_id=1, amount_cents=101
        )
    assert ledger.balance_cents(ledger.batch_escrow_account(1)) == 100


def test_stripe_clearing_may_go_negative_without_limit(requester):
    ledger.deposit(key="deposit-big", user=requester, amount_cents=ledger.MAX_AMOUNT_CENTS)
    assert ledger.balance_cents(ledger.stripe_clearing_account()) == -ledger.MAX_AMOUNT_CENTS


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "at least 1 cent; got 0"),
        (-5, "at least 1 cent; got -5"),
        (True, "whole number of cents, not bool"),
        (1.5, "whole number of cents, not float"),
        (Decimal("1"), "whole number of cents, not Decimal"),
        ("100", "whole number of cents, not str"),
        (10**15 + 1, "at most 1000000000000000 cents"),
    ],
)
def test_amounts_are_positive_whole_cents(requester, amount, message):
    for call in (
        lambda: ledger.deposit(key="d", user=requester, amount_cents=amount),
        lambda: ledger.hold(key="h", user=requester, batch_id=1, amount_cents=amount),
        lambda: ledger.release(key="r", user=requester, batch_id=1, amount_cents=amount),
        lambda: ledger.settle(
            key="s", batch_id=1, worker=requester, reward_cents=amount, fee_cents=0
        ),
    ):
        with pytest.raises(InvalidAmount, match=message) as exc:
            call()
        assert isinstance(exc.value, ValueError) and exc.value.code == "invalid_amount"
    assert LedgerTransaction.objects.count() == 0


@pytest.mark.parametrize(
    ("fee", "message"), [(-1, "fee_cents must be at least 0"), (False, "not bool")]
)
def test_settle_fee_may_be_zero_but_not_negative(funded_requester, worker, fee, message):
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=100)
    with pytest.raises(InvalidAmount, match=message):
        ledger.settle(key="settle-1", batch_id=1, worker=worker, reward_cents=10, fee_cents=fee)


def test_post_refuses_malformed_lines(funded_requester):
    req, escrow = ledger.requester_account(funded_requester), ledger.batch_escrow_account(1)
    with pytest.raises(ValueError, match="sum to 0 cents; these sum to 1"):
        ledger.post(key="k", kind="hold", lines=[(req, -5), (escrow, 6)])
    with pytest.raises(ValueError, match="at least two lines"):
        ledger.post(key="k", kind="hold", lines=[(req, 0)])
    with pytest.raises(InvalidAmount, match="cannot be 0 cents"):
        ledger.post(key="k", kind="hold", lines=[(req, 0), (escrow, 0)])
    with pytest.raises(InvalidAmount, match="not bool"):
        ledger.post(key="k", kind="hold", lines=[(req, True), (escrow, -1)])
    with pytest.raises(TypeError, match="saved LedgerAccount"):
        ledger.post(
            key="k", kind="hold", lines=[(LedgerAccount(kind="batch_escrow"), -5), (escrow, 5)]
        )
    with pytest.raises(TypeError, match="pair"):
        ledger.post(key="k", kind="hold", lines=[req, escrow])
    with pytest.raises(ValueError, match="idempotency key"):
        ledger.post(key="", kind="hold", lines=[(req, -5), (escrow, 5)])
    assert (
        LedgerTransaction._meta.get_field("idempotency_key").max_length
        == ledger.MAX_KEY_LENGTH
        == 200
    )
    with pytest.raises(ValueError, match="at most 200"):
        ledger.post(key="k" * 201, kind="hold", lines=[(req, -5), (escrow, 5)])
    assert LedgerTransaction.objects.count() == 1


# --- Reversal ---------------------------------------------------------------------------------------


def test_reverse_negates_every_entry(funded_requester, worker):
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=500)
    settle = ledger.settle(
        key="settle-1", batch_id=1, worker=worker, reward_cents=100, fee_cents=20
    )
    undo = ledger.reverse(key="reverse-settle-1", transaction=settle)
    assert (undo.kind, undo.reverses, undo.memo) == ("reverse", settle, "reversal of settle-1")
    assert sorted(undo.entries.values_list("account_id", "amount_cents")) == sorted(
        (a, -c) for a, c in settle.entries.values_list("account_id", "amount_cents")
    )
    assert ledger.balance_cents(ledger.batch_escrow_account(1)) == 500
    assert ledger.balance_cents(ledger.worker_account(worker)) == 0
    assert ledger.balance_cents(ledger.platform_revenue_account()) == 0
    settle.refresh_from_db()
    assert settle.reversed_by == undo


def test_reverse_is_idempotent_and_happens_once(funded_requester):
    deposit = LedgerTransaction.objects.get(idempotency_key="deposit-cs_fixture")
    undo = ledger.reverse(key="reverse-1", transaction=deposit)
    assert ledger.reverse(key="reverse-1", transaction=deposit) == undo
    with pytest.raises(
        AlreadyReversed, match="'deposit-cs_fixture' has already been reversed"
    ) as exc:
        ledger.reverse(key="reverse-2", transaction=deposit)
    assert exc.value.code == "already_reversed"
    other = ledger.deposit(key="deposit-cs_other", user=RequesterFactory(), amount_cents=1)
    with pytest.raises(IdempotencyConflict):
        ledger.reverse(key="reverse-1", transaction=other)
    assert LedgerTransaction.objects.filter(kind="reverse").count() == 1


def test_reversing_a_spent_deposit_is_refused(funded_requester):
    deposit = LedgerTransaction.objects.get(idempotency_key="deposit-cs_fixture")
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=1)
    with pytest.raises(InsufficientFunds, match=r"\$49.99 available, \$50.00 needed"):
        ledger.reverse(key="reverse-deposit", transaction=deposit)
    assert not LedgerTransaction.objects.filter(kind="reverse").exists()


def test_a_reversal_can_be_reversed_when_the_money_is_there(funded_requester):
    hold = ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=5000)
    undo = ledger.reverse(key="r1", transaction=hold)
    redo = ledger.reverse(key="r2", transaction=undo)
    assert redo.reverses == undo
    assert ledger.balance_cents(ledger.batch_escrow_account(1)) == 5000
    # Spend the money the next reversal would take back: refused.
    undo2 = ledger.reverse(key="r3", transaction=redo)
    ledger.hold(key="hold-batch-2", user=funded_requester, batch_id=2, amount_cents=1)
    with pytest.raises(InsufficientFunds):
        ledger.reverse(key="r4", transaction=undo2)


# --- Selectors ------------------------------------------------------------------------------------------


def test_statement_is_newest_first_with_running_balance(
    funded_requester, worker, django_assert_num_queries
):
    req = ledger.requester_account(funded_requester)
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=1200)
    ledger.hold(key="hold-batch-2", user=funded_requester, batch_id=2, amount_cents=300)
    ledger.release(
        key="release-batch-1-cancel", user=funded_requester, batch_id=1, amount_cents=1200
    )
    ledger.deposit(key="deposit-cs_2", user=funded_requester, amount_cents=25)
    with django_assert_num_queries(1):
        rows = [
            (e.transaction.idempotency_key, e.amount_cents, e.running_balance_cents)
            for e in ledger.statement(req)
        ]
    assert rows == [
        ("deposit-cs_2", 25, 4725),
        ("release-batch-1-cancel", 1200, 4700),
        ("hold-batch-2", -300, 3500),
        ("hold-batch-1", -1200, 3800),
        ("deposit-cs_fixture", 5000, 5000),
    ]
    assert rows[0][2] == ledger.balance_cents(req)

    # Pages and keyset pages keep the running balance of the whole history.
    page2 = Paginator(ledger.statement(req), 2).page(2)
    assert [(e.amount_cents, e.running_balance_cents) for e in page2] == [
        (-300, 3500),
        (-1200, 3800),
    ]
    first_two = list(ledger.statement(req)[:2])
    after = ledger.statement(req, before_id=first_two[-1].id)
    assert [e.running_balance_cents for e in after] == [3500, 3800, 5000]


def test_balance_reads_the_database_not_the_instance(funded_requester):
    req = ledger.requester_account(funded_requester)
    stale = LedgerAccount.objects.get(pk=req.pk)
    ledger.hold(key="hold-batch-1", user=funded_requester, batch_id=1, amount_cents=1)
    assert stale.balance_cents == 5000
    assert ledger.balance_cents(stale) == 4999


def test_worker_factory_user_can_hold_both_kinds(db):
    # A user may be worker and requester: two separate accounts, never mixed.
    both = WorkerFactory(is_requester=True)
    ledger.deposit(key="d", user=both, amount_cents=10)
    assert ledger.balance_cents(ledger.requester_account(both)) == 10
    assert ledger.balance_cents(ledger.worker_account(both)) == 0
