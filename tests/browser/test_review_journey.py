"""The review journey in Chromium: the requester filters the review table, approves
every matching assignment in bulk, and the worker sees the money pending, then
available once settlement has run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from marketplace import services as batch_services
from payouts import ledger, settlement
from tasks.models import Assignment
from tests.browser.test_requester_journey import assert_every_field_has_a_label, log_in, shot
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.conftest import make_project, upload

pytestmark = pytest.mark.django_db(transaction=True)


def test_requester_bulk_approves_and_the_worker_sees_the_money(page: Page, browser: Browser, site):
    requester = RequesterFactory(email="rita@example.com")
    worker = WorkerFactory(email="wes@example.com")
    ledger.deposit(key="journey-deposit", user=requester, amount_cents=100_000)
    project = make_project(requester, assignments_per_task=1, reward_cents=25)
    content = "text\n" + "\n".join(f"Ticket {i}" for i in range(1, 7)) + "\n"
    batch = batch_services.batch_publish(batch=upload(project, requester, content), user=requester)
    mine = [
        make_assignment(batch, "submitted", worker=worker, answers={"label": "Question"})
        for _ in range(3)
    ]
    others = [make_assignment(batch, "submitted", answers={"label": "Other"}) for _ in range(2)]

    log_in(page, site, requester.email)
    page.goto(f"{site}/requester/batches/{batch.pk}/")
    page.get_by_role("link", name="Review work").click()
    expect(page.get_by_role("heading", name=re.compile("Review"))).to_be_visible()
    expect(page.locator("table.review tbody tr")).to_have_count(5)
    assert_every_field_has_a_label(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, "review-table-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "review-table-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    # One by one, then the rest in bulk.
    page.get_by_role("button", name=f"Approve assignment {mine[0].pk}").click()
    expect(page.get_by_text("Approved 1.")).to_be_visible()
    expect(page.locator("table.review tbody tr")).to_have_count(4)
    page.get_by_label("all 4 matching").check()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_text("Approved 4.")).to_be_visible()
    expect(page.get_by_text("Nothing matches.")).to_be_visible()  # none left to review
    assert set(Assignment.objects.filter(batch=batch).values_list("status", flat=True)) == {
        "approved"
    }

    context = browser.new_context()
    worker_page = context.new_page()
    log_in(worker_page, site, worker.email)
    worker_page.goto(f"{site}/work/earnings/")
    expect(worker_page.locator("#pending")).to_have_text("$0.75")
    expect(worker_page.locator("#available")).to_have_text("$0.00")

    assert settlement.settle_pending() == len(mine) + len(others)  # the settlement job's work

    worker_page.reload()
    expect(worker_page.locator("#pending")).to_have_text("$0.00")
    expect(worker_page.locator("#available")).to_have_text("$0.75")
    expect(worker_page.get_by_text("(paid)").first).to_be_visible()
    shot(worker_page, "worker-earnings-1280")
    worker_page.set_viewport_size({"width": 390, "height": 844})
    shot(worker_page, "worker-earnings-390")
    assert worker_page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
