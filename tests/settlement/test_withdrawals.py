"""Withdrawals through Stripe Connect (the simulator, with its faults): exactly one
transfer per withdrawal, balances right to the cent, bad input moves nothing."""

from __future__ import annotations

import pytest
import stripe
from django.core import mail

from core.errors import ApplicationError
from payouts import audit, funding, ledger, withdrawals
from payouts.models import LedgerTransaction, Withdrawal
from tests.fixtures.users import RequesterFactory, WorkerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    return stripe_sim


def _earned(worker, cents: int) -> None:
    """Money on the worker's balance (a bonus from a funded requester)."""
    requester = RequesterFactory()
    ledger.deposit(key=f"deposit-cs_{requester.pk}", user=requester, amount_cents=cents * 2)
    ledger.bonus(
        key=f"bonus-test-{worker.pk}",
        requester=requester,
        worker=worker,
        amount_cents=cents,
        fee_cents=0,
    )


def _connected(sim, worker) -> str:
    url = withdrawals.payout_account_link(
        worker=worker, return_url="http://testserver/r", refresh_url="http://testserver/f"
    )
    assert url.startswith(sim.base_url)
    account = worker.payout_account
    sim.complete_onboarding(account.stripe_account_id)
    withdrawals.payout_account_refresh(worker=worker)
    account.refresh_from_db()
    assert account.payouts_enabled
    return account.stripe_account_id


def _transfers(sim, account_id: str) -> list:
    client = stripe.StripeClient("sk_test_fairtask_simulator", base_addresses={"api": sim.base_url})
    return client.v1.transfers.list(params={"destination": account_id, "limit": 100}).data


def _in_flight_ok() -> bool:
    return audit.run().by_check["withdrawal_in_flight_vs_withdrawals"] == 0


def _balances(worker) -> tuple[int, int]:
    return (
        ledger.worker_account(worker).balance_cents,
        withdrawals.withdrawal_in_flight_account(worker).balance_cents,
    )


def test_withdrawal_paid_moves_money_once_and_emails(sim, django_capture_on_commit_callbacks):
    worker = WorkerFactory()
    _earned(worker, 1000)
    acct = _connected(sim, worker)
    sim.fund_balance(100_000)
    w = withdrawals.withdrawal_request(worker=worker, amount_cents=600)
    assert _balances(worker) == (400, 600)
    with django_capture_on_commit_callbacks(execute=True):
        assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "paid"
    w.refresh_from_db()
    assert w.status == "paid" and w.idempotency_key == f"withdrawal-{w.pk}"
    assert [e.new_status for e in w.events.all()] == ["requested", "processing", "paid"]
    assert _balances(worker) == (400, 0)
    (transfer,) = _transfers(sim, acct)
    assert transfer.amount == 600 and transfer.id == w.stripe_transfer_id
    assert ledger.stripe_clearing_account().balance_cents == -(2000 - 600)
    assert any("on its way" in m.subject for m in mail.outbox)
    # The job again, and every event Stripe sent, twice and in reverse order: no change.
    assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "paid"
    events = [e for e in sim.events() if e["type"].startswith("transfer.")]
    assert events
    for event in list(reversed(events)) * 2:
        funding.process_event(event)
    assert len(_transfers(sim, acct)) == 1
    assert _balances(worker) == (400, 0)
    assert LedgerTransaction.objects.filter(idempotency_key=f"withdrawal-paid-{w.pk}").count() == 1
    assert _in_flight_ok()
    assert ledger.ledger_violations() == []


def test_pending_stripe_funds_retry_later_without_failing(sim):
    worker = WorkerFactory()
    _earned(worker, 500)
    acct = _connected(sim, worker)
    w = withdrawals.withdrawal_request(worker=worker, amount_cents=500)
    with pytest.raises(withdrawals.StripeBalancePending):
        withdrawals.withdrawal_transfer(withdrawal_id=w.pk)
    w.refresh_from_db()
    assert w.status == "requested" and _balances(worker) == (0, 500)
    sim.fund_balance(10_000)
    assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "paid"
    assert len(_transfers(sim, acct)) == 1
    assert ledger.ledger_violations() == []


@pytest.mark.parametrize("mode", ["server_error", "lost_response"])
def test_stripe_500_or_lost_response_makes_one_transfer(sim, mode):
    worker = WorkerFactory()
    _earned(worker, 800)
    acct = _connected(sim, worker)
    sim.fund_balance(10_000)
    w = withdrawals.withdrawal_request(worker=worker, amount_cents=800)
    sim.inject_fault("POST", "/v1/transfers", mode)
    with pytest.raises((stripe.APIError, stripe.APIConnectionError)):
        withdrawals.withdrawal_transfer(withdrawal_id=w.pk)
    w.refresh_from_db()
    assert w.status == "requested" and _balances(worker) == (0, 800)
    if mode == "lost_response":
        # Stripe made the transfer: its webhook (or the reconcile pass) settles the state
        # before the job's retry, which then finds nothing to do.
        assert withdrawals.withdrawals_reconcile() == 1
        w.refresh_from_db()
        assert w.status == "paid"
    assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "paid"
    assert len(_transfers(sim, acct)) == 1
    assert _balances(worker) == (0, 0)
    assert ledger.ledger_violations() == []


def test_refused_transfer_fails_and_returns_the_money(sim, django_capture_on_commit_callbacks):
    worker = WorkerFactory()
    _earned(worker, 300)
    acct = _connected(sim, worker)
    sim.fund_balance(10_000)
    w = withdrawals.withdrawal_request(worker=worker, amount_cents=250)
    sim.inject_fault("POST", "/v1/transfers", "decline")
    with django_capture_on_commit_callbacks(execute=True):
        assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "failed"
    w.refresh_from_db()
    assert w.status == "failed" and w.failure_reason
    assert _balances(worker) == (300, 0)
    assert _transfers(sim, acct) == []
    assert any("failed" in m.subject for m in mail.outbox)
    assert ledger.ledger_violations() == []
    # Failed is final: a new withdrawal may be requested.
    withdrawals.withdrawal_request(worker=worker, amount_cents=300)


def test_bad_withdrawals_are_clear_errors_that_move_nothing(sim):
    worker = WorkerFactory()
    _earned(worker, 500)
    with pytest.raises(ApplicationError) as exc:
        withdrawals.withdrawal_request(worker=worker, amount_cents=200)
    assert exc.value.code == "not_connected"
    _connected(sim, worker)
    cases = [(99, "below_minimum"), (501, "insufficient_funds"), (0, "invalid_amount")]
    for amount, code in cases:
        with pytest.raises(ApplicationError) as exc:
            withdrawals.withdrawal_request(worker=worker, amount_cents=amount)
        assert exc.value.code == code
    assert _balances(worker) == (500, 0)
    withdrawals.withdrawal_request(worker=worker, amount_cents=100)
    with pytest.raises(ApplicationError) as exc:
        withdrawals.withdrawal_request(worker=worker, amount_cents=100)
    assert exc.value.code == "withdrawal_in_flight"
    assert _balances(worker) == (400, 100)
    assert Withdrawal.objects.count() == 1
    assert _in_flight_ok()
