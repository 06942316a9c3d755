"""A requester blocks a worker from the review page, finds them under Blocked workers
(pseudonym, reason, date; never the email), and unblocks them after a confirmation."""

from __future__ import annotations

import re
from typing import cast

import pytest
from playwright.sync_api import Page, expect

from marketplace.models import User
from tasks.models import WorkerBlock
from tasks.review_selectors import pseudonym
from tests.browser.test_requester_journey import assert_every_field_has_a_label, log_in, shot
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db(transaction=True)


def test_block_from_review_then_unblock_with_confirmation(page: Page, site):
    requester = cast(User, RequesterFactory(email="rhea@example.com"))
    copier = cast(User, WorkerFactory(email="copier@example.com"))
    batch = published(requester, tasks=4)
    a = make_assignment(batch, "submitted", worker=copier, answers={"label": "Other"})
    make_assignment(batch, "submitted", answers={"label": "Question"})
    name = pseudonym(requester_id=requester.pk, worker_id=copier.pk)

    log_in(page, site, requester.email)
    page.goto(f"{site}/requester/batches/{batch.pk}/review/")
    row = page.locator(f"#assignment-{a.pk}")
    row.get_by_text("More").click()
    row.get_by_label("Reason").last.fill("Pastes the same answer everywhere")
    row.get_by_role("button", name="Block worker").click()
    expect(page.get_by_text("Worker blocked: they no longer see your projects.")).to_be_visible()

    page.get_by_role("main").get_by_role("link", name="Blocked workers").click()
    expect(page.get_by_role("heading", name="Blocked workers")).to_be_visible()
    rows = page.locator("ul.blocks > li")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)
    expect(rows.first).to_contain_text("Pastes the same answer everywhere")
    expect(rows.first.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    expect(page.get_by_text("copier@example.com")).to_have_count(0)
    shot(page, "blocked-workers-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "blocked-workers-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name=f"Unblock {name}").click()
    expect(page.get_by_role("heading", name="Unblock this worker?")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(name)
    assert_every_field_has_a_label(page)
    shot(page, "unblock-confirm-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "unblock-confirm-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    assert WorkerBlock.objects.count() == 1  # asking changed nothing

    # The same confirmation left open in a second tab (a stale page).
    stale = page.context.new_page()
    stale.goto(page.url)

    page.get_by_role("button", name="Unblock", exact=True).click()
    expect(page.get_by_text("Worker unblocked")).to_be_visible()
    expect(page.locator("#no-blocks")).to_be_visible()
    assert not WorkerBlock.objects.exists()
    shot(page, "blocked-workers-empty-1280")

    stale.get_by_role("button", name="Unblock", exact=True).click()
    expect(stale.get_by_text("not blocked by you (already unblocked?)")).to_be_visible()
    assert not WorkerBlock.objects.exists()
