"""Blocked workers: the requester's list page, unblocking (page and API), who may see and
lift which block, and what an unblocked worker sees again."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from core.errors import ApplicationError
from tasks import review, services
from tasks.models import Assignment, WorkerBlock
from tasks.review_selectors import pseudonym
from tasks.selectors import projects_visible_to
from tests.fixtures.assignments import make_assignment, open_task
from tests.fixtures.users import RequesterFactory
from tests.marketplace.api_helpers import assert_error, key_client
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db

LIST = reverse("review:blocked_workers")


def blocked(requester, batch, reason: str = "Copies answers"):
    """A worker who handed in work for ``batch`` and whom ``requester`` blocked."""
    a = make_assignment(batch, "submitted", answers={"label": "Question"})
    block = review.worker_block(requester=requester, assignment_id=a.pk, reason=reason)
    return a, block


def unblock_url(block) -> str:
    return reverse("review:unblock_worker", args=[block.pk])


def test_the_page_lists_only_my_blocks_by_pseudonym_with_reason_and_date(client, requester):
    batch = published(requester, tasks=10)
    a, block = blocked(requester, batch, reason="Random clicks on every task")
    other = RequesterFactory()
    _, theirs = blocked(other, published(other, tasks=2), reason="Theirs, not mine")
    client.force_login(requester)
    page = client.get(LIST).content.decode()
    assert pseudonym(requester_id=requester.pk, worker_id=a.worker_id) in page
    assert "Random clicks on every task" in page
    assert block.created_at.strftime("%Y-%m-%d %H:%M") in page
    assert a.worker.email not in page and a.worker.display_name not in page
    assert "Theirs, not mine" not in page and unblock_url(theirs) not in page
    assert f'href="{unblock_url(block)}"' in page
    # Reachable from the review page and the requester's home page.
    review_page = client.get(reverse("review:review_table", args=[batch.pk])).content.decode()
    assert review_page.count(f'href="{LIST}"') == 1
    home = client.get(reverse("requester_home")).content.decode()
    assert home.count(f'href="{LIST}"') == 1


def test_the_list_keeps_its_query_count_whatever_the_number_of_blocks(
    client, requester, django_assert_max_num_queries
):
    batch = published(requester, tasks=60)
    blocked(requester, batch)
    client.force_login(requester)
    with django_assert_max_num_queries(8) as few:
        assert client.get(LIST).status_code == 200
    for _ in range(40):
        blocked(requester, batch)
    with django_assert_max_num_queries(8) as many:
        response = client.get(LIST)
    assert len(response.context["blocks"]) == 41
    assert len(many.captured_queries) == len(few.captured_queries)


def test_unblock_asks_first_then_lifts_with_a_post_and_twice_is_a_clear_message(client, requester):
    batch = published(requester, tasks=10)
    a, block = blocked(requester, batch)
    _, kept = blocked(requester, batch, reason="Another one")
    client.force_login(requester)
    confirm = client.get(unblock_url(block)).content.decode()
    assert "Copies answers" in confirm and "sees your projects again" in confirm
    assert WorkerBlock.objects.filter(pk=block.pk).exists()  # GET changed nothing

    response = client.post(unblock_url(block), follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "Worker unblocked" in response.content.decode()
    assert not WorkerBlock.objects.filter(pk=block.pk).exists()

    again = client.post(unblock_url(block), follow=True).content.decode()
    assert "this worker is not blocked by you (already unblocked?); nothing was changed" in again
    assert list(WorkerBlock.objects.values_list("pk", flat=True)) == [kept.pk]
    assert client.get(unblock_url(block)).status_code == 404  # nothing left to confirm


def test_unblock_needs_the_csrf_token(requester):
    batch = published(requester, tasks=2)
    _, block = blocked(requester, batch)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(requester)
    assert strict.post(unblock_url(block)).status_code == 403
    page = strict.get(unblock_url(block)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert strict.post(unblock_url(block), {"csrfmiddlewaretoken": token}).status_code == 302
    assert not WorkerBlock.objects.exists()


def test_another_requester_can_neither_see_nor_lift_my_block(client, requester):
    batch = published(requester, tasks=2)
    a, block = blocked(requester, batch)
    client.force_login(RequesterFactory())
    assert client.get(unblock_url(block)).status_code == 404
    response = client.post(unblock_url(block), follow=True)
    assert "not blocked by you" in response.content.decode()
    assert WorkerBlock.objects.filter(pk=block.pk).exists()

    stranger = key_client(RequesterFactory())
    assert stranger.get("/api/v1/blocks/").json()["count"] == 0
    assert_error(stranger.delete(f"/api/v1/blocks/{block.pk}/"), 404, "not_found")
    assert_error(stranger.post(f"/api/v1/assignments/{a.pk}/unblock/"), 404, "not_found")
    assert WorkerBlock.objects.filter(pk=block.pk).exists()


def test_non_requesters_are_refused(client, requester):
    batch = published(requester, tasks=2)
    a, block = blocked(requester, batch)
    assert client.get(LIST).status_code == 302  # anonymous: to the login page
    assert client.post(unblock_url(block)).status_code == 302
    client.force_login(a.worker)  # a worker, and the very one blocked
    assert client.get(LIST).status_code == 403
    assert client.get(unblock_url(block)).status_code == 403
    assert client.post(unblock_url(block)).status_code == 403
    assert client.get("/api/v1/blocks/").status_code == 403
    assert client.delete(f"/api/v1/blocks/{block.pk}/").status_code == 403
    assert WorkerBlock.objects.filter(pk=block.pk).exists()


def test_an_unblocked_worker_sees_and_claims_my_projects_again(client, requester):
    batch = published(requester, tasks=10)
    a, block = blocked(requester, batch)
    worker = a.worker
    assert batch.project not in projects_visible_to(worker)
    with pytest.raises(ApplicationError) as exc:
        services.assignment_claim_task(worker=worker, task=open_task(batch, worker))
    assert exc.value.code == "blocked"

    client.force_login(requester)
    client.post(unblock_url(block))
    assert batch.project in projects_visible_to(worker)
    claimed = services.assignment_claim_task(worker=worker, task=open_task(batch, worker))
    assert claimed.worker_id == worker.pk and claimed.status == "accepted"


def test_api_lists_and_lifts_blocks_and_twice_is_an_error(requester):
    batch = published(requester, tasks=10)
    a, block = blocked(requester, batch, reason="Spam answers")
    b, other = blocked(requester, batch, reason="Too fast")
    api = key_client(requester)
    listing = api.get("/api/v1/blocks/").json()
    assert listing["count"] == 2
    assert [r["id"] for r in listing["results"]] == [other.pk, block.pk]  # newest first
    assert listing["results"][1] == {
        "id": block.pk,
        "worker": pseudonym(requester_id=requester.pk, worker_id=a.worker_id),
        "reason": "Spam answers",
        "created_at": listing["results"][1]["created_at"],
    }
    assert "@" not in str(listing)

    assert api.delete(f"/api/v1/blocks/{block.pk}/").status_code == 204
    assert_error(api.delete(f"/api/v1/blocks/{block.pk}/"), 404, "not_found")

    r = api.post(f"/api/v1/assignments/{b.pk}/unblock/")
    assert r.status_code == 200 and r.json() == {"blocked": False}
    assert_error(api.post(f"/api/v1/assignments/{b.pk}/unblock/"), 409, "not_blocked")
    assert not WorkerBlock.objects.exists()
    assert api.get("/api/v1/blocks/").json()["count"] == 0


def test_the_service_refuses_what_is_not_blocked_and_changes_nothing(requester):
    batch = published(requester, tasks=4)
    a = make_assignment(batch, "submitted")
    _, kept = blocked(requester, batch)
    with pytest.raises(ApplicationError) as exc:
        review.worker_unblock(requester=requester, assignment_id=a.pk)
    assert (exc.value.code, exc.value.status) == ("not_blocked", 409)
    for bad in (0, -1, "x", 2**63, None):
        with pytest.raises(ApplicationError) as exc:
            review.block_lift(requester=requester, block_id=bad)
        assert exc.value.code == "not_found"
    assert list(WorkerBlock.objects.values_list("pk", flat=True)) == [kept.pk]
    # A worker blocked again after an unblock is blocked anew, with the new reason.
    review.block_lift(requester=requester, block_id=kept.pk)
    theirs = Assignment.objects.filter(worker_id=kept.worker_id).get()
    again = review.worker_block(requester=requester, assignment_id=theirs.pk, reason="Back at it")
    assert again.reason == "Back at it" and WorkerBlock.objects.count() == 1
