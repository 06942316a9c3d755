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


def test_a_batch_short_of_funds_adds_the_shortfall_and_comes_back(
    page: Page, live_server, settings, stripe_sim
):
    import io

    from marketplace import services

    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    stripe_sim.set_webhook(live_server.url + "/payouts/stripe/webhook/", WEBHOOK_SECRET)
    requester = RequesterFactory(email="short@example.com")
    project = services.project_create(
        owner=requester,
        title="Backlog",
        template_kind="sentiment",
        reward_cents=10,
        estimated_seconds=30,
    )
    rows = "text\n" + "".join(f"review {i}\n" for i in range(100))
    batch = services.batch_upload(
        project=project, user=requester, filename="b.csv", fileobj=io.BytesIO(rows.encode())
    )  # 100 × (10¢ + 2¢) = $12.00, and the balance is $0.00

    page.goto(live_server.url + "/accounts/login/")
    page.locator("#id_login").fill("short@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    page.goto(f"{live_server.url}/requester/batches/{batch.pk}/")
    page.get_by_role("link", name="Add $12.00").click()
    expect(page.get_by_label("Amount (USD)")).to_have_value("12.00")
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("button", name="Pay $12.00").click()

    # Back at the batch once the payment is credited, ready to publish.
    expect(page).to_have_url(re.compile(rf"/requester/batches/{batch.pk}/$"), timeout=15_000)
    expect(page.get_by_text("$12.00 added to your balance; balance now $12.00.")).to_be_visible()
    expect(page.get_by_text("Your balance: $12.00. Publishing holds $12.00")).to_be_visible()
    page.get_by_role("link", name="Publish…").click()
    page.get_by_role("button", name="Publish and hold $12.00").click()
    expect(page.get_by_text("Published: $12.00 is held in the batch's escrow")).to_be_visible()
