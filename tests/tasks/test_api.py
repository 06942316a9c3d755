"""The worker REST API: claim, submit (by token, no session), return, list mine;
object-level permission (IDOR) and the bad inputs of issue 16 in the API's error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace import services
from marketplace.models import Batch, Task
from tasks.models import Assignment
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.api_helpers import assert_error
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db

API = "/api/v1/worker"


def session(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_post(client: APIClient, path: str, data=None):
    """A POST as the page's JavaScript sends it: CSRF cookie + header."""
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return client.post(path, data or {}, format="json", HTTP_X_CSRFTOKEN=token)


def claim(client, batch):
    response = csrf_post(client, f"{API}/projects/{batch.project_id}/claim/")
    assert response.status_code == 201, response.content
    return response.json()


def test_claim_submit_and_list(batch, worker):
    client = session(worker)
    body = claim(client, batch)
    assert body["status"] == "accepted" and body["project_title"] == "Classify support tickets"
    assert body["submit_token"] and body["reward_cents"] == 10
    # The frame posts with the token alone: a client without any session or CSRF token.
    frame = APIClient(enforce_csrf_checks=True)
    r = frame.post(
        f"{API}/submit/",
        {"token": body["submit_token"], "answers": {"label": "Other"}},
        format="json",
    )
    assert r.status_code == 200 and r.json() == {"id": body["id"], "status": "submitted"}
    listing = client.get(f"{API}/assignments/").json()
    assert listing["count"] == 1 and listing["results"][0]["answers"] == {"label": "Other"}
    assert listing["results"][0]["submit_token"] is None  # no longer usable, not shown
    assert client.get(f"{API}/assignments/?status=accepted").json()["count"] == 0
    assert_error(client.get(f"{API}/assignments/?status=bogus"), 400, "invalid")
    nxt = csrf_post(client, f"{API}/assignments/{body['id']}/next/")
    assert nxt.status_code == 201 and nxt.json()["batch_id"] == batch.pk


def test_claim_needs_csrf_with_a_session(batch, worker):
    client = session(worker)
    r = client.post(f"{API}/projects/{batch.project_id}/claim/", {}, format="json")
    assert_error(r, 403, "csrf_failed")
    assert not Assignment.objects.exists()
    # The DRF endpoints refuse in the same words as the plain ones and the site.
    mine = claim(client, batch)
    r = client.post(f"{API}/assignments/{mine['id']}/return/", {}, format="json")
    assert_error(r, 403, "csrf_failed", message="X-CSRFToken")
    assert Assignment.objects.get(pk=mine["id"]).status == "accepted"


def test_anonymous_and_requesters_are_refused(batch, requester):
    assert_error(APIClient().get(f"{API}/assignments/"), 403, "not_authenticated")
    assert_error(session(requester).get(f"{API}/assignments/"), 403, "permission_denied")


def test_idor_one_workers_assignment_and_token_are_useless_to_another(batch, worker):
    mine = claim(session(worker), batch)
    other = session(WorkerFactory())
    theirs = claim(other, batch)
    # Another's assignment: 404 as if it did not exist, nothing changes.
    assert_error(other.get(f"{API}/assignments/{mine['id']}/"), 404, "not_found")
    assert_error(csrf_post(other, f"{API}/assignments/{mine['id']}/return/"), 404, "not_found")
    assert_error(csrf_post(other, f"{API}/assignments/{mine['id']}/next/"), 404, "not_found")
    assert [a["id"] for a in other.get(f"{API}/assignments/").json()["results"]] == [theirs["id"]]
    # Another's token with my id (or the other way round) submits nothing.
    forged = f"{mine['id']}.{theirs['submit_token'].split('.')[1]}"
    assert_error(
        APIClient().post(
            f"{API}/submit/", {"token": forged, "answers": {"label": "Other"}}, format="json"
        ),
        403,
        "invalid_token",
        message="This submission's token is not valid for any assignment.",
    )
    assert Assignment.objects.get(pk=mine["id"]).status == "accepted"


@pytest.mark.parametrize(
    ("answers", "status", "code"),
    [
        ({"label": "x" * 70_000}, 413, "answers_too_large"),
        ({"label": "Other", "secret": "1"}, 400, "invalid_answers"),
        ({"label": 5}, 400, "invalid_answers"),
        ("label", 400, "invalid_answers"),
    ],
)
def test_submit_bad_answers(batch, worker, answers, status, code):
    body = claim(session(worker), batch)
    r = APIClient().post(
        f"{API}/submit/", {"token": body["submit_token"], "answers": answers}, format="json"
    )
    assert_error(r, status, code)
    assert Assignment.objects.get(pk=body["id"]).status == "accepted"


def test_submit_twice_after_deadline_returned(batch, worker):
    client = session(worker)
    first = claim(client, batch)
    frame = APIClient()
    ok = frame.post(
        f"{API}/submit/",
        {"token": first["submit_token"], "answers": {"label": "Question"}},
        format="json",
    )
    assert ok.status_code == 200
    again = frame.post(
        f"{API}/submit/",
        {"token": first["submit_token"], "answers": {"label": "Other"}},
        format="json",
    )
    assert_error(again, 409, "already_submitted", message="the first submission is kept")
    assert Assignment.objects.get(pk=first["id"]).answers == {"label": "Question"}

    late = claim(client, batch)
    Assignment.objects.filter(pk=late["id"]).update(
        accepted_at=timezone.now() - timedelta(hours=3),
        deadline=timezone.now() - timedelta(seconds=1),
    )
    r = frame.post(
        f"{API}/submit/",
        {"token": late["submit_token"], "answers": {"label": "Other"}},
        format="json",
    )
    assert_error(r, 409, "deadline_passed", message="The time allotted for this task ran out")

    back = claim(client, batch)
    assert (
        csrf_post(client, f"{API}/assignments/{back['id']}/return/").json()["status"] == "returned"
    )
    assert_error(
        csrf_post(client, f"{API}/assignments/{back['id']}/return/"), 409, "already_returned"
    )
    r = frame.post(
        f"{API}/submit/",
        {"token": back["submit_token"], "answers": {"label": "Other"}},
        format="json",
    )
    assert_error(r, 409, "returned")
    assert_error(
        frame.post(f"{API}/submit/", {"answers": {}}, format="json"), 400, "invalid", field="token"
    )


