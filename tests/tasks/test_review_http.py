"""The review page and the review API: permissions, bulk decisions, bounded queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payouts.models import Payable
from tasks.models import Assignment, WorkerBlock
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import RequesterFactory
from tests.marketplace.api_helpers import assert_error, key_client
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db


def submitted(batch, n, label="Question"):
    return [make_assignment(batch, "submitted", answers={"label": label}) for _ in range(n)]


def test_review_page_shows_answers_and_keeps_its_query_count_bounded(client, requester):
    batch = published(requester, tasks=30, assignments_per_task=2)
    submitted(batch, 6)
    client.force_login(requester)
    url = reverse("review:review_table", args=[batch.pk])
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)
    assert response.status_code == 200
    assert b"Question" in response.content and b"w_" in response.content
    submitted(batch, 40)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.status_code == 200
    assert len(many) == len(few)  # 6 rows or a full page of 50: the same queries


def test_review_page_filters_by_agreement_and_time(client, requester):
    batch = published(requester, tasks=4, assignments_per_task=2)
    # Task 1: two agreeing answers; task 2: two disagreeing ones.
    a1 = make_assignment(batch, "submitted", answers={"label": "Question"}, seconds=10)
    a2 = make_assignment(batch, "submitted", answers={"label": " question "}, seconds=100)
    b1 = make_assignment(batch, "submitted", answers={"label": "Complaint"}, seconds=100)
    b2 = make_assignment(batch, "submitted", answers={"label": "Question"}, seconds=100)
    assert a1.task_id == a2.task_id != b1.task_id == b2.task_id
    client.force_login(requester)
    url = reverse("review:review_table", args=[batch.pk])

    def ids(**query):
        return [r.pk for r in client.get(url, query).context["rows"]]

    assert ids(agreement="full") == [a1.pk, a2.pk]
    assert ids(agreement="below_50") == [b1.pk, b2.pk]
    assert ids(max_seconds="50") == [a1.pk]
    assert ids(min_seconds="50") == [a2.pk, b1.pk, b2.pk]
    assert ids(gold="gold") == []
    assert ids(answer="complaint") == [b1.pk]


def test_bulk_approve_all_matching_from_the_page(client, requester):
    batch = published(requester, tasks=10, assignments_per_task=1)
    items = submitted(batch, 5)
    client.force_login(requester)
    response = client.post(
        reverse("review:review_decide", args=[batch.pk]),
        {"action": "approve", "scope": "matching", "status": "submitted"},
    )
    assert response.status_code == 302
    assert Payable.objects.filter(assignment_id__in=[a.pk for a in items]).count() == 5
    # Rejecting without a reason: a message, nothing changed.
    more = submitted(batch, 1)
    response = client.post(
        reverse("review:review_decide", args=[batch.pk]),
        {"action": "reject", "assignment_ids": [more[0].pk]},
        follow=True,
    )
    assert b"Choose a reason" in response.content
    assert Assignment.objects.get(pk=more[0].pk).status == "submitted"


def test_another_requesters_review_page_and_actions_are_404(client, requester):
    batch = published(requester, tasks=2)
    a = submitted(batch, 1)[0]
    client.force_login(RequesterFactory())
    assert client.get(reverse("review:review_table", args=[batch.pk])).status_code == 404
    response = client.post(
        reverse("review:assignment_action", args=[batch.pk, a.pk, "block"]), {"reason": "x"}
    )
    assert response.status_code == 404
    assert not WorkerBlock.objects.exists()


def test_api_review_actions(requester):
    batch = published(requester, tasks=10, assignments_per_task=1)
    a, b, c = submitted(batch, 3)
    api = key_client(requester)
    listing = api.get(f"/api/v1/batches/{batch.pk}/assignments/").json()
    assert listing["count"] == 3 and listing["results"][0]["worker"].startswith("w_")
    assert listing["results"][0]["answers"] == {"label": "Question"}

    r = api.post("/api/v1/assignments/approve/", {"assignment_ids": [a.pk]}, format="json")
    assert r.status_code == 200 and r.json()["count"] == 1
    assert_error(
        api.post("/api/v1/assignments/approve/", {"assignment_ids": [a.pk]}, format="json"),
        409,
        "illegal_transition",
    )
    assert_error(
        api.post("/api/v1/assignments/reject/", {"assignment_ids": [b.pk]}, format="json"),
        400,
        "invalid",
    )
    r = api.post(
        "/api/v1/assignments/reject/",
        {"assignment_ids": [b.pk], "reason": "incomplete", "note": "Half empty"},
        format="json",
    )
    assert r.status_code == 200
    assert api.post(f"/api/v1/assignments/{b.pk}/reverse/").json()["status"] == "approved"
    assert_error(
        api.post(
            f"/api/v1/assignments/{c.pk}/bonus/", {"amount_cents": 0, "reason": "x"}, format="json"
        ),
        400,
        "invalid",  # the schema's bound (amount_cents >= 1), as every API bound
    )
    assert_error(
        api.post(
            f"/api/v1/assignments/{c.pk}/bonus/", {"amount_cents": 1, "reason": " "}, format="json"
        ),
        400,
        "invalid",
    )
    r = api.post(
        f"/api/v1/assignments/{c.pk}/bonus/", {"amount_cents": 25, "reason": "Nice"}, format="json"
    )
    assert r.status_code == 201 and r.json()["fee_cents"] == 5
    assert api.post(
        f"/api/v1/assignments/{c.pk}/block/", {"reason": "x"}, format="json"
    ).json() == {"blocked": True}

    stranger = key_client(RequesterFactory())
    assert_error(
        stranger.post("/api/v1/assignments/approve/", {"assignment_ids": [c.pk]}, format="json"),
        404,
        "not_found",
    )
    assert_error(stranger.get(f"/api/v1/batches/{batch.pk}/assignments/"), 404, "not_found")


def test_the_worker_sees_the_rejection_reason_and_pending_money(client, requester):
    batch = published(requester, tasks=4, assignments_per_task=1)
    worker_items = []
    first = make_assignment(batch, "submitted", answers={"label": "Question"})
    worker_items.append(first)
    second = make_assignment(batch, "submitted", worker=first.worker, answers={"label": "Other"})
    from tasks import review

    review.assignments_approve(requester=requester, assignment_ids=[first.pk])
    review.assignments_reject(
        requester=requester,
        assignment_ids=[second.pk],
        reason="incomplete",
        note="Field left empty",
    )
    client.force_login(first.worker)
    page = client.get(reverse("work:earnings")).content.decode()
    assert "Work is incomplete" in page and "Field left empty" in page
    assert 'id="pending">$0.10<' in page and 'id="available">$0.00<' in page
    client.force_login(requester)  # a requester without the worker role: 403
    assert client.get(reverse("work:earnings")).status_code == 403
