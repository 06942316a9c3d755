"""Requester pages: home, projects and the editor, batches, progress, publish/pause/cancel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketplace import services
from marketplace.models import Batch, BatchStatus, Project, ProjectStatus, Task
from tasks.jobs import refresh_measured_times
from tests.fixtures.users import RequesterFactory
from tests.marketplace.conftest import balance, csv_bytes, escrow, fund, make_project, upload
from tests.marketplace.test_selectors import _assign

pytestmark = pytest.mark.django_db


@pytest.fixture
def rclient(client, requester):
    client.force_login(requester)
    return client


def _project_post(**overrides):
    data = {
        "template_kind": "sentiment",
        "title": "Rate reviews",
        "description": "Is the review positive?",
        "keywords": "reviews, sentiment",
        "instructions": "Read the review.",
        "question": "What is the sentiment of this text?",
        "labels": "Negative\nNeutral\nPositive",
        "reward": "0.10",
        "estimated_seconds": "30",
        "time_allotted_minutes": "",
        "assignments_per_task": "3",
        "auto_approval_days": "3",
        "batch_lifetime_days": "7",
        "gold_rate_percent": "5",
        "min_tier": "",
        "min_approval_rate": "95",
        "min_completed": "",
        "languages": "en, de",
        "qualifications": "English >= 80\nnot Banned",
    }
    data.update(overrides)
    return data


def _field_errors(html: str, field: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else ""


# --- Home ---------------------------------------------------------------------------------


def test_home_shows_balance_projects_and_batches_with_progress(
    rclient, requester, django_assert_max_num_queries
):
    fund(requester, 12_345)
    project = make_project(requester, title="Tickets")
    batch = services.batch_publish(batch=upload(project, requester, csv_bytes(4)), user=requester)
    _assign(batch, [("approved", 30), ("submitted", 20)])
    for i in range(5):  # more batches must not mean more queries
        upload(project, requester, csv_bytes(2), name=f"extra {i}")
    with django_assert_max_num_queries(12):
        response = rclient.get(reverse("requester_home"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<p class="stat" id="balance">$122.97</p>' in html  # $123.45 − 4 × (10¢ + 2¢) held
    assert "Tickets" in html
    assert 'aria-valuenow="50.0"' in html  # 2 of 4 assignments handed in (approved + submitted)
    assert reverse("payouts:add_funds") in html


def test_home_is_the_requester_home_heading(rclient):
    assert "<h1>Requester home</h1>" in rclient.get(reverse("requester_home")).content.decode()


# --- Projects -------------------------------------------------------------------------------


def test_project_list_is_bounded_and_shows_only_own(
    rclient, requester, other_requester, django_assert_max_num_queries
):
    for i in range(30):
        make_project(requester, title=f"Mine {i}")
    make_project(other_requester, title="Theirs")
    with django_assert_max_num_queries(8):
        response = rclient.get(reverse("requester:project_list"))
    html = response.content.decode()
    assert "Mine 29" in html and "Theirs" not in html
    assert "Page 1 of 2" in html


def test_new_project_lists_every_builtin_and_custom(rclient):
    html = rclient.get(reverse("requester:project_new")).content.decode()
    for kind in (
        "image_classification",
        "text_classification",
        "sentiment",
        "relevance",
        "response_rating",
        "transcription",
        "custom",
    ):
        assert reverse("requester:project_create", args=[kind]) in html


def test_create_project_from_builtin(rclient, requester):
    response = rclient.post(
        reverse("requester:project_create", args=["sentiment"]), _project_post()
    )
    project = Project.objects.get(owner=requester)
    assert response.status_code == 302
    assert response["Location"] == reverse("requester:project_detail", args=[project.pk])
    assert project.reward_cents == 10
    assert project.estimated_seconds == 30
    assert project.time_allotted_seconds == 300  # default: 3× the estimate, at least 5 min
    assert project.assignments_per_task == 3
    assert project.auto_approval_delay == timedelta(days=3)
    assert project.gold_rate_bp == 500
    assert project.keywords == "reviews, sentiment"
    assert project.template_config["labels"] == ["Negative", "Neutral", "Positive"]
    assert project.requirements == {
        "min_approval_rate": 95,
        "languages": ["en", "de"],
        "qualifications": [
            {"name": "English", "comparator": ">=", "value": 80},
            {"name": "Banned", "comparator": "not_exists"},
        ],
    }


@pytest.mark.parametrize(
    ("reward", "message"),
    [
        ("0", "The reward must be at least $0.01."),
        ("0.00", "The reward must be at least $0.01."),
        ("-1", "The reward cannot be negative."),
        ("abc", "“abc” is not an amount in dollars"),
        ("0,05", "“0,05” uses a comma for cents: type 0.05"),
        ("0.001", "has more than two decimals"),
        ("", "The reward is required."),
    ],
)
def test_bad_reward_is_shown_next_to_the_field_and_nothing_is_created(rclient, reward, message):
    response = rclient.post(
        reverse("requester:project_create", args=["sentiment"]), _project_post(reward=reward)
    )
    assert response.status_code == 400
    assert message in _field_errors(response.content.decode(), "reward")
    assert not Project.objects.exists()


def test_reward_below_pay_floor_says_the_minimum(rclient):
    # 60 s at the default $8.00/h floor needs at least 14¢ (13.33¢ rounded up).
    response = rclient.post(
        reverse("requester:project_create", args=["sentiment"]),
        _project_post(reward="0.13", estimated_seconds="60"),
    )
    assert response.status_code == 400
    errors = _field_errors(response.content.decode(), "reward")
    assert "at least $0.14" in errors and "$8.00/h" in errors
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("assignments_per_task", "101", "between 1 and 100"),
        ("assignments_per_task", "0", "between 1 and 100"),
        ("auto_approval_days", "31", "at most 30 days"),
        ("title", "", "This field is required."),
        ("labels", "Only one", "Give between 2 and 50 labels"),
        ("qualifications", "English >= lots", "Line 1"),
    ],
)
def test_other_bad_fields_are_shown_next_to_them(rclient, field, value, message):
    response = rclient.post(
        reverse("requester:project_create", args=["sentiment"]), _project_post(**{field: value})
    )
    assert response.status_code == 400
    assert message in _field_errors(response.content.decode(), field)
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Project.objects.exists()


def test_custom_template_errors_go_to_the_template_field(rclient):
    response = rclient.post(
        reverse("requester:project_create", args=["custom"]),
        _project_post(template_kind="custom", template_html="<p>${_gold_label}</p>"),
    )
    assert response.status_code == 400
    assert "_gold_" in _field_errors(response.content.decode(), "template_html")


def test_create_custom_project(rclient, requester):
    html = '<p>${text}</p><input name="answer" required> <img src="${image}">'
    rclient.post(
        reverse("requester:project_create", args=["custom"]),
        _project_post(template_kind="custom", template_html=html),
    )
    project = Project.objects.get(owner=requester)
    assert project.template_kind == "custom"
    assert project.template_html == html


def test_unknown_template_kind_is_404(rclient):
    assert rclient.get(reverse("requester:project_create", args=["nope"])).status_code == 404


def test_pricing_partial(rclient):
    html = rclient.get(
        reverse("requester:pricing"), {"reward": "0.10", "estimated_seconds": "30"}
    ).content.decode()
    assert "$0.10" in html and "$0.02" in html and "$0.12" in html  # reward, 20% fee, total
    assert "$12.00/h" in html and "Meets the $8.00/h pay floor" in html
    low = rclient.get(
        reverse("requester:pricing"), {"reward": "0.05", "estimated_seconds": "60"}
    ).content.decode()
    assert "Below the $8.00/h pay floor" in low and "at least $0.14" in low
    bad = rclient.get(
        reverse("requester:pricing"), {"reward": "x", "estimated_seconds": "60"}
    ).content.decode()
    assert "is not an amount in dollars" in bad
    comma = rclient.get(
        reverse("requester:pricing"), {"reward": "0,05", "estimated_seconds": "60"}
    ).content.decode()
    assert "uses a comma for cents" in comma and "Meets" not in comma


def _pricing_panel(rclient, **params) -> str:
    html = rclient.get(reverse("requester:pricing"), params).content.decode()
    return re.sub(r"\s+", " ", html)


def test_pricing_shows_what_a_planned_batch_costs(rclient):
    html = _pricing_panel(
        rclient,
        reward="0.10",
        estimated_seconds="30",
        assignments_per_task="3",
        planned_rows="2000",
    )
    assert "A batch of 2,000 rows" in html
    assert '<dd id="pricing-batch-assignments">2,000 × 3 = 6,000</dd>' in html
    assert '<dd id="pricing-batch-total">$720.00</dd>' in html  # 6,000 × (10¢ + 2¢)
    one = _pricing_panel(
        rclient, reward="0.10", estimated_seconds="30", assignments_per_task="1", planned_rows="1"
    )
    assert "A batch of 1 row<" in one and '<dd id="pricing-batch-total">$0.12</dd>' in one
    bad = _pricing_panel(
        rclient, reward="0.10", estimated_seconds="30", assignments_per_task="0", planned_rows="x"
    )
    assert "pricing-batch-total" not in bad and "to see what a batch costs" in bad
    assert '<dd id="pricing-total">$0.12</dd>' in bad  # the per-assignment part still shows


def test_pricing_names_the_minimum_fee_when_it_applies(rclient):
    low = _pricing_panel(rclient, reward="0.02", estimated_seconds="5")
    assert "Platform fee ($0.01 minimum)" in low and "20%" in low  # 20% of 2¢ rounds to 0¢
    assert "Platform fee (20%)" not in low
    normal = _pricing_panel(rclient, reward="0.10", estimated_seconds="30")
    assert "Platform fee (20%)" in normal and "minimum" not in normal
    assert "You pay per assignment" in normal


def test_the_project_list_says_what_each_column_counts(rclient, requester):
    services.project_create(
        owner=requester, title="T", template_kind="sentiment", reward_cents=10, estimated_seconds=30
    )
    html = rclient.get(reverse("requester:project_list")).content.decode()
    assert ">Reward per assignment</th>" in html and ">Assignments per task</th>" in html
    assert ">Per task</th>" not in html


def test_placeholders_partial(rclient):
    url = reverse("requester:placeholders")
    html = rclient.post(
        url, {"template_kind": "custom", "template_html": "${a} and ${b} and ${a}"}
    ).content.decode()
    assert re.findall(r"<code>(\w+)</code>", html)[:2] == ["a", "b"]
    html = rclient.post(
        url, {"template_kind": "relevance", "question": "Q?", "labels": "x\ny"}
    ).content.decode()
    assert "<code>query</code>" in html and "<code>result</code>" in html
    html = rclient.post(
        url, {"template_kind": "custom", "template_html": "${_gold_x}"}
    ).content.decode()
    assert "Template problem" in html
    html = rclient.post(
        url, {"template_kind": "custom", "template_html": "<p>static</p>"}
    ).content.decode()
    assert "no <code>${column}</code> placeholders" in html


def test_edit_changes_only_what_changed(rclient, requester):
    project = make_project(requester, time_allotted_seconds=333)
    form_page = rclient.get(reverse("requester:project_edit", args=[project.pk])).content.decode()
    assert 'value="0.10"' in form_page
    data = {
        "template_kind": project.template_kind,
        "title": "Renamed",
        "description": "",
        "keywords": "",
        "instructions": "",
        "question": project.template_config["question"],
        "labels": "\n".join(project.template_config["labels"]),
        "reward": "0.10",
        "estimated_seconds": "30",
        "time_allotted_minutes": "6",
        "assignments_per_task": "1",
        "auto_approval_days": "3",
        "batch_lifetime_days": "7",
        "gold_rate_percent": "0",
        "min_tier": "",
        "min_approval_rate": "",
        "min_completed": "",
        "languages": "",
        "qualifications": "",
    }
    response = rclient.post(reverse("requester:project_edit", args=[project.pk]), data)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.title == "Renamed"
    assert project.time_allotted_seconds == 333  # shown as 6 minutes, not changed: kept exactly


def test_clone_archive_restore(rclient, requester):
    project = make_project(requester)
    response = rclient.post(reverse("requester:project_clone", args=[project.pk]))
    clone = Project.objects.exclude(pk=project.pk).get()
    assert response["Location"] == reverse("requester:project_detail", args=[clone.pk])
    assert clone.title == f"{project.title} (copy)"
    rclient.post(reverse("requester:project_archive", args=[project.pk]))
    project.refresh_from_db()
    assert project.status == ProjectStatus.ARCHIVED
    html = rclient.get(reverse("requester:project_detail", args=[project.pk])).content.decode()
    assert "Restore" in html and reverse("requester:batch_upload", args=[project.pk]) not in html
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("b.csv", csv_bytes(2))},
    )
    assert response.status_code == 409 and "archived" in response.content.decode()
    rclient.post(reverse("requester:project_restore", args=[project.pk]))
    project.refresh_from_db()
    assert project.status == ProjectStatus.ACTIVE


def test_project_preview_is_the_task_page_with_the_sandboxed_frame(rclient, requester):
    project = make_project(requester, instructions="Pick the best label.")
    detail = rclient.get(reverse("requester:project_detail", args=[project.pk])).content.decode()
    assert f'href="{reverse("requester:preview", args=[project.pk])}"' in detail
    assert 'name="row.text"' in detail  # preview with typed values
    html = rclient.get(reverse("requester:preview", args=[project.pk])).content.decode()
    frame = re.search(r"<iframe[^>]*>", html).group(0)
    assert 'sandbox="allow-scripts allow-forms"' in frame
    assert "allow-same-origin" not in html
    assert f'src="{reverse("requester:preview_frame", args=[project.pk])}"' in frame
    # The worker's page: title, instructions, reward, fee, time allotted, hourly rate.
    assert "Classify support tickets" in html and "Pick the best label." in html
    assert "$0.10" in html and "$0.02" in html and "$12.00/h" in html


# --- Batches --------------------------------------------------------------------------------


def test_upload_bad_csv_shows_row_and_column_errors_and_creates_nothing(rclient, requester):
    project = make_project(requester)
    bad = 'text,source\nok,email\n"a",b,c\nfine,x\n'  # row 3 has one field too many
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("bad.csv", bad.encode()), "name": "Bad"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "The file was refused: nothing was imported" in html
    assert re.search(r'<td class="num">3</td>', html)
    assert not Batch.objects.exists() and not Task.objects.exists()


def test_upload_shows_the_first_50_errors_and_counts_the_rest(rclient, requester):
    project = make_project(requester)
    rows = "\n".join(f'"t{i}",a,b' for i in range(60))
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("bad.csv", f"text,source\n{rows}\n".encode())},
    )
    html = response.content.decode()
    assert html.count('<tr><td class="num">') == 50
    assert "… and 10 more errors" in html
    assert not Batch.objects.exists()


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "empty.csv", "The file is empty."),
        (b"source\nx\n", "b.csv", "text"),  # missing placeholder column
        (b"text\n\xff\xfe bad\n", "b.csv", "UTF-8"),
        (b"text\nx\n", "b.xlsx", "Upload a CSV"),
    ],
)
def test_other_bad_files(rclient, requester, content, filename, message):
    project = make_project(requester)
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile(filename, content)},
    )
    assert response.status_code == 400
    assert message in _field_errors(response.content.decode(), "file")
    assert not Batch.objects.exists()


def test_upload_over_the_limit(rclient, requester, settings):
    settings.FAIRTASK_UPLOAD_MAX_BYTES = 100
    project = make_project(requester)
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("big.csv", csv_bytes(20))},
    )
    assert response.status_code == 400
    assert "limit" in _field_errors(response.content.decode(), "file")
    assert not Batch.objects.exists()


def test_upload_publish_pause_resume_cancel(rclient, requester):
    fund(requester, 1_000)
    project = make_project(requester)
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("good.csv", csv_bytes(10)), "name": "Good"},
    )
    batch = Batch.objects.get()
    assert response["Location"] == reverse("requester:batch_detail", args=[batch.pk])
    page = rclient.get(response["Location"]).content.decode()
    assert "Cost to publish" in page and "$1.20" in page  # 10 × (10¢ + 2¢)
    confirm = rclient.get(reverse("requester:batch_publish", args=[batch.pk])).content.decode()
    assert "Publish and hold $1.20" in confirm and "$8.80" in confirm  # balance after
    response = rclient.post(
        reverse("requester:batch_publish", args=[batch.pk]),
        {"expected_total_cents": "120"},
        follow=True,
    )
    assert "Published: $1.20 is held" in response.content.decode()
    assert balance(requester) == 880 and escrow(batch) == 120
    # Publishing twice holds once.
    response = rclient.post(
        reverse("requester:batch_publish", args=[batch.pk]),
        {"expected_total_cents": "120"},
        follow=True,
    )
    assert "already published" in response.content.decode()
    assert balance(requester) == 880
    rclient.post(reverse("requester:batch_pause", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED
    rclient.post(reverse("requester:batch_resume", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PUBLISHED
    assert (
        "Cancel the batch"
        in rclient.get(reverse("requester:batch_cancel", args=[batch.pk])).content.decode()
    )
    response = rclient.post(
        reverse("requester:batch_cancel", args=[batch.pk]), {"reason": "wrong file"}, follow=True
    )
    assert "$1.20 of unused escrow returned" in response.content.decode()
    assert balance(requester) == 1_000
    response = rclient.post(
        reverse("requester:batch_cancel", args=[batch.pk]), {"reason": ""}, follow=True
    )
    assert "already cancelled" in response.content.decode()
    assert balance(requester) == 1_000
    assert batch.events.filter(new_status="cancelled").get().reason.startswith("wrong file")


def test_publish_with_too_little_balance_links_to_add_funds(rclient, requester):
    fund(requester, 100)
    batch = upload(make_project(requester), requester, csv_bytes(10))
    page = rclient.get(reverse("requester:batch_detail", args=[batch.pk])).content.decode()
    assert "add at least <strong>$0.20</strong>" in page and reverse("payouts:add_funds") in page
    response = rclient.post(
        reverse("requester:batch_publish", args=[batch.pk]),
        {"expected_total_cents": "120"},
        follow=True,
    )
    assert "Add at least $0.20" in response.content.decode()
    assert balance(requester) == 100
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DRAFT


def test_publish_refuses_a_changed_quote(rclient, requester):
    fund(requester, 1_000)
    project = make_project(requester)
    batch = upload(project, requester, csv_bytes(10))
    services.project_update(project=project, user=requester, data={"reward_cents": 20})
    response = rclient.post(
        reverse("requester:batch_publish", args=[batch.pk]),
        {"expected_total_cents": "120"},
        follow=True,
    )
    assert "changed from $1.20 to $2.40" in response.content.decode()
    assert balance(requester) == 1_000


def test_progress_partial_shows_states_spend_and_measured_rate(rclient, requester):
    fund(requester, 1_000)
    batch = services.batch_publish(
        batch=upload(make_project(requester), requester, csv_bytes(10)), user=requester
    )
    html = rclient.get(reverse("requester:batch_progress", args=[batch.pk])).content.decode()
    assert 'id="p-hourly">—' in html and 'hx-trigger="every 3s"' in html
    _assign(
        batch,
        [
            ("accepted", None),
            ("submitted", 20),
            ("approved", 30),
            ("approved", 40),
            ("rejected", 90),
        ],
    )
    refresh_measured_times()
    html = rclient.get(
        reverse("requester:batch_progress", args=[batch.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert (
        'id="p-accepted">1<' in html
        and 'id="p-submitted">1<' in html
        and 'id="p-approved">2<' in html
    )
    assert 'id="p-spend">$0.24<' in html  # two approved × 12¢
    assert 'id="p-median">35 s<' in html and 'id="p-hourly">$10.28/h<' in html
    assert "4 of 10</strong>" in html


def test_progress_of_a_closed_batch_stops_polling(rclient, requester):
    batch = upload(make_project(requester), requester, csv_bytes(2))
    services.batch_cancel(batch=batch, user=requester)
    html = rclient.get(reverse("requester:batch_progress", args=[batch.pk])).content.decode()
    assert "hx-trigger" not in html


def test_import_progress_reloads_the_page_when_done(rclient, requester):
    batch = upload(make_project(requester), requester, csv_bytes(2))
    response = rclient.get(
        reverse("requester:batch_progress", args=[batch.pk]) + "?importing=1",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204 and response["HX-Refresh"] == "true"
    Batch.objects.filter(pk=batch.pk).update(
        status=BatchStatus.IMPORTING, rows_processed=7, upload_size=100, bytes_processed=50
    )
    html = rclient.get(
        reverse("requester:batch_progress", args=[batch.pk]) + "?importing=1",
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'id="import-rows">7<' in html and "every 2s" in html and 'aria-valuenow="50.0"' in html


def test_large_upload_is_imported_by_the_job(rclient, requester, settings, monkeypatch):
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 10
    queued = []
    monkeypatch.setattr("marketplace.services.batches._enqueue_import", queued.append)
    project = make_project(requester)
    with pytest.MonkeyPatch.context():
        response = rclient.post(
            reverse("requester:batch_upload", args=[project.pk]),
            {"file": SimpleUploadedFile("big.csv", csv_bytes(50))},
        )
    batch = Batch.objects.get()
    assert batch.status == BatchStatus.IMPORTING
    page = rclient.get(response["Location"]).content.decode()
    assert "Importing the file" in page and "?importing=1" in page


def test_failed_import_shows_its_errors(rclient, requester):
    batch = upload(make_project(requester), requester, csv_bytes(2))
    Batch.objects.filter(pk=batch.pk).update(
        status=BatchStatus.FAILED,
        import_error_count=70,
        import_errors=[
            {"row": i + 2, "line": i + 2, "column": "text", "message": "bad"} for i in range(50)
        ],
    )
    html = rclient.get(reverse("requester:batch_detail", args=[batch.pk])).content.decode()
    assert "The import failed" in html and "… and 20 more errors" in html


def test_batch_list_is_bounded(rclient, requester, django_assert_max_num_queries):
    project = make_project(requester)
    for _ in range(30):
        upload(project, requester, csv_bytes(1))
    with django_assert_max_num_queries(10):
        response = rclient.get(reverse("requester:batch_list"))
    assert response.content.decode().count('class="progress"') == 25
    html = rclient.get(
        reverse("requester:batch_list"), {"status": "draft", "page": "2"}
    ).content.decode()
    assert html.count('class="progress"') == 5


# --- API keys page --------------------------------------------------------------------------


def test_api_key_is_shown_once_then_only_its_prefix(rclient, requester):
    response = rclient.post(reverse("requester:api_keys"), {"name": "nightly upload"})
    assert response.status_code == 201
    key_text = re.search(r'<code id="new-key">([^<]+)</code>', response.content.decode()).group(1)
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    )
    prefix = key_text.split(".")[0]
    page = rclient.get(reverse("requester:api_keys")).content.decode()
    assert prefix in page and key_text not in page and "nightly upload" in page
    key = requester.api_keys.get()
    assert key.secret_sha256 not in page and key_text.split(".")[1] not in key.secret_sha256
    rclient.post(reverse("requester:api_key_revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_needs_a_name(rclient):
    response = rclient.post(reverse("requester:api_keys"), {"name": "  "})
    assert response.status_code == 400
    assert "required" in _field_errors(response.content.decode(), "name")


def test_too_many_keys_is_shown_on_the_form_not_on_the_name(rclient, requester):
    from marketplace.services.api_keys import MAX_ACTIVE_KEYS, api_key_create

    for i in range(MAX_ACTIVE_KEYS):
        api_key_create(user=requester, name=f"k{i}")
    response = rclient.post(reverse("requester:api_keys"), {"name": "one more"})
    html = response.content.decode()
    assert response.status_code == 409
    assert f"You already have {MAX_ACTIVE_KEYS} active keys" in html
    assert _field_errors(html, "name") == ""


def test_cannot_revoke_another_requesters_key(rclient):
    from marketplace.services.api_keys import api_key_create

    key, _ = api_key_create(user=RequesterFactory(), name="theirs")
    assert rclient.post(reverse("requester:api_key_revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_saving_a_template_that_will_not_work_warns_but_saves(rclient, requester):
    html = '<p>${text</p><script src="https://cdn.example/x.js"></script>'
    response = rclient.post(
        reverse("requester:project_create", args=["custom"]),
        _project_post(template_kind="custom", template_html=html),
        follow=True,
    )
    page = response.content.decode()
    project = Project.objects.get(owner=requester)
    assert project.template_html == html
    assert "Check the template: The template has no answer fields" in page
    assert "is not a placeholder" in page
    assert "The script from https://cdn.example/x.js will not run" in page
    # Fixed on edit: no warnings any more.
    fixed = _project_post(template_kind="custom", template_html='<p>${text}</p><input name="a">')
    page = rclient.post(
        reverse("requester:project_edit", args=[project.pk]), fixed, follow=True
    ).content.decode()
    assert "Project saved" in page and "Check the template" not in page


def test_the_editor_panel_shows_the_warnings_as_the_template_is_typed(rclient):
    html = rclient.post(
        reverse("requester:placeholders"),
        {"template_kind": "custom", "template_html": "<p>${text}</p>"},
    ).content.decode()
    assert 'id="template-warnings"' in html and "no answer fields" in html


def test_the_project_page_names_the_minimum_fee_when_it_applies(rclient, requester):
    cheap = services.project_create(
        owner=requester,
        title="Cheap",
        template_kind="sentiment",
        reward_cents=2,
        estimated_seconds=5,
    )
    page = re.sub(
        r"\s+",
        " ",
        rclient.get(reverse("requester:project_detail", args=[cheap.pk])).content.decode(),
    )
    assert "$0.01 per assignment (the $0.01 minimum)" in page


def test_counts_have_thousands_separators(rclient, requester):
    fund(requester, 100_000)
    project = make_project(requester)
    batch = upload(project, requester, csv_bytes(2_000))
    detail = rclient.get(reverse("requester:batch_detail", args=[batch.pk])).content.decode()
    assert "2,000 tasks" in detail and "2000" not in re.sub(r"\d{4}-\d\d-\d\d", "", detail)
    publish = rclient.get(reverse("requester:batch_publish", args=[batch.pk])).content.decode()
    assert "shows its 2,000 tasks" in publish


def test_the_cancel_form_says_optional_once(rclient, requester):
    fund(requester, 10_000)
    batch = upload(make_project(requester), requester, csv_bytes(3))
    page = rclient.get(reverse("requester:batch_cancel", args=[batch.pk])).content.decode()
    assert page.count("(optional)") == 1
    assert "Kept in the batch history." in page