def test_claim_refusals_in_the_api(requester, worker, settings):
    batch = published(requester, tasks=3)
    client = session(worker)
    services.batch_pause(batch=batch, user=requester)
    assert_error(
        csrf_post(client, f"{API}/projects/{batch.project_id}/claim/"), 409, "batch_paused"
    )
    task = Task.objects.filter(batch=batch).first()
    assert_error(csrf_post(client, f"{API}/tasks/{task.pk}/claim/"), 409, "batch_paused")
    services.batch_resume(batch=batch, user=requester)
    Batch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(
        csrf_post(client, f"{API}/projects/{batch.project_id}/claim/"), 409, "batch_expired"
    )
    Batch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() + timedelta(days=1))
    settings.FAIRTASK_MAX_ACCEPTED = 1
    a = csrf_post(client, f"{API}/tasks/{task.pk}/claim/")
    assert a.status_code == 201
    assert_error(
        csrf_post(client, f"{API}/projects/{batch.project_id}/claim/"), 409, "too_many_accepted"
    )
    csrf_post(client, f"{API}/assignments/{a.json()['id']}/return/")
    assert_error(csrf_post(client, f"{API}/tasks/{task.pk}/claim/"), 409, "already_worked")
    services.batch_cancel(batch=batch, user=requester)
    assert_error(
        csrf_post(client, f"{API}/projects/{batch.project_id}/claim/"), 409, "batch_cancelled"
    )
    assert_error(csrf_post(client, f"{API}/projects/999999/claim/"), 404, "not_found")
    assert_error(csrf_post(client, f"{API}/tasks/999999/claim/"), 404, "not_found")


def test_own_task_and_rate_limit_in_the_api(settings):
    both = RequesterFactory(is_worker=True)
    batch = published(both, tasks=3)
    assert_error(
        csrf_post(session(both), f"{API}/projects/{batch.project_id}/claim/"), 403, "own_task"
    )
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 1
    client = session(WorkerFactory())
    claim(client, batch)
    assert_error(
        csrf_post(client, f"{API}/projects/{batch.project_id}/claim/"), 429, "rate_limited"
    )


def test_the_plain_claim_and_submit_views_keep_the_api_contract(batch, worker, requester):
    """The claim and the submit are plain Django views (``marketplace.api.plain``), not
    DRF's: they must still answer every refusal in the API's shape, as DRF did."""
    claim_path = f"{API}/projects/{batch.project_id}/claim/"
    # Anonymous, a requester, no CSRF token, the wrong method: refused, nothing taken.
    assert_error(
        csrf_post(APIClient(enforce_csrf_checks=True), claim_path), 403, "not_authenticated"
    )
    assert_error(csrf_post(session(requester), claim_path), 403, "permission_denied")
    assert_error(
        session(worker).post(claim_path, {}, format="json"),
        403,
        "csrf_failed",
        message="CSRF check failed",
    )
    wrong = session(worker).get(claim_path)
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong["Allow"] == "POST"
    assert not Assignment.objects.exists()

    body = claim(session(worker), batch)
    assert set(body) == {
        "id", "status", "project_id", "project_title", "batch_id", "task_id", "reward_cents",
        "accepted_at", "deadline", "submitted_at", "auto_approve_at", "answers", "submit_token",
    }  # fmt: skip
    assert body["accepted_at"].endswith("Z") and body["submitted_at"] is None

    frame = APIClient(enforce_csrf_checks=True)
    submit = f"{API}/submit/"
    assert_error(
        frame.post(submit, "{not json", content_type="application/json"), 400, "parse_error"
    )
    assert_error(
        frame.post(
            submit,
            f"token={body['submit_token']}&answers=%7B%7D",
            content_type="application/x-www-form-urlencoded",
        ),
        415,
        "unsupported_media_type",
    )
    deep = '{"token": "1.x", "answers": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert_error(frame.post(submit, deep, content_type="application/json"), 400, "parse_error")
    assert_error(frame.get(submit), 405, "method_not_allowed")
    assert_error(
        frame.post(submit, {"token": "x" * 201, "answers": {}}, format="json"),
        400,
        "invalid",
        field="token",
    )
    for bad, field in [
        ([body["submit_token"]], None),
        ({"answers": {"label": "Other"}}, "token"),
        ({"token": "   ", "answers": {}}, "token"),
        ({"token": 12, "answers": {}}, "token"),
        ({"token": body["submit_token"]}, "answers"),
    ]:
        assert_error(frame.post(submit, bad, format="json"), 400, "invalid", field=field)
    assert Assignment.objects.get(pk=body["id"]).status == "accepted"
    ok = frame.post(
        submit, {"token": body["submit_token"], "answers": {"label": "Other"}}, format="json"
    )
    assert ok.status_code == 200 and ok.json() == {"id": body["id"], "status": "submitted"}
    assert ok["Access-Control-Allow-Origin"] == "*"
