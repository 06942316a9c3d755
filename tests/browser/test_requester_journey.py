"""A requester's journey in Chromium: create a project from a built-in template, preview
it in the sandboxed frame, upload a bad then a good CSV, publish, watch progress. And
what a template's own scripts can reach from inside the frame: nothing of ours."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from marketplace import services
from marketplace.models import Batch, BatchStatus, Project, Task
from payouts import ledger
from tasks.jobs import refresh_measured_times
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import PASSWORD, RequesterFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = "var/test-results"

GOOD_CSV = (
    "text,source\n"
    + "\n".join(f'"Review {i}: it arrived on time, works fine",shop' for i in range(1, 11))
    + "\n"
)
# Row 3 has a field too many; row 5 has none for "text" (too few fields is fine for
# extra columns only); the header lacks nothing.
BAD_CSV = 'text,source\n"fine",shop\n"too","many","fields"\n"ok",shop\n'


def log_in(page: Page, site: str, email: str) -> None:
    page.goto(site + "/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def assert_every_field_has_a_label(page: Page) -> None:
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('main input, main select, main textarea'))
            .filter(el => el.type !== 'hidden' && !el.closest('[aria-hidden=true]'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.name || el.id)"""
    )
    assert unlabelled == [], unlabelled


def assert_fits_a_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_requester_creates_previews_uploads_publishes_and_watches(page: Page, site):
    requester = RequesterFactory(email="maria@example.com", display_name="Maria")
    ledger.deposit(key="journey-deposit-1", user=requester, amount_cents=5_000)

    log_in(page, site, "maria@example.com")
    expect(page.get_by_role("heading", name="Requester home")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("$50.00")
    shot(page, "requester-home-empty")

    # Create a project from a built-in template.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="New project").first.click()
    expect(page.get_by_role("heading", name="New project: choose a template")).to_be_visible()
    shot(page, "project-new")
    page.get_by_role("link", name="Use this template for Sentiment").click()
    expect(page.get_by_role("heading", name="New project: Sentiment")).to_be_visible()
    assert_every_field_has_a_label(page)
    # The built-in's preview is already in the frame; its columns are listed.
    expect(page.locator("#required-columns")).to_have_text("text")
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.get_by_text("The parcel arrived two days late")).to_be_visible()

    page.get_by_label("Title").fill("Rate product reviews")
    page.get_by_label("Description").fill("Is this review negative, neutral or positive?")
    # Pricing follows the typing: below the floor first, then fine.
    page.get_by_label("Reward per assignment (USD)").fill("0.05")
    page.get_by_label("Estimated time per task (seconds)").fill("30")
    expect(page.locator("#pricing")).to_contain_text("Below the $8.00/h pay floor")
    expect(page.locator("#pricing")).to_contain_text("at least $0.07")
    page.get_by_label("Reward per assignment (USD)").fill("0.10")
    expect(page.locator("#pricing-hourly")).to_have_text("$12.00/h")
    expect(page.locator("#pricing-fee")).to_have_text("$0.02")
    expect(page.locator("#pricing-total")).to_have_text("$0.12")
    # What a whole batch would cost, as the size is typed.
    expect(page.locator("#pricing-batch-total")).to_have_text("$12.00")  # 100 rows × 12¢
    page.get_by_label("Rows in a batch").fill("2,000")
    expect(page.locator("#pricing-batch-assignments")).to_have_text("2,000 × 1 = 2,000")
    expect(page.locator("#pricing-batch-total")).to_have_text("$240.00")
    # Changing the labels updates the preview on request, in the same frame.
    page.get_by_label("Labels (one per line)").fill("Negative\nMixed\nPositive")
    page.get_by_role("button", name="Preview the template").click()
    expect(frame.get_by_label("Mixed")).to_be_visible()
    shot(page, "project-form")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_text("Project “Rate product reviews” created.")).to_be_visible()
    project = Project.objects.get(owner=requester)
    assert (project.reward_cents, project.estimated_seconds) == (10, 30)
    assert project.template_config["labels"] == ["Negative", "Mixed", "Positive"]

    # Preview: the worker's task page with the sample row; submitting inside the frame
    # shows the answers.
    page.get_by_role("link", name="Open the preview").click()
    expect(page.get_by_text("The requester pays a platform fee of $0.02")).to_be_visible()
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.get_by_text("The parcel arrived two days late")).to_be_visible()
    frame.get_by_label("Positive").check()
    frame.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("This is what would be submitted")).to_be_visible()
    expect(page.locator("#preview-answers pre")).to_have_text('{\n  "sentiment": "Positive"\n}')
    assert page.evaluate(
        "document.querySelector('iframe[name=task-frame]').getAttribute('sandbox')"
    ) == ("allow-scripts allow-forms")
    shot(page, "requester-preview")
    # A row the requester types (on the project page, shown in the preview).
    page.go_back()
    page.get_by_text("Preview with your own values").click()
    page.get_by_label("text", exact=True).fill("Terrible <b>glue</b>, fell apart")
    page.get_by_role("button", name="Show in the preview").click()
    expect(
        frame.get_by_text("Terrible <b>glue</b>, fell apart")
    ).to_be_visible()  # escaped, shown as text
    shot(page, "project-detail-preview")
    page.go_back()

    # A bad CSV: refused whole, errors with row and column, nothing created.
    page.get_by_role("link", name="Upload a batch").first.click()
    expect(page.get_by_role("heading", name="Upload a batch")).to_be_visible()
    assert_every_field_has_a_label(page)
    page.get_by_label("CSV or JSON Lines file").set_input_files(
        files=[{"name": "reviews-bad.csv", "mimeType": "text/csv", "buffer": BAD_CSV.encode()}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(
        page.get_by_role("heading", name="The file was refused: nothing was imported")
    ).to_be_visible()
    errors = page.locator("#upload-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("td").nth(0)).to_have_text("3")
    expect(errors.first.locator("td").nth(2)).to_have_text("#3")
    expect(page.locator("#id_file_error")).to_be_visible()
    assert not Batch.objects.exists() and not Task.objects.exists()
    shot(page, "batch-upload-errors")

    # A good CSV: a draft with its cost.
    page.get_by_label("CSV or JSON Lines file").set_input_files(
        files=[{"name": "reviews.csv", "mimeType": "text/csv", "buffer": GOOD_CSV.encode()}]
    )
    page.get_by_label("Batch name").fill("Reviews, week 1")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Imported 10 tasks.")).to_be_visible()
    expect(page.locator("#quote-total")).to_have_text("$1.20")  # 10 × (10¢ + 2¢ fee)
    shot(page, "batch-draft")

    # Publish: confirm, then exactly the quote leaves the balance.
    page.get_by_role("link", name="Publish…").click()
    expect(page.locator("#balance-now")).to_have_text("$50.00")
    expect(page.locator("#balance-after")).to_have_text("$48.80")
    shot(page, "batch-publish-confirm")
    page.get_by_role("button", name="Publish and hold $1.20").click()
    expect(page.get_by_text("Published: $1.20 is held in the batch's escrow")).to_be_visible()
    assert ledger.balance_cents(ledger.requester_account(requester)) == 5_000 - 120
    batch = Batch.objects.get()
    assert batch.status == BatchStatus.PUBLISHED and batch.escrow_held_cents == 120

    # Progress: workers' work shows up without reloading (htmx polling).
    expect(page.locator("#p-hourly")).to_have_text("—")
    for status, seconds in [("approved", 40), ("submitted", 20), ("accepted", 5)]:
        make_assignment(batch, status, seconds=seconds)
    refresh_measured_times()  # the median is the job's
    expect(page.locator("#p-approved")).to_have_text("1", timeout=10_000)
    expect(page.locator("#p-submitted")).to_have_text("1")
    expect(page.locator("#p-accepted")).to_have_text("1")
    expect(page.locator("#p-spend")).to_have_text("$0.12")
    expect(page.locator("#p-median")).to_have_text("30 s")
    expect(page.locator("#p-hourly")).to_have_text("$12.00/h")
    expect(page.get_by_text("2 of 10")).to_be_visible()
    shot(page, "batch-progress")

    # Pause, then the home page lists the batch with its progress bar.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused: workers cannot take more tasks")).to_be_visible()
    page.get_by_role("link", name="Fairtask").click()
    expect(page.get_by_role("link", name="Reviews, week 1")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("$48.80")
    expect(page.get_by_role("progressbar").first).to_have_attribute("aria-valuenow", "20.0")
    shot(page, "requester-home")

    # API keys: created, shown once.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("nightly upload")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_have_text(
        re.compile(r"^ft[0-9a-f]{10}\.[A-Za-z0-9_-]{43}$")
    )
    shot(page, "api-keys")


def test_pages_fit_a_phone_and_work_with_the_keyboard(open_context, live_server):
    requester = RequesterFactory(email="phone@example.com")
    ledger.deposit(key="journey-deposit-2", user=requester, amount_cents=1_000)
    project = services.project_create(
        owner=requester,
        title="Judge search results for a very long query name",
        template_kind="relevance",
        reward_cents=15,
        estimated_seconds=45,
    )
    import io

    batch = services.batch_upload(
        project=project,
        user=requester,
        filename="r.csv",
        fileobj=io.BytesIO(b"query,result\nrepot cactus,Use gloves\nbest tea,Green tea is nice\n"),
    )
    services.batch_publish(batch=batch, user=requester)
    context = open_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    site = live_server.url
    log_in(page, site, "phone@example.com")
    for name, path in [
        ("phone-home", "/requester/"),
        ("phone-project-form", "/requester/projects/new/response_rating/"),
        ("phone-project-detail", f"/requester/projects/{project.pk}/"),
        ("phone-requester-preview", f"/requester/projects/{project.pk}/preview/?batch={batch.pk}"),
        ("phone-batch", f"/requester/batches/{batch.pk}/"),
        ("phone-upload", f"/requester/projects/{project.pk}/batches/new/"),
        ("phone-api-docs", "/api/v1/docs/"),
    ]:
        page.goto(site + path)
        assert_fits_a_phone(page)
        assert_every_field_has_a_label(page)
        shot(page, name)
    # The preview pages through the batch's rows, also by keyboard (Alt+N).
    page.goto(site + f"/requester/projects/{project.pk}/preview/?batch={batch.pk}")
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.get_by_text("repot cactus")).to_be_visible()
    shot(page, "phone-requester-preview")
    page.wait_for_load_state("load")
    page.keyboard.press("Alt+n")
    expect(page.get_by_text("Row 2 of 2")).to_be_visible()
    expect(frame.get_by_text("best tea")).to_be_visible()
    # Keyboard: from the skip link into the form, typing, Enter submits the form (not
    # the Preview button, which comes first in the page).
    page.goto(site + "/requester/projects/new/sentiment/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("Title").focus()
    page.keyboard.type("Keyboard project")
    page.get_by_label("Reward per assignment (USD)").focus()
    page.keyboard.type("0.20")
    page.get_by_label("Estimated time per task (seconds)").focus()
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Project “Keyboard project” created.")).to_be_visible()
    # An error is announced next to its field.
    page.goto(site + "/requester/projects/new/sentiment/")
    page.get_by_label("Title").fill("Too cheap")
    page.get_by_label("Reward per assignment (USD)").fill("0")
    page.get_by_label("Estimated time per task (seconds)").fill("20")
    page.get_by_role("button", name="Create project").click()
    reward = page.get_by_label("Reward per assignment (USD)")
    expect(reward).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_reward_error")).to_have_text("The reward must be at least $0.01.")
    shot(page, "phone-project-form-error")
    context.close()


PROBE = """<p>Probe</p>
<label>origin <input name="origin" id="origin"></label>
<label>cookie <input name="cookie" id="cookie"></label>
<label>storage <input name="storage" id="storage"></label>
<label>parent <input name="parent" id="parent"></label>
<label>fetch <input name="fetch" id="fetch"></label>
<script>
function put(id, v) { document.getElementById(id).value = v; }
put("origin", String(self.origin));
try { put("cookie", "cookie:" + document.cookie); } catch (e) { put("cookie", "blocked:" + e.name); }
try { put("storage", "storage:" + localStorage.length); } catch (e) { put("storage", "blocked:" + e.name); }
try { put("parent", "parent:" + parent.document.cookie); } catch (e) { put("parent", "blocked:" + e.name); }
try {
  fetch("/api/v1/balance/", {credentials: "include"}).then(function (r) { return r.text(); })
    .then(function (t) { put("fetch", "fetched:" + t); }, function (e) { put("fetch", "blocked:" + e.name); });
} catch (e) { put("fetch", "blocked:" + e.name); }
</script>"""


def test_template_scripts_cannot_reach_the_session_or_the_api(page: Page, site):
    requester = RequesterFactory(email="probe@example.com")
    ledger.deposit(key="journey-deposit-3", user=requester, amount_cents=9_999)
    project = services.project_create(
        owner=requester,
        title="Probe",
        template_kind="custom",
        template_html=PROBE,
        reward_cents=10,
        estimated_seconds=30,
    )
    log_in(page, site, "probe@example.com")
    assert any(
        c["name"] == "sessionid" for c in page.context.cookies()
    )  # there is a session to steal
    page.goto(f"{site}/requester/projects/{project.pk}/preview/")
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.locator("#origin")).to_have_value("null")  # an opaque origin
    expect(frame.locator("#fetch")).to_have_value(
        re.compile(r"^blocked:")
    )  # CSP: no connections at all
    cookie = frame.locator("#cookie").input_value()
    assert cookie in ("cookie:", "blocked:SecurityError"), cookie
    assert "sessionid" not in cookie and "csrftoken" not in cookie
    assert frame.locator("#storage").input_value() == "blocked:SecurityError"
    assert frame.locator("#parent").input_value() == "blocked:SecurityError"
    frame.get_by_role("button", name="Submit").click()
    answers = page.locator("#preview-answers pre")
    expect(answers).to_contain_text('"origin": "null"')
    assert "sessionid" not in answers.inner_text()
    # Opened directly in a tab, the frame is still sandboxed (CSP sandbox).
    page.goto(f"{site}/requester/projects/{project.pk}/preview/frame")
    expect(page.locator("#origin")).to_have_value("null")
    assert page.evaluate(
        "() => { try { return document.cookie; } catch (e) { return 'blocked:' + e.name; } }"
    ) in ("", "blocked:SecurityError")
    # A look-alike message from another window is ignored by the preview page.
    page.goto(f"{site}/requester/projects/{project.pk}/preview/")
    page.evaluate("window.postMessage({type: 'fairtask:submit', answers: {forged: 'yes'}}, '*')")
    page.wait_for_timeout(200)
    expect(page.locator("#preview-answers")).to_be_hidden()


@pytest.mark.celery_worker
def test_a_large_upload_is_imported_by_the_worker_while_the_page_shows_progress(
    page: Page, site, celery_worker, settings
):
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 1024  # anything bigger goes to the Celery job
    requester = RequesterFactory(email="bulk@example.com")
    project = services.project_create(
        owner=requester,
        title="Bulk",
        template_kind="text_classification",
        reward_cents=10,
        estimated_seconds=30,
    )
    rows = (
        "text,source\n"
        + "\n".join(f'"Ticket {i}: where is my parcel?",email' for i in range(3_000))
        + "\n"
    )
    log_in(page, site, "bulk@example.com")
    page.goto(f"{site}/requester/projects/{project.pk}/batches/new/")
    page.get_by_label("CSV or JSON Lines file").set_input_files(
        files=[{"name": "bulk.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("The file is being imported in the background")).to_be_visible()
    if page.get_by_role("heading", name="Importing the file").count():
        shot(page, "batch-importing")
    # The polled partial reloads the page when the worker is done.
    expect(page.locator("#quote-total")).to_have_text("$360.00", timeout=60_000)  # 3,000 × 12¢
    batch = Batch.objects.get()
    assert batch.status == BatchStatus.DRAFT and batch.task_count == 3_000
    assert "marketplace.jobs.import_batch" in celery_worker.log()


def test_the_editor_lists_the_columns_a_custom_template_needs_as_it_is_typed(page: Page, site):
    RequesterFactory(email="custom@example.com")
    log_in(page, site, "custom@example.com")
    page.goto(f"{site}/requester/projects/new/custom/")
    columns = page.locator("#required-columns li")
    expect(columns).to_have_text(["text"])  # the starter template's placeholder
    page.get_by_label("Template HTML").fill(
        '<p>${question}</p><img src="${image_url}" alt=""><p>${question}</p>'
        '<label>Answer <input name="answer" required></label>'
    )
    expect(columns).to_have_text(["question", "image_url"])
    page.get_by_label("Template HTML").fill("<p>${_gold_answer}</p>")
    expect(page.locator("#placeholders")).to_contain_text("Template problem")
    page.get_by_label("Template HTML").fill(
        '<p>${question}</p><label>Answer <input name="answer"></label>'
    )
    page.get_by_role("button", name="Preview the template").click()
    frame = page.frame_locator("iframe[name=task-frame]")
    expect(frame.get_by_text("sample question")).to_be_visible()
    frame.get_by_label("Answer").fill("forty-two")
    frame.get_by_role("button", name="Submit").click()
    expect(page.locator("#preview-answers pre")).to_have_text('{\n  "answer": "forty-two"\n}')
