"""From approval to money in the bank, in Chromium, with a real Celery worker doing the
background work: the requester bulk-approves on the review page, settlement (the job the
approval enqueues on commit) makes the money available on the worker's earnings pages,
the worker connects a payout account on the Stripe simulator's onboarding page,
withdraws, and sees the withdrawal paid once Stripe's pending card funds have become
available (the ``withdrawal_transfer`` job retries until then). The ledger audit is
clean at the end."""

from __future__ import annotations

from typing import cast

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from marketplace import services as batch_services
from marketplace.models import User
from payouts import audit, funding, ledger
from payouts.models import Deposit, Payable, Withdrawal
from tasks.models import Assignment
from tests.browser.pages import connect_payout_account
from tests.browser.test_requester_journey import log_in, shot
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.conftest import make_project, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=900)


@pytest.fixture
def jobs(request, monkeypatch, settings, stripe_sim):
    """A real Celery worker that talks to this test's Stripe simulator and retries a
    withdrawal waiting for pending Stripe funds every second (600 s in production)."""
    settings.STRIPE_API_BASE = stripe_sim.base_url
    monkeypatch.setenv("STRIPE_API_BASE", stripe_sim.base_url)
    monkeypatch.setenv("WITHDRAWAL_PENDING_RETRY", "1")
    return request.getfixturevalue("celery_worker")


def _fund_by_card(requester: User, stripe_sim, amount_cents: int) -> None:
    """The requester's top-up through Checkout: the card payment lands on the platform's
    Stripe balance as *pending* funds (Stripe's rule; the simulator's default)."""
    deposit = funding.deposit_start(
        user=requester, amount_cents=amount_cents, site_url="http://testserver"
    )
    stripe_sim.complete_checkout(deposit.checkout_session_id)
    for event in stripe_sim.events("checkout.session.completed"):
        funding.process_event(event)
    assert Deposit.objects.get(pk=deposit.pk).status == "completed"


