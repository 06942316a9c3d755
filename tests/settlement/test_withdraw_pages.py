"""The worker's withdraw pages: connect through the simulator's onboarding, withdraw,
see it listed; errors are form errors that move nothing; only workers; no GET writes."""

from __future__ import annotations

import pytest

from payouts import ledger, withdrawals
from payouts.models import PayoutAccount, Withdrawal
from tests.fixtures.users import RequesterFactory, WorkerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    return stripe_sim


def _earned(worker, cents):
    requester = RequesterFactory()
    ledger.deposit(key=f"deposit-cs_{requester.pk}", user=requester, amount_cents=cents)
    ledger.bonus(
        key="bonus-page", requester=requester, worker=worker, amount_cents=cents, fee_cents=0
    )


def test_connect_withdraw_and_list(client, sim):
    worker = WorkerFactory()
    _earned(worker, 700)
    client.force_login(worker)
    page = client.get("/payouts/withdraw/")
    assert page.status_code == 200 and b"Connect with Stripe" in page.content
    assert not PayoutAccount.objects.exists()  # GET wrote nothing
    response = client.post("/payouts/withdraw/connect/")
    assert response.status_code == 302 and response["Location"].startswith(sim.base_url)
    account = PayoutAccount.objects.get(worker=worker)
    sim.complete_onboarding(account.stripe_account_id)
    client.post("/payouts/withdraw/refresh/")
    assert PayoutAccount.objects.get(worker=worker).payouts_enabled

    bad = client.post("/payouts/withdraw/", {"amount": "0.50"})
    assert bad.status_code == 400 and b"The minimum withdrawal is $1.00." in bad.content
    bad = client.post("/payouts/withdraw/", {"amount": "7.01"})
    assert bad.status_code == 400 and b"Not enough money" in bad.content
    assert ledger.worker_account(worker).balance_cents == 700

    ok = client.post("/payouts/withdraw/", {"amount": "5.00"})
    assert ok.status_code == 302
    w = Withdrawal.objects.get(worker=worker)
    assert w.amount_cents == 500 and ledger.worker_account(worker).balance_cents == 200
    again = client.post("/payouts/withdraw/", {"amount": "1.00"})
    assert again.status_code == 400 and b"already have a withdrawal" in again.content
    sim.fund_balance(10_000)
    assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "paid"
    listing = client.get("/payouts/withdraw/")
    assert b"Paid" in listing.content and b"$5.00" in listing.content


def test_requesters_cannot_use_the_withdraw_pages(client, sim):
    requester = RequesterFactory()
    client.force_login(requester)
    assert client.get("/payouts/withdraw/").status_code == 403
    assert client.post("/payouts/withdraw/connect/").status_code == 403
    assert client.get("/payouts/withdraw/connect/").status_code == 405
