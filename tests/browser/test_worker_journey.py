"""A worker's journey in Chromium: browse, filter by hourly rate, preview, accept, submit
in the sandboxed frame, continue with the next task (accept next, then Ctrl+Enter from
inside the frame), see pending earnings on the dashboard. And a hostile template: its
script tries to read the cookies, call Fairtask with credentials, read the parent page
and navigate the top page, and none of it works."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import Page, expect

from marketplace import selectors, services
from marketplace.models import Project
from payouts import ledger
from tasks import services as task_services
from tasks.models import Assignment, AssignmentStatus
from tests.browser.test_requester_journey import (
    assert_every_field_has_a_label,
    assert_fits_a_phone,
    log_in,
    shot,
)
from tests.fixtures.users import RequesterFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)

_keys = iter(range(1, 10**6))


def publish(owner, *, rows: str, **fields) -> Project:
    """A published batch (through the services, as the requester's pages do); the
    card appears through the on-commit refresh that publishing triggers."""
    project = services.project_create(owner=owner, **fields)
    batch = services.batch_upload(
        project=project, user=owner, filename="b.csv", fileobj=io.BytesIO(rows.encode())
    )
    ledger.deposit(
        key=f"worker-journey-{next(_keys)}-{owner.pk}",
        user=owner,
        amount_cents=selectors.batch_quote(batch).total_cost_cents,
    )
    services.batch_publish(batch=batch, user=owner)
    return project


def _cards(page: Page) -> list[str]:
    return page.locator(".task-card h2").all_inner_texts()


def test_browse_filter_preview_accept_submit_next_and_see_pending_earnings(page: Page, site):
    acme = RequesterFactory(display_name="Acme Labs")
    cheap = publish(
        acme,
        rows="text,source\nCheap one,x\n",
        title="Quick sentiment check",
        template_kind="sentiment",
        reward_cents=5,
        estimated_seconds=20,
    )  # $9.00/h
    good = publish(
        acme,
        rows="text,source\n" + "".join(f"Ticket {i} about a refund,mail\n" for i in range(1, 4)),
        title="Classify support tickets",
        template_kind="text_classification",
        template_config={"labels": ["Question", "Complaint", "Other"]},
        instructions="Pick the one label that fits best.",
        reward_cents=25,
        estimated_seconds=30,
    )  # $30.00/h
    worker = WorkerFactory(email="wanda@example.com", display_name="Wanda")

    log_in(page, site, "wanda@example.com")
    page.get_by_role("link", name="Find work").click()
    expect(page.get_by_role("heading", name="Find work")).to_be_visible()
    assert _cards(page) == ["Classify support tickets", "Quick sentiment check"]
    expect(page.get_by_text("$30.00/h")).to_be_visible()
    assert_every_field_has_a_label(page)
    shot(page, "worker-browse")

    # Filter by hourly rate.
    page.get_by_text("Filter and sort").click()
    page.get_by_label("Minimum hourly rate ($/h)").fill("20")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".task-card")).to_have_count(1)
    assert _cards(page) == ["Classify support tickets"]
    assert f"/work/projects/{cheap.pk}/" not in page.content()

    # Preview without accepting.
    page.get_by_role("link", name="Preview a task of Classify support tickets").click()
    expect(page.get_by_role("heading", name="Classify support tickets")).to_be_visible()
    expect(page.get_by_text("Pick the one label that fits best.")).to_be_visible()
    expect(page.get_by_text("The requester pays a platform fee of $0.05")).to_be_visible()
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.get_by_text("Ticket 1 about a refund")).to_be_visible()
    assert Assignment.objects.count() == 0
    shot(page, "worker-preview")

    # Accept: the work page with the time left, the same frame in work mode.
    page.get_by_role("button", name="Accept this task").click()
    expect(page.get_by_text("Time left:")).to_be_visible()
    first = Assignment.objects.get(worker=worker)
    assert first.task.row_number == 1
    expect(frame.get_by_text("Ticket 1 about a refund")).to_be_visible()
    shot(page, "worker-task")

    # Submit in the frame: stored, and accept next opens the next task.
    frame.get_by_label("Complaint").check()
    frame.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Submitted. Here is the next task of this project.")).to_be_visible()
    expect(frame.get_by_text("Ticket 2 about a refund")).to_be_visible()
    first.refresh_from_db()
    assert (first.status, first.answers) == (AssignmentStatus.SUBMITTED, {"label": "Complaint"})

    # The keyboard: Ctrl+Enter from inside the frame submits this one.
    frame.get_by_label("Question").check()
    frame.get_by_label("Question").press("Control+Enter")
    expect(frame.get_by_text("Ticket 3 about a refund")).to_be_visible()
    second = Assignment.objects.get(worker=worker, task__row_number=2)
    assert (second.status, second.answers) == (AssignmentStatus.SUBMITTED, {"label": "Question"})

    # The queue has the third one with a live countdown; Alt+R returns it.
    page.get_by_role("link", name="My queue").click()
    countdown = page.locator("time[data-deadline]")
    expect(countdown).to_have_count(1)
    expect(countdown).to_have_text(re.compile(r"^\d+:\d\d$"))
    shot(page, "worker-queue")
    page.get_by_role("link", name="Work on it").click()
    expect(page.get_by_text("Time left:")).to_be_visible()
    page.wait_for_load_state("load")  # worker.js (deferred) listens for the shortcut
    page.keyboard.press("Alt+r")
    expect(page.get_by_text("Returned: the task is free for others again.")).to_be_visible()
    third = Assignment.objects.get(worker=worker, task__row_number=3)
    assert third.status == AssignmentStatus.RETURNED

    # The dashboard: 2 × 25¢ pending.
    page.get_by_role("link", name="Earnings").click()
    pending = page.locator(".stats .card").filter(has_text="Pending")
    expect(pending.locator(".stat")).to_have_text("$0.50")
    expect(page.locator(".chart svg rect")).to_have_count(14)
    shot(page, "worker-dashboard")
    assert good.pk != cheap.pk


def test_worker_pages_fit_a_phone(browser, live_server):
    acme = RequesterFactory(display_name="A requester with a rather long display name")
    project = publish(
        acme,
        rows="query,result\nrepot a cactus,Use thick gloves and a folded newspaper\n",
        title="Judge search results for a very long query name that wraps",
        template_kind="relevance",
        reward_cents=15,
        estimated_seconds=45,
        requirements={"min_completed": 50},
    )
    worker = WorkerFactory(email="phone-worker@example.com")
    other = publish(
        acme,
        rows="text,source\nHello,x\nAgain,y\n",
        title="Sentiment",
        template_kind="sentiment",
        reward_cents=10,
        estimated_seconds=30,
    )
    assignment = task_services.assignment_claim(worker=worker, project=other)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    site = live_server.url
    log_in(page, site, "phone-worker@example.com")
    for name, path in [
        ("phone-worker-browse", "/work/"),
        ("phone-worker-preview", f"/work/projects/{project.pk}/"),
        ("phone-worker-task", f"/work/assignments/{assignment.pk}/"),
        ("phone-worker-queue", "/work/queue/"),
        ("phone-worker-dashboard", "/work/dashboard/"),
    ]:
        page.goto(site + path)
        assert_fits_a_phone(page)
        assert_every_field_has_a_label(page)
        shot(page, name)
    # The locked card says what it takes.
    page.goto(site + "/work/")
    expect(page.get_by_text("Locked:")).to_be_visible()
    expect(page.get_by_text("≥ 50 approved (yours: 0)")).to_be_visible()
    # Keyboard only: tab from the skip link to the first card's links.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Preview":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_text("Preview: not accepted yet")).to_be_visible()
    context.close()


PROBE = """<p>Probe</p>
<label>cookie <input name="cookie" id="cookie"></label>
<label>fetch <input name="fetch" id="fetch"></label>
<label>parent <input name="parent" id="parent"></label>
<label>top <input name="top" id="top"></label>
<label>origin <input name="origin" id="origin"></label>
<script>
function put(id, v) { document.getElementById(id).value = v; }
put("origin", String(self.origin));
try { put("cookie", "cookie:" + document.cookie); } catch (e) { put("cookie", "blocked:" + e.name); }
try { put("parent", "parent:" + parent.document.cookie + parent.location.href); } catch (e) { put("parent", "blocked:" + e.name); }
try {
  fetch("/work/queue/", {credentials: "include"}).then(function (r) { return r.text(); })
    .then(function (t) { put("fetch", "fetched:" + t.length); }, function (e) { put("fetch", "blocked:" + e.name); });
} catch (e) { put("fetch", "blocked:" + e.name); }
try { top.location.href = "/accounts/logout/"; put("top", "tried"); } catch (e) { put("top", "blocked:" + e.name); }
</script>"""


def test_a_template_cannot_reach_the_workers_session(page: Page, site):
    requester = RequesterFactory()
    project = publish(
        requester,
        rows="unused\nx\n",
        title="Probe",
        template_kind="custom",
        template_html=PROBE,
        reward_cents=10,
        estimated_seconds=30,
    )
    worker = WorkerFactory(email="target@example.com")
    log_in(page, site, "target@example.com")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")

    page.goto(f"{site}/work/projects/{project.pk}/")
    page.get_by_role("button", name="Accept this task").click()
    work_url = page.url
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.locator("#origin")).to_have_value("null")  # an opaque origin
    expect(frame.locator("#fetch")).to_have_value(re.compile(r"^blocked:"))  # CSP: no fetch
    cookie = frame.locator("#cookie").input_value()
    assert cookie in ("cookie:", "blocked:SecurityError"), cookie
    assert frame.locator("#parent").input_value() == "blocked:SecurityError"
    page.wait_for_timeout(300)
    assert page.url == work_url  # the top page was not navigated away (nor logged out)

    # The answers it submits (through the page's form, with the token) carry nothing of ours.
    frame.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Submitted.")).to_be_visible()
    stored = Assignment.objects.get(worker=worker).answers
    assert stored["origin"] == "null" and stored["fetch"].startswith("blocked:")
    assert session not in str(stored) and "csrftoken" not in str(stored)

    # The session is untouched: same cookie, still logged in.
    assert next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid") == session
    page.goto(f"{site}/work/queue/")
    expect(page.get_by_role("heading", name="My queue")).to_be_visible()
