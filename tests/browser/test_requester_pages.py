"""Every requester page, at a desktop width (1280 px) and a phone width (390 px): it fits
the screen (nothing scrolls sideways, the money columns are on screen), axe-core finds
no serious or critical violation (the ``context`` fixture checks each load), no
table scrolls sideways on a phone (checks shared with the worker pages: ``pages.py``), and a
screenshot of each is kept in var/screenshots/<width>/ for a person to look at.

Run alone to refresh the screenshots:
``.venv/bin/pytest tests/browser/test_requester_pages.py -q``.
"""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import Page, expect

from marketplace import services
from marketplace.services import api_keys as api_key_services
from payouts import ledger
from tasks import review
from tests.browser.pages import SHOTS, WIDTHS, page_problems
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import PASSWORD, RequesterFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _rows(n: int) -> bytes:
    lines = ["text,source"] + [f'"Review {i}: arrived on time, works fine",shop' for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def requester_pages(db):
    """A requester with a bit of everything: projects, a published batch with work in
    progress, a draft the balance covers, a draft it does not, statement lines, a key."""
    requester = RequesterFactory(email="pages@example.com", display_name="Pages")
    ledger.deposit(
        key="pages-deposit-1",
        user=requester,
        amount_cents=5_000,
        memo="Top-up via Stripe Checkout for the spring review campaign, approved by finance",
    )
    sentiment = services.project_create(
        owner=requester,
        title="Rate product reviews from the spring catalogue",
        template_kind="sentiment",
        reward_cents=10,
        estimated_seconds=30,
    )
    services.project_create(
        owner=requester,
        title="Judge search results",
        template_kind="relevance",
        reward_cents=4,
        estimated_seconds=15,
    )
    published = services.batch_upload(
        project=sentiment,
        user=requester,
        filename="week1.csv",
        fileobj=io.BytesIO(_rows(300)),
        name="Reviews, week 1",
    )
    services.batch_publish(batch=published, user=requester)  # −$36.00 on the statement
    # Work in every state, made through the worker-side services (slots, counters, events).
    for status in ["approved", "submitted", "accepted"]:
        done = make_assignment(published, status)
        if status == "submitted":
            block = review.worker_block(
                requester=requester,
                assignment_id=done.pk,
                reason="Pasted the same sentence into every answer for a week; see batch 12",
            )
    draft = services.batch_upload(
        project=sentiment,
        user=requester,
        filename="week2.csv",
        fileobj=io.BytesIO(_rows(20)),
        name="Reviews, week 2",
    )
    too_big = services.batch_upload(
        project=sentiment,
        user=requester,
        filename="backlog.csv",
        fileobj=io.BytesIO(_rows(2_000)),
        name="Backlog",
    )
    api_key_services.api_key_create(user=requester, name="nightly upload from the lab server")
    return {
        "project": sentiment,
        "published": published,
        "draft": draft,
        "too_big": too_big,
        "block": block,
    }


def _pages(data) -> list[tuple[str, str]]:
    p, pub, draft, big = data["project"], data["published"], data["draft"], data["too_big"]
    return [
        ("home", "/requester/"),
        ("projects", "/requester/projects/"),
        ("project-new", "/requester/projects/new/"),
        ("project-form", "/requester/projects/new/sentiment/"),
        ("project-form-custom", "/requester/projects/new/custom/"),
        ("project-edit", f"/requester/projects/{p.pk}/edit/"),
        ("project-detail", f"/requester/projects/{p.pk}/"),
        ("batch-upload", f"/requester/projects/{p.pk}/batches/new/"),
        ("batches", "/requester/batches/"),
        ("batch-progress", f"/requester/batches/{pub.pk}/"),
        ("batch-draft", f"/requester/batches/{draft.pk}/"),
        ("batch-insufficient", f"/requester/batches/{big.pk}/"),
        ("publish", f"/requester/batches/{draft.pk}/publish/"),
        ("cancel", f"/requester/batches/{pub.pk}/cancel/"),
        ("add-funds", "/payouts/funds/"),
        ("add-funds-for-batch", f"/payouts/funds/?amount=191.44&next=/requester/batches/{big.pk}/"),
        ("statement", "/payouts/statement/"),
        ("api-keys", "/requester/api-keys/"),
        ("review", f"/requester/batches/{pub.pk}/review/?status=all"),
        ("blocked-workers", "/requester/blocked-workers/"),
        ("unblock", f"/requester/blocked-workers/{data['block'].pk}/unblock/"),
    ]


def _log_in(page: Page, site: str) -> None:
    page.goto(site + "/accounts/login/")
    page.locator("#id_login").fill("pages@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_role("heading", name="Requester home")).to_be_visible()


@pytest.mark.parametrize("screen", list(WIDTHS))
def test_every_requester_page_fits_and_passes_axe(
    open_context, live_server, requester_pages, screen
):
    width = WIDTHS[screen]
    context = open_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    site = live_server.url
    _log_in(page, site)
    problems = []
    for name, path in _pages(requester_pages):
        response = page.goto(site + path)
        assert response is not None and response.status == 200, (path, response)
        page.wait_for_load_state("networkidle")
        problems += page_problems(page, screen=screen, name=name, label=path)
    assert problems == [], "\n".join(problems)


def test_the_menu_works_while_the_rest_of_the_page_is_still_loading(
    open_context, live_server, requester_pages
):
    """The Menu button is painted before the page's deferred scripts have run (htmx,
    here held back on purpose, as a slow network would). It must open the menu at once:
    its listeners once waited for DOMContentLoaded, and a tap before that did nothing
    (seen as a flaky keyboard test under load)."""
    context = open_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    _log_in(page, live_server.url)
    held = []
    page.route("**/htmx-2.min.js", lambda route: held.append(route))  # held: not continued yet
    page.goto(live_server.url + "/payouts/statement/", wait_until="commit")
    menu = page.get_by_role("navigation", name="Main").get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    assert page.evaluate("document.readyState") != "complete"  # htmx is held back
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for route in held:
        route.continue_()
    page.wait_for_load_state("load")
    expect(menu).to_have_attribute("aria-expanded", "true")


def test_on_a_phone_the_navigation_is_a_menu_usable_with_the_keyboard(
    open_context, live_server, requester_pages
):
    context = open_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    _log_in(page, live_server.url)
    nav = page.get_by_role("navigation", name="Main")
    menu = nav.get_by_role("button", name="Menu")
    projects = nav.get_by_role("link", name="Projects")
    # One row: the brand and the button; the links wait behind it.
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(projects).to_be_hidden()
    assert page.evaluate("document.querySelector('.site-header').offsetHeight") < 80
    # Keyboard: Tab from the skip link reaches the button; Enter opens, Escape closes.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(projects).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    (SHOTS / "phone").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone" / "menu-open.png"))
    page.keyboard.press("Tab")
    expect(projects).to_be_focused()
    page.keyboard.press("Escape")
    expect(projects).to_be_hidden()
    expect(menu).to_be_focused()
    # Open again and follow a link.
    menu.click()
    nav.get_by_role("link", name="Statement").click()
    expect(page.get_by_role("heading", name="Statement")).to_be_visible()
    # On a desktop there is no button: the links are always there.
    wide = open_context(viewport={"width": 1280, "height": 900}).new_page()
    _log_in(wide, live_server.url)
    expect(wide.get_by_role("button", name="Menu")).to_be_hidden()
    expect(
        wide.get_by_role("navigation", name="Main").get_by_role("link", name="Projects")
    ).to_be_visible()
