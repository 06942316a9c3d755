"""The task browser: cards, filters, the personal minimum, requirements, paging and a
query count that does not grow with the data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace import services
from marketplace.models import ProjectListing
from tasks import preferences
from tests.fixtures.users import RequesterFactory
from tests.marketplace.conftest import csv_bytes, upload
from tests.tasks.conftest import publish_work

pytestmark = pytest.mark.django_db


def _titles(response) -> list[str]:
    return [listing.project.title for listing in response.context["page"].object_list]


def test_a_card_shows_the_terms_and_the_open_work(wclient, requester):
    project, batch = publish_work(
        requester, rows=7, title="Label photos", reward_cents=30, estimated_seconds=60
    )
    response = wclient.get(reverse("worker_home"))
    assert response.status_code == 200
    (card,) = response.context["page"].object_list
    assert (card.project_id, card.open_tasks, card.open_assignments) == (project.pk, 7, 7)
    assert (card.reward_cents, card.fee_cents, card.hourly_rate_cents) == (30, 6, 1800)
    html = response.content.decode()
    assert "Label photos" in html and "$18.00/h" in html and "$0.30" in html
    assert f'action="{reverse("work:accept", args=[project.pk])}"' in html
    # The requester's email is never shown to workers.
    assert requester.email not in html


def test_paused_cancelled_and_expired_work_disappears(wclient, requester):
    project, batch = publish_work(requester)
    assert _titles(wclient.get(reverse("worker_home"))) == [project.title]
    services.batch_pause(batch=batch, user=requester)
    services.listing_refresh(project_ids=[project.pk])  # what the on-commit refresh does
    assert _titles(wclient.get(reverse("worker_home"))) == []


def test_an_expired_batch_is_hidden_before_the_expiry_job_runs(wclient, requester):
    project, batch = publish_work(requester)
    listing = ProjectListing.objects.get(project=project)
    assert listing.live_until == batch.expires_at
    # The clock passes the batch's expiry; neither the expiry job nor a refresh ran.
    past = batch.published_at
    type(batch).objects.filter(pk=batch.pk).update(expires_at=past)
    ProjectListing.objects.filter(project=project).update(live_until=past)
    assert ProjectListing.objects.get(project=project).open_assignments == 5
    assert _titles(wclient.get(reverse("worker_home"))) == []


def test_filters_by_hourly_rate_reward_time_keywords_and_type(wclient, requester):
    publish_work(
        requester,
        title="Cheap quick",
        reward_cents=5,
        estimated_seconds=20,
        keywords="sentiment, reviews",
    )  # $9.00/h
    publish_work(requester, title="Well paid", reward_cents=50, estimated_seconds=60)  # $30/h
    publish_work(
        requester,
        title="Long sentiment",
        template_kind="sentiment",
        template_config={},
        reward_cents=200,
        estimated_seconds=600,
    )  # $12/h
    url = reverse("worker_home")
    assert _titles(wclient.get(url)) == ["Well paid", "Long sentiment", "Cheap quick"]
    assert _titles(wclient.get(url, {"min_hourly": "12"})) == ["Well paid", "Long sentiment"]
    assert _titles(wclient.get(url, {"min_reward": "0.50"})) == ["Well paid", "Long sentiment"]
    assert _titles(wclient.get(url, {"max_minutes": "5"})) == ["Well paid", "Cheap quick"]
    assert _titles(wclient.get(url, {"q": "REVIEWS"})) == ["Cheap quick"]
    assert _titles(wclient.get(url, {"kind": "sentiment"})) == ["Long sentiment"]
    assert _titles(wclient.get(url, {"sort": "reward"}))[0] == "Long sentiment"
    assert _titles(wclient.get(url, {"sort": "time"}))[0] == "Cheap quick"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_hourly", "12,50", "uses a comma for cents"),
        ("min_hourly", "1e3", "is not an amount in dollars"),
        ("min_reward", "-1", "cannot be negative"),
        ("max_minutes", "0", "greater than or equal to 1"),
        ("q", "bad\x00word", "Null characters are not allowed"),
        ("q", "bad\x01word", "letters, digits and punctuation"),
        ("kind", "nonsense", "Select a valid choice"),
    ],
)
def test_bad_filters_are_a_400_with_the_error_next_to_the_field(
    wclient, requester, field, value, message
):
    publish_work(requester)
    response = wclient.get(reverse("worker_home"), {field: value})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.split()[0] in response.content.decode()


def test_the_personal_minimum_hides_everything_below_it(wclient, worker, requester):
    publish_work(requester, title="Cheap", reward_cents=5, estimated_seconds=20)  # $9/h
    publish_work(requester, title="Fair", reward_cents=50, estimated_seconds=60)  # $30/h
    preferences.preferences_update(
        user=worker,
        min_hourly_cents=1000,
        accept_next=True,
        daily_cap_minutes=None,
        daily_cap_cents=None,
        sprint_minutes=25,
    )
    response = wclient.get(reverse("worker_home"))
    assert _titles(response) == ["Fair"]
    assert "Hiding work that pays less than your minimum of $10.00/h" in response.content.decode()
    # A lower filter does not override it; a higher one narrows further.
    assert _titles(wclient.get(reverse("worker_home"), {"min_hourly": "5"})) == ["Fair"]
    nothing = wclient.get(reverse("worker_home"), {"min_hourly": "31"})
    assert _titles(nothing) == []
    # The empty state says what to do; no "0 projects with work for you" above it.
    page = nothing.content.decode()
    assert "No work matches" in page and "Try fewer filters" in page
    assert "with work for you" not in page


def test_only_what_i_qualify_for(wclient, requester):
    publish_work(requester, title="Open to all")
    publish_work(requester, title="Needs a record", requirements={"min_completed": 10})
    publish_work(requester, title="Needs a tier", requirements={"min_tier": "expert"})
    publish_work(requester, title="Newcomers welcome", requirements={"min_approval_rate": 95})
    url = reverse("worker_home")
    everything = wclient.get(url)
    assert set(_titles(everything)) == {
        "Open to all",
        "Needs a record",
        "Needs a tier",
        "Newcomers welcome",
    }
    locked = {
        listing.project.title
        for listing in everything.context["page"].object_list
        if not listing.qualifies
    }
    assert locked == {"Needs a record", "Needs a tier"}
    assert "Locked:" in everything.content.decode()
    assert set(_titles(wclient.get(url, {"qualified": "on"}))) == {
        "Open to all",
        "Newcomers welcome",
    }


def test_own_projects_are_not_offered(client, requester):
    requester.is_worker = True
    requester.save()
    publish_work(requester, title="Mine")
    publish_work(RequesterFactory(), title="Theirs")
    client.force_login(requester)
    assert _titles(client.get(reverse("worker_home"))) == ["Theirs"]


def test_requesters_without_the_worker_role_get_403(client, requester):
    client.force_login(requester)
    assert client.get(reverse("worker_home")).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("worker_home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_pages_keep_the_filters(wclient, requester):
    for i in range(discovery_page_size() + 3):
        publish_work(requester, title=f"Project {i:02d}", rows=1)
    response = wclient.get(reverse("worker_home"), {"sort": "newest"})
    assert len(response.context["page"].object_list) == discovery_page_size()
    html = response.content.decode()
    assert "sort=newest&amp;page=2" in html
    second = wclient.get(reverse("worker_home"), {"sort": "newest", "page": 2})
    assert len(second.context["page"].object_list) == 3


def discovery_page_size() -> int:
    from tasks.views import CARDS_PER_PAGE

    return CARDS_PER_PAGE


def _page_queries(client, django_assert_max_num_queries, n: int) -> None:
    with django_assert_max_num_queries(n):
        response = client.get(
            reverse("worker_home"), {"min_hourly": "1", "q": "Project", "qualified": "on"}
        )
    assert response.status_code == 200


# Session, user, preferences, worker record, count, page.
BROWSE_QUERIES = 6


def test_the_query_count_does_not_grow_with_the_data(wclient, django_assert_max_num_queries):
    owners = [RequesterFactory() for _ in range(3)]
    for i in range(4):  # 4 projects x 250 tasks: 1,000 open tasks
        publish_work(owners[i % 3], title=f"Project {i}", rows=250)
    _page_queries(wclient, django_assert_max_num_queries, BROWSE_QUERIES)
    for i in range(4, 30):  # 30 projects, 13,000 more open tasks
        publish_work(owners[i % 3], title=f"Project {i}", rows=500)
    _page_queries(wclient, django_assert_max_num_queries, BROWSE_QUERIES)
    page = wclient.get(reverse("worker_home")).context["page"]
    assert page.paginator.count == 30 and len(page.object_list) == discovery_page_size()


def test_listing_refresh_counts_open_slots_of_live_batches_only(requester):
    project, batch = publish_work(requester, rows=4, assignments_per_task=3)
    listing = ProjectListing.objects.get(project=project)
    assert (listing.open_tasks, listing.open_assignments) == (4, 12)
    upload(project, requester, csv_bytes(9))  # a draft of the same project adds nothing
    assert services.listing_refresh() == 1
    listing.refresh_from_db()
    assert (listing.open_tasks, listing.open_assignments) == (4, 12)
    services.batch_cancel(batch=batch, user=requester)
    services.listing_refresh()  # the card that showed work is zeroed
    listing.refresh_from_db()
    assert (listing.open_tasks, listing.open_assignments) == (0, 0)
