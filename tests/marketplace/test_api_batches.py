"""The batches API: upload, publish, pause, resume, cancel, progress, balance; every bad
input gets the error shape and changes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace import services
from marketplace.models import Batch, BatchStatus, Task
from payouts.models import LedgerTransaction
from tasks.jobs import refresh_measured_times
from tests.marketplace import api_helpers
from tests.marketplace.api_helpers import assert_error, key_client
from tests.marketplace.conftest import balance, csv_bytes, escrow, fund, make_project, upload
from tests.marketplace.test_selectors import _assign

pytestmark = pytest.mark.django_db

# Fixtures shared by the API tests (assigned, not imported, so that linters see them used).
_fresh_throttle_counts = api_helpers._fresh_throttle_counts
api = api_helpers.api


def _upload(client, project, content: bytes, filename: str = "batch.csv", name: str = "API batch"):
    return client.post(
        f"/api/v1/projects/{project.pk}/batches/",
        {"file": SimpleUploadedFile(filename, content), "name": name},
        format="multipart",
    )


def _nothing_created():
    assert not Batch.objects.exists()
    assert not Task.objects.exists()


@pytest.fixture
def project(requester):
    return make_project(requester)


def test_upload_creates_a_draft_with_quote_and_progress(api, requester, project):
    fund(requester, 500)
    response = _upload(api, project, csv_bytes(10))
    assert response.status_code == 201, response.json()
    body = response.json()
    batch = Batch.objects.get()
    assert response["Location"] == f"/api/v1/batches/{batch.pk}/"
    assert body["status"] == "draft" and body["task_count"] == 10 and body["name"] == "API batch"
    assert body["quote"]["total_cost_cents"] == 120 and body["quote"]["balance_cents"] == 500
    assert body["quote"]["shortfall_cents"] == 0
    assert (
        body["progress"]["total_assignments"] == 10 and body["progress"]["median_seconds"] is None
    )


def test_upload_jsonl(api, project):
    lines = "\n".join(json.dumps({"text": f"t{i}", "extra": i}) for i in range(3)) + "\n"
    response = _upload(api, project, lines.encode(), filename="b.jsonl")
    assert response.status_code == 201 and response.json()["task_count"] == 3


@pytest.mark.parametrize(
    ("content", "filename", "row", "column", "message"),
    [
        (b"source\nx\n", "b.csv", None, None, "text"),  # missing placeholder column
        (b'text,source\n"a",b\n"c",d,e\n', "b.csv", 3, None, "field"),  # a row with too many fields
        (b"text\nok\n\xff\xfe\n", "b.csv", None, None, "UTF-8"),
        (b"", "b.csv", None, None, "The file is empty."),
        (b"text\nx\n", "b.txt", None, None, "Upload a CSV"),
        (b'{"text": 1}\n{oops\n', "b.jsonl", 2, None, "JSON"),
    ],
)
def test_bad_files_are_refused_whole_with_row_and_column(
    api, project, content, filename, row, column, message
):
    error = assert_error(
        _upload(api, project, content, filename), 400, "invalid_upload", field="file"
    )
    assert message in error["message"], error
    assert error["details"]["error_count"] >= 1 and error["details"]["more"] >= 0
    first = error["details"]["errors"][0]
    assert set(first) == {"row", "line", "column", "message"}
    if row is not None:
        assert first["row"] == row
    _nothing_created()


def test_too_many_fields_names_row_and_column(api, project):
    error = assert_error(
        _upload(api, project, b'text,source\n"a",b\n"c",d,e\n'), 400, "invalid_upload"
    )
    assert error["details"]["errors"][0]["row"] == 3
    assert error["details"]["errors"][0]["column"] == "#3"


def test_file_over_the_limit(api, project, settings):
    settings.FAIRTASK_UPLOAD_MAX_BYTES = 100
    error = assert_error(_upload(api, project, csv_bytes(20)), 400, "invalid_upload", field="file")
    assert "limit" in error["message"]
    _nothing_created()


def test_more_than_50_errors_are_counted(api, project):
    rows = "\n".join(f'"t{i}",a,b' for i in range(75))
    error = assert_error(
        _upload(api, project, f"text,source\n{rows}\n".encode()), 400, "invalid_upload"
    )
    assert len(error["details"]["errors"]) == 50
    assert error["details"]["error_count"] == 75 and error["details"]["more"] == 25
    _nothing_created()


def test_no_file(api, project):
    response = api.post(
        f"/api/v1/projects/{project.pk}/batches/", {"name": "x"}, format="multipart"
    )
    assert_error(response, 400, "invalid", field="file")
    _nothing_created()


def test_upload_to_an_archived_project_is_409(api, project):
    api.post(f"/api/v1/projects/{project.pk}/archive/")
    assert_error(_upload(api, project, csv_bytes(2)), 409, "project_archived")
    _nothing_created()


def test_large_upload_is_accepted_for_background_import(api, project, settings, monkeypatch):
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 10
    queued = []
    monkeypatch.setattr("marketplace.services.batches._enqueue_import", queued.append)
    with pytest.MonkeyPatch.context():
        response = _upload(api, project, csv_bytes(50))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "importing" and body["quote"] is None
    assert body["progress"]["upload_size"] > 10
    batch_id = body["id"]
    assert_error(api.post(f"/api/v1/batches/{batch_id}/publish/"), 409, "still_importing")


def test_publish_holds_exactly_the_quote_once(api, requester, project):
    fund(requester, 1_000)
    batch_id = _upload(api, project, csv_bytes(10)).json()["id"]
    quote = api.get(f"/api/v1/batches/{batch_id}/quote/").json()
    assert quote["total_cost_cents"] == 120
    response = api.post(
        f"/api/v1/batches/{batch_id}/publish/", {"expected_total_cents": 120}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "published" and body["escrow_held_cents"] == 120
    assert body["progress"]["escrow_cents"] == 120
    assert balance(requester) == 880
    assert api.get("/api/v1/balance/").json()["balance_cents"] == 880
    # Publishing twice: refused, one hold.
    assert_error(api.post(f"/api/v1/batches/{batch_id}/publish/"), 409, "already_published")
    assert balance(requester) == 880
    assert LedgerTransaction.objects.filter(idempotency_key=f"hold-batch-{batch_id}").count() == 1


def test_publish_with_too_little_balance(api, requester, project):
    fund(requester, 100)
    batch_id = _upload(api, project, csv_bytes(10)).json()["id"]
    error = assert_error(
        api.post(f"/api/v1/batches/{batch_id}/publish/"), 409, "insufficient_funds"
    )
    assert error["details"] == {
        "total_cost_cents": 120,
        "balance_cents": 100,
        "shortfall_cents": 20,
    }
    assert balance(requester) == 100 and Batch.objects.get().status == BatchStatus.DRAFT


def test_publish_refuses_a_changed_quote(api, requester, project):
    fund(requester, 1_000)
    batch_id = _upload(api, project, csv_bytes(10)).json()["id"]
    error = assert_error(
        api.post(
            f"/api/v1/batches/{batch_id}/publish/", {"expected_total_cents": 99}, format="json"
        ),
        409,
        "quote_changed",
    )
    assert error["details"]["total_cost_cents"] == 120
    assert balance(requester) == 1_000


def test_publish_bad_expected_total(api, requester, project):
    batch_id = _upload(api, project, csv_bytes(1)).json()["id"]
    assert_error(
        api.post(
            f"/api/v1/batches/{batch_id}/publish/", {"expected_total_cents": "lots"}, format="json"
        ),
        400,
        "invalid",
        field="expected_total_cents",
    )


def test_publish_a_cancelled_batch_is_refused(api, requester, project):
    fund(requester, 1_000)
    batch_id = _upload(api, project, csv_bytes(10)).json()["id"]
    assert (
        api.post(
            f"/api/v1/batches/{batch_id}/cancel/", {"reason": "oops"}, format="json"
        ).status_code
        == 200
    )
    assert_error(
        api.post(f"/api/v1/batches/{batch_id}/publish/"),
        409,
        "illegal_transition",
        message="cancelled and cannot be published",
    )
    assert balance(requester) == 1_000


def test_cancel_twice_releases_once(api, requester, project):
    fund(requester, 1_000)
    batch_id = _upload(api, project, csv_bytes(10)).json()["id"]
    api.post(f"/api/v1/batches/{batch_id}/publish/")
    assert balance(requester) == 880
    body = api.post(f"/api/v1/batches/{batch_id}/cancel/", {"reason": "done"}, format="json").json()
    assert body["status"] == "cancelled" and body["escrow_released_cents"] == 120
    assert balance(requester) == 1_000
    assert_error(api.post(f"/api/v1/batches/{batch_id}/cancel/"), 409, "already_cancelled")
    assert balance(requester) == 1_000 and escrow(Batch.objects.get()) == 0


def test_pause_and_resume(api, requester, project):
    fund(requester, 1_000)
    batch_id = _upload(api, project, csv_bytes(2)).json()["id"]
    assert_error(api.post(f"/api/v1/batches/{batch_id}/pause/"), 409, "illegal_transition")
    # Resuming a draft must not publish it without holding its escrow.
    assert_error(
        api.post(f"/api/v1/batches/{batch_id}/resume/"),
        409,
        "illegal_transition",
        message="is a draft and cannot be resumed",
    )
    assert Batch.objects.get().status == BatchStatus.DRAFT and balance(requester) == 1_000
    api.post(f"/api/v1/batches/{batch_id}/publish/")
    assert api.post(f"/api/v1/batches/{batch_id}/pause/").json()["status"] == "paused"
    assert api.post(f"/api/v1/batches/{batch_id}/pause/").json()["status"] == "paused"
    assert api.post(f"/api/v1/batches/{batch_id}/resume/").json()["status"] == "published"


def test_progress(api, requester, project):
    fund(requester, 1_000)
    batch = services.batch_publish(batch=upload(project, requester, csv_bytes(10)), user=requester)
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
    refresh_measured_times()  # the median is the job's, kept out of list queries
    body = api.get(f"/api/v1/batches/{batch.pk}/progress/").json()
    assert body["by_state"] == {
        "accepted": 1,
        "submitted": 1,
        "approved": 2,
        "rejected": 1,
        "returned": 0,
        "expired": 0,
    }
    assert (body["completed"], body["remaining"], body["spend_cents"]) == (4, 5, 24)
    assert body["median_seconds"] == pytest.approx(35.0) and body["hourly_rate_cents"] == 1028
    assert body["escrow_cents"] == 120 and body["percent_complete"] == 40.0


def test_batch_lists_are_own_filtered_and_bounded(
    requester, other_requester, project, django_assert_max_num_queries
):
    other_project = make_project(requester, title="Other")
    for _ in range(12):
        upload(project, requester, csv_bytes(1))
    upload(other_project, requester, csv_bytes(1))
    theirs = upload(make_project(other_requester), other_requester, csv_bytes(1))
    client = key_client(requester)
    with django_assert_max_num_queries(6):
        body = client.get("/api/v1/batches/", {"page_size": 10}).json()
    assert body["count"] == 13 and len(body["results"]) == 10
    assert theirs.pk not in [b["id"] for b in body["results"]]
    assert client.get("/api/v1/batches/", {"project": other_project.pk}).json()["count"] == 1
    assert client.get(f"/api/v1/projects/{project.pk}/batches/").json()["count"] == 12
    assert client.get("/api/v1/batches/", {"status": "published"}).json()["count"] == 0
    assert_error(client.get("/api/v1/batches/", {"status": "bogus"}), 400, "invalid")
    assert_error(client.get("/api/v1/batches/", {"project": theirs.project_id}), 404, "not_found")


def test_another_requesters_batch_id_is_404_everywhere_and_changes_nothing(api, other_requester):
    fund(other_requester, 1_000)
    theirs = upload(make_project(other_requester), other_requester, csv_bytes(10))
    for method, path in (
        ("get", ""),
        ("get", "progress/"),
        ("get", "quote/"),
        ("post", "publish/"),
        ("post", "pause/"),
        ("post", "resume/"),
        ("post", "cancel/"),
    ):
        response = getattr(api, method)(f"/api/v1/batches/{theirs.pk}/{path}")
        assert_error(response, 404, "not_found", message="Batch not found.")
    theirs.refresh_from_db()
    assert theirs.status == BatchStatus.DRAFT and balance(other_requester) == 1_000
    assert theirs.events.count() == 2  # uploaded, imported: nothing since


def test_balance(api, requester):
    fund(requester, 4_321)
    assert api.get("/api/v1/balance/").json() == {"balance_cents": 4_321, "currency": "usd"}
