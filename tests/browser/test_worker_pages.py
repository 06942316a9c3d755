"""Every worker page, at a desktop width (1280 px) and a phone width (390 px), the
sibling of test_requester_pages: it fits the screen (nothing scrolls sideways, no table
hides a column behind a sideways scroll of its own on a phone, no cell or control ends
past the right edge), no amount is broken over two lines, axe-core finds no serious or
critical violation, and a screenshot of each is kept in
var/screenshots/<width>/worker-<page>.png for a person to look at.

The worker has two weeks of history (approved, rejected with a note, waiting for
review, a bonus), accepted tasks in the queue, a running sprint timer, and goes from no
payout account to a connected one with a paid and an in-flight withdrawal while the
test walks the pages: all made through the services a real worker's work goes through.

Run alone to refresh the screenshots:
``.venv/bin/pytest tests/browser/test_worker_pages.py -q``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from payouts import ledger, withdrawals
from payouts.demo import demo_withdrawal
from payouts.models import Withdrawal
from tasks import preferences, review
from tasks.demo import seed_worker_history
from tasks.models import Assignment, AssignmentStatus
from tests.browser.pages import WIDTHS, page_problems
from tests.browser.test_worker_journey import publish
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import PASSWORD, RequesterFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "wpages@example.com"


@pytest.fixture
def worker_pages(db, settings, stripe_sim):
    """A worker with a bit of everything, and the steps that connect a payout account
    and withdraw (run between page loads, see ``_pages``)."""
    settings.STRIPE_API_BASE = stripe_sim.base_url
    stripe_sim.fund_balance(100_000)  # the platform can pay the transfers
    acme = RequesterFactory(display_name="Acme Customer Research Laboratories")
    nord = RequesterFactory(display_name="Nordlicht")
    for n, r in enumerate([acme, nord]):
        ledger.deposit(key=f"wpages-deposit-{n}", user=r, amount_cents=20_000)
    worker = WorkerFactory(email=EMAIL, display_name="Wanda")
    # Two weeks of past work on each requester's "past work" project (reviewed, settled).
    assert seed_worker_history(workers=[worker], requesters=[acme, nord]) > 10
    tickets = publish(
        acme,
        rows="text,source\n"
        + "".join(
            f"Ticket {i}: my refund has not arrived after three weeks,mail\n" for i in range(8)
        ),
        title="Classify customer support tickets from the spring campaign by their main intent",
        template_kind="text_classification",
        template_config={"labels": ["Question", "Complaint", "Refund request", "Other"]},
        instructions="Pick the one label that fits best.",
        keywords="support, tickets, text",
        reward_cents=25,
        estimated_seconds=30,
    )
    reviews = publish(
        nord,
        rows="text,source\n" + "".join(f"Review {i}: arrived on time,shop\n" for i in range(6)),
        title="Rate product reviews",
        template_kind="sentiment",
        reward_cents=1_250,
        estimated_seconds=600,
    )
    publish(
        nord,
        rows="query,result\n" + "".join(f"boots {i},Winter boots size {i}\n" for i in range(5)),
        title="Judge search results",
        template_kind="relevance",
        reward_cents=4,
        estimated_seconds=15,
    )
    tickets_batch = tickets.batches.get()
    reviews_batch = reviews.batches.get()
    accepted = make_assignment(tickets_batch, "accepted", worker=worker)
    make_assignment(reviews_batch, "accepted", worker=worker)
    make_assignment(tickets_batch, "submitted", worker=worker, answers={"label": "Complaint"})
    approved = Assignment.objects.filter(worker=worker, status=AssignmentStatus.APPROVED).first()
    assert approved is not None
    review.assignment_bonus(
        requester=approved.batch.project.owner,
        assignment_id=approved.pk,
        amount_cents=500,
        reason="Careful work on the hard messages; thank you",
    )
    preferences.sprint_start(user=worker)

    def connect_and_withdraw(site: str) -> None:
        paid = demo_withdrawal(worker=worker, amount_cents=100, site_url=site)
        assert paid is not None
        assert withdrawals.withdrawal_transfer(withdrawal_id=paid.pk) == "paid"

    def withdraw_again(site: str) -> None:
        withdrawals.withdrawal_request(worker=worker, amount_cents=150)
        assert Withdrawal.objects.filter(worker=worker).count() == 2

    return {
        "tickets": tickets,
        "accepted": accepted,
        "connect_and_withdraw": connect_and_withdraw,
        "withdraw_again": withdraw_again,
    }


Step = Callable[[str], Any] | None


def _pages(data) -> list[tuple[str, str, Step]]:
    """(name, path, what happens before the page loads)."""
    return [
        ("browse", "/work/", None),
        (
            "browse-filtered",
            "/work/?q=tickets&min_hourly=10&min_reward=0.05&max_minutes=5"
            "&kind=text_classification&sort=reward",
            None,
        ),
        ("browse-nothing", "/work/?q=lighthouse+inspection&min_hourly=200", None),
        ("preview", f"/work/projects/{data['tickets'].pk}/", None),
        ("assignment", f"/work/assignments/{data['accepted'].pk}/", None),
        ("queue", "/work/queue/", None),
        ("dashboard", "/work/dashboard/", None),
        ("earnings", "/work/earnings/", None),
        ("withdraw-unconnected", "/payouts/withdraw/", None),
        ("withdraw-connected", "/payouts/withdraw/", data["connect_and_withdraw"]),
        ("withdraw-in-flight", "/payouts/withdraw/", data["withdraw_again"]),
        ("statement", "/payouts/statement/", None),
        ("account-email", "/accounts/email/", None),
        ("account-password", "/accounts/password/change/", None),
        ("account-2fa", "/accounts/2fa/", None),
    ]


def _log_in(page: Page, site: str) -> None:
    page.goto(site + "/accounts/login/")
    page.locator("#id_login").fill(EMAIL)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_role("heading", name="Find work")).to_be_visible()


@pytest.mark.parametrize("screen", list(WIDTHS))
def test_every_worker_page_fits_and_passes_axe(open_context, live_server, worker_pages, screen):
    context = open_context(viewport={"width": WIDTHS[screen], "height": 900})
    page = context.new_page()
    site = live_server.url
    _log_in(page, site)
    problems = []
    for name, path, before in _pages(worker_pages):
        if before is not None:
            before(site)
        response = page.goto(site + path)
        assert response is not None and response.status == 200, (path, response)
        page.wait_for_load_state("networkidle")
        problems += page_problems(page, screen=screen, name=f"worker-{name}", label=name)
    assert problems == [], "\n".join(problems)
