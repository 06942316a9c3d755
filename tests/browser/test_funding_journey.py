"""A requester adds funds through Stripe Checkout (the simulator's hosted page) and
sees the balance and the statement line."""

import re

import pytest
from playwright.sync_api import Page, expect

from payouts.stripe_sim.testing import WEBHOOK_SECRET
from tests.fixtures.users import PASSWORD, RequesterFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_requester_adds_funds_through_checkout(page: Page, live_server, settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    stripe_sim.set_webhook(live_server.url + "/payouts/stripe/webhook/", WEBHOOK_SECRET)
    RequesterFactory(email="funder@example.com")

    page.goto(live_server.url + "/accounts/login/")
    page.locator("#id_login").fill("funder@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Add funds").click()
    expect(page.locator("#balance")).to_have_text("$0.00")

    page.get_by_label("Amount (USD)").fill("4.99")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_text("The minimum top-up is $5.00.")).to_be_visible()

    page.get_by_label("Amount (USD)").fill("25.50")
    page.screenshot(path="var/test-results/add-funds.png", full_page=True)
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(re.escape(stripe_sim.base_url) + r"/checkout/pay/cs_"))
    expect(page.get_by_role("heading", name="Pay $25.50")).to_be_visible()
    page.get_by_role("button", name="Pay $25.50").click()

    expect(page).to_have_url(re.compile(r"/payouts/funds/return/\?session_id=cs_"))
    # Processing first or already credited, depending on who won the race; the page
    # polls until the webhook has been applied.
    expect(page.get_by_text("$25.50 added to your balance.")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Balance now: $25.50")).to_be_visible()
    page.screenshot(path="var/test-results/funds-return.png", full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Statement").click()
    row = page.get_by_role("row").filter(has_text="Top-up via Stripe Checkout")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("$25.50")
    page.screenshot(path="var/test-results/statement.png", full_page=True)