def _both_sizes(page: Page, name: str) -> None:
    page.set_viewport_size(DESKTOP)
    shot(page, f"{name}-1280")
    page.set_viewport_size(PHONE)
    shot(page, f"{name}-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    # Nor does a table hide a column behind a sideways scroll of its own on a phone.
    cut_off = page.evaluate(
        "Array.from(document.querySelectorAll('.table-wrap'))"
        ".filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.textContent.slice(0, 60))"
    )
    assert cut_off == [], name
    page.set_viewport_size(DESKTOP)


def test_bulk_approval_to_a_paid_withdrawal(page: Page, open_context, site, stripe_sim, jobs):
    requester = cast(User, RequesterFactory(email="rosa@example.com"))
    worker = cast(User, WorkerFactory(email="wanda@example.com"))
    _fund_by_card(requester, stripe_sim, 2000)
    assert stripe_sim.pending() > 0 and stripe_sim.available() == 0
    # $1.25 reward + $0.25 fee per assignment; 6 tasks, one assignment each: $9.00.
    project = make_project(requester, reward_cents=125, estimated_seconds=60)
    content = "text\n" + "\n".join(f"Ticket {i}" for i in range(1, 7)) + "\n"
    batch = batch_services.batch_publish(batch=upload(project, requester, content), user=requester)
    mine = [
        make_assignment(batch, "submitted", worker=worker, answers={"label": "Question"})
        for _ in range(4)
    ]
    others = [make_assignment(batch, "submitted", answers={"label": "Other"}) for _ in range(2)]

    # The worker, before the review: $5.00 of work waits for review, nothing to withdraw.
    worker_page = open_context().new_page()
    log_in(worker_page, site, worker.email)
    worker_page.get_by_role("navigation", name="Main").get_by_role("link", name="Earnings").click()
    money = worker_page.get_by_role("list", name="Money")
    pending = money.locator("li").filter(has_text="Pending")
    available = money.locator("li").filter(has_text="Available")
    expect(pending).to_contain_text("$5.00")
    expect(pending).to_contain_text("4 waiting for review.")
    expect(available).to_contain_text("$0.00")

    # The requester approves all six at once.
    log_in(page, site, requester.email)
    page.goto(f"{site}/requester/batches/{batch.pk}/")
    page.get_by_role("link", name="Review work").click()
    expect(page.locator("table.review tbody tr")).to_have_count(6)
    _both_sizes(page, "payday-review")
    page.get_by_label("all 6 matching").check()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_text("Approved 6.")).to_be_visible()
    expect(page.get_by_text("Nothing matches.")).to_be_visible()
    _both_sizes(page, "payday-review-approved")

    # Settlement runs in the worker process (enqueued by the approval's commit).
    ids = [a.pk for a in mine + others]
    jobs.wait_for(
        lambda: (
            Payable.objects.filter(assignment_id__in=ids, settled_at__isnull=False).count() == 6
        ),
        timeout=60,
    )
    assert "payouts.jobs.settle_payables" in jobs.log()
    page.goto(f"{site}/requester/batches/{batch.pk}/")
    expect(page.locator("#p-approved")).to_have_text("6")
    expect(page.locator("#p-spend")).to_have_text("$9.00")
    expect(page.locator("#p-escrow")).to_have_text("$0.00")

    worker_page.reload()
    expect(available).to_contain_text("$5.00")
    expect(pending).to_contain_text("$0.00")
    expect(pending).to_contain_text("0 waiting for review.")
    expect(money.locator("li").filter(has_text="Lifetime")).to_contain_text("$5.00")
    _both_sizes(worker_page, "payday-dashboard")
    worker_page.get_by_role("link", name="See each decision").click()
    expect(worker_page.get_by_role("heading", name="Decisions and payments")).to_be_visible()
    expect(worker_page.locator("#available")).to_have_text("$5.00")
    expect(worker_page.locator("#pending")).to_have_text("$0.00")
    expect(worker_page.get_by_role("row").filter(has_text="(paid)")).to_have_count(4)
    _both_sizes(worker_page, "payday-earnings")

    # Connect a payout account on the simulator's onboarding page.
    worker_page.get_by_role("navigation", name="Main").get_by_role("link", name="Withdraw").click()
    expect(worker_page.locator("#balance")).to_have_text("$5.00")
    _both_sizes(worker_page, "payday-withdraw-unconnected")
    connect_payout_account(worker_page, onboarding_at=stripe_sim.base_url)

    # Withdraw $3.75: it leaves the balance at once; the transfer waits for Stripe.
    worker_page.get_by_label("Amount (USD)").fill("5.01")
    worker_page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(worker_page.get_by_text("Not enough money")).to_be_visible()
    expect(worker_page.locator("#balance")).to_have_text("$5.00")
    assert not Withdrawal.objects.filter(worker=worker).exists()
    worker_page.get_by_label("Amount (USD)").fill("3.75")
    worker_page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(worker_page.get_by_text("Withdrawal of $3.75 requested.")).to_be_visible()
    expect(worker_page.locator("#balance")).to_have_text("$1.25")
    expect(worker_page.locator("#in-flight")).to_contain_text("$3.75 is on its way")
    withdrawal = Withdrawal.objects.get(worker=worker)
    # The job has asked Stripe at least once and found the card funds still pending.
    jobs.wait_for(lambda: Withdrawal.objects.get(pk=withdrawal.pk).attempts >= 1, timeout=60)
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "requested"
    worker_page.reload()
    expect(worker_page.get_by_role("row").filter(has_text="$3.75")).to_contain_text(
        "Requested: being sent to Stripe"
    )
    _both_sizes(worker_page, "payday-withdraw-waiting")

    # Stripe makes the card funds available; the job's next retry pays.
    stripe_sim.release_pending()
    jobs.wait_for(lambda: Withdrawal.objects.get(pk=withdrawal.pk).status == "paid", timeout=60)
    worker_page.reload()
    expect(worker_page.get_by_role("row").filter(has_text="$3.75")).to_contain_text(
        "Paid to your Stripe account"
    )
    expect(worker_page.locator("#balance")).to_have_text("$1.25")
    expect(worker_page.get_by_label("Amount (USD)")).to_be_visible()  # may withdraw again
    _both_sizes(worker_page, "payday-withdraw-paid")

    # One transfer of exactly $3.75 to the worker's connected account; books clean.
    (transfer,) = [t for t in stripe_sim.objects("transfer")]
    assert transfer["amount"] == 375
    assert transfer["destination"] == worker.payout_account.stripe_account_id
    assert ledger.worker_balance_cents(worker) == 125
    assert set(Assignment.objects.filter(batch=batch).values_list("status", flat=True)) == {
        "approved"
    }
    assert ledger.ledger_violations() == []
    assert audit.run().violations == []
