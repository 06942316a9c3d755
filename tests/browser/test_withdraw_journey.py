"""A worker with settled earnings connects a payout account through the simulator's
Connect onboarding page, withdraws, and sees the withdrawal paid."""

import pytest
from playwright.sync_api import Page, expect

from payouts import ledger, withdrawals
from payouts.models import Withdrawal
from tests.browser.pages import connect_payout_account
from tests.fixtures.users import PASSWORD, RequesterFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_connects_and_withdraws(page: Page, live_server, settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    worker = WorkerFactory(email="earner@example.com")
    requester = RequesterFactory()
    ledger.deposit(key="deposit-cs_journey", user=requester, amount_cents=2000)
    ledger.bonus(
        key="bonus-journey", requester=requester, worker=worker, amount_cents=1250, fee_cents=0
    )
    stripe_sim.fund_balance(100_000)

    page.goto(live_server.url + "/accounts/login/")
    page.locator("#id_login").fill("earner@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Withdraw").click()
    expect(page.locator("#balance")).to_have_text("$12.50")
    connect_payout_account(page)  # the simulator's hosted onboarding, then back to ours

    page.get_by_label("Amount (USD)").fill("0.99")
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.get_by_text("The minimum withdrawal is $1.00.")).to_be_visible()
    page.get_by_label("Amount (USD)").fill("10.00")
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.get_by_text("Withdrawal of $10.00 requested.")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("$2.50")

    w = Withdrawal.objects.get(worker=worker)
    assert withdrawals.withdrawal_transfer(withdrawal_id=w.pk) == "paid"  # the job's body
    page.reload()
    expect(page.get_by_role("row").filter(has_text="$10.00")).to_contain_text("Paid")
    page.screenshot(path="var/test-results/withdraw.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path="var/test-results/withdraw-390.png", full_page=True)
