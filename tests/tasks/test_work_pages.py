"""The worker's task page: preview without accepting, accept, submit through the page's
form with the assignment's token, accept next, return, skip; the frames; the queue."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.frame import FRAME_CSP
from marketplace.models import Task
from tasks import preferences
from tasks.models import Assignment, AssignmentStatus
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import WorkerFactory
from tests.tasks.conftest import publish_work

pytestmark = pytest.mark.django_db


def _accept_form_task(html: str) -> str:
    return re.search(r'name="task" value="([^"]+)"', html).group(1)


def _frame_src(html: str) -> str:
    return re.search(r'<iframe[^>]*src="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_preview_shows_the_task_page_and_takes_nothing(wclient, requester):
    project, batch = publish_work(
        requester, rows=3, title="Sort tickets", instructions="Read it all.", reward_cents=12
    )
    response = wclient.get(reverse("work:preview", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Sort tickets", "Read it all.", "$0.12", "$0.02", "$14.40/h", "Accept this task"):
        assert text in html, text
    assert 'sandbox="allow-scripts allow-forms"' in html and "allow-same-origin" not in html
    frame = wclient.get(_frame_src(html))
    assert frame.status_code == 200 and frame["Content-Security-Policy"] == FRAME_CSP
    assert "Ticket number 1," in frame.content.decode()  # the first row's own data
    assert Assignment.objects.count() == 0
    assert sum(Task.objects.filter(batch=batch).values_list("assignments_taken", flat=True)) == 0


def test_skip_previews_the_next_row_then_wraps(wclient, requester):
    project, _ = publish_work(requester, rows=2)
    first = wclient.get(reverse("work:preview", args=[project.pk])).content.decode()
    skip = re.search(r'href="([^"]+)"[^>]*data-key="s"', first).group(1).replace("&amp;", "&")
    second = wclient.get(skip).content.decode()
    assert "Ticket number 2," in wclient.get(_frame_src(second)).content.decode()
    skip = re.search(r'href="([^"]+)"[^>]*data-key="s"', second).group(1).replace("&amp;", "&")
    third = wclient.get(skip).content.decode()
    assert "Ticket number 1," in wclient.get(_frame_src(third)).content.decode()


def test_a_preview_link_is_useless_to_another_worker(wclient, client, requester):
    project, _ = publish_work(requester)
    html = wclient.get(reverse("work:preview", args=[project.pk])).content.decode()
    other = WorkerFactory()
    client.force_login(other)
    response = client.get(_frame_src(html))
    assert response.status_code == 404 and "Ticket number" not in response.content.decode()
    # Accepting with another worker's preview token falls back to "the next task".
    client.post(reverse("work:accept", args=[project.pk]), {"task": _accept_form_task(html)})
    assert Assignment.objects.get(worker=other).task.row_number == 1
    tampered = wclient.get(reverse("tasks:preview_frame", args=["1:abc:def"]))
    assert tampered.status_code == 404


def test_accept_the_previewed_task_then_submit_then_accept_next(wclient, worker, requester):
    project, batch = publish_work(requester, rows=3)
    skip_to_second = wclient.get(
        reverse("work:preview", args=[project.pk]),
        {"after": Task.objects.get(batch=batch, row_number=1).pk},
    ).content.decode()
    response = wclient.post(
        reverse("work:accept", args=[project.pk]), {"task": _accept_form_task(skip_to_second)}
    )
    assignment = Assignment.objects.get(worker=worker)
    assert assignment.task.row_number == 2  # the task previewed, not the first free one
    assert response["Location"] == reverse("work:assignment", args=[assignment.pk])

    page = wclient.get(response["Location"]).content.decode()
    assert assignment.submit_token in page and 'data-submit-form="#submit-form"' in page
    frame = wclient.get(_frame_src(page))
    assert frame["Content-Security-Policy"] == FRAME_CSP
    assert "Ticket number 2," in frame.content.decode()

    done = wclient.post(
        reverse("work:submit"),
        {"token": assignment.submit_token, "answers": json.dumps({"label": "Question"})},
    )
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED
    assert assignment.answers == {"label": "Question"}
    nxt = Assignment.objects.get(worker=worker, status=AssignmentStatus.ACCEPTED)
    assert nxt.task.row_number == 1  # accept next: the next free task of the project
    assert done["Location"] == reverse("work:assignment", args=[nxt.pk])


def test_without_accept_next_submit_goes_back_to_the_browser(wclient, worker, requester):
    preferences.preferences_update(
        user=worker,
        min_hourly_cents=0,
        accept_next=False,
        daily_cap_minutes=None,
        daily_cap_cents=None,
        sprint_minutes=25,
    )
    project, batch = publish_work(requester, rows=3)
    wclient.post(reverse("work:accept", args=[project.pk]))
    a = Assignment.objects.get(worker=worker)
    response = wclient.post(
        reverse("work:submit"), {"token": a.submit_token, "answers": '{"label": "Other"}'}
    )
    assert response["Location"] == reverse("worker_home")
    assert Assignment.objects.filter(worker=worker).count() == 1


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ('{"nope": "x"}', "has no field"),
        ('{"label": 5}', "must be text"),
        ("[1, 2]", "must be an object"),
        ("{not json", "could not be read"),
        ("[" * 100_000, "could not be read"),
    ],
)
def test_bad_answers_are_refused_and_nothing_changes(wclient, worker, requester, answers, message):
    project, _ = publish_work(requester)
    a = make_assignment(_batch(project), worker=worker)
    response = wclient.post(
        reverse("work:submit"), {"token": a.submit_token, "answers": answers}, follow=True
    )
    assert message in response.content.decode()
    a.refresh_from_db()
    assert a.status == AssignmentStatus.ACCEPTED and a.answers == {}


def _batch(project):
    return project.batches.get()


def test_submitting_twice_keeps_the_first(wclient, worker, requester):
    project, _ = publish_work(requester)
    a = make_assignment(_batch(project), worker=worker)
    wclient.post(
        reverse("work:submit"), {"token": a.submit_token, "answers": '{"label": "Question"}'}
    )
    second = wclient.post(
        reverse("work:submit"),
        {"token": a.submit_token, "answers": '{"label": "Other"}'},
        follow=True,
    )
    assert "already submitted" in second.content.decode()
    a.refresh_from_db()
    assert a.answers == {"label": "Question"}


def test_another_workers_token_assignment_and_frame_are_useless(wclient, client, worker, requester):
    project, _ = publish_work(requester)
    theirs = make_assignment(_batch(project))
    assert wclient.get(reverse("work:assignment", args=[theirs.pk])).status_code == 404
    frame = wclient.get(reverse("tasks:work_frame", args=[theirs.pk]))
    assert frame.status_code == 404 and "Ticket" not in frame.content.decode()
    assert wclient.post(reverse("work:return", args=[theirs.pk])).status_code == 404
    forged = f"{theirs.pk}.{'0' * 40}"
    response = wclient.post(reverse("work:submit"), {"token": forged, "answers": "{}"}, follow=True)
    assert "not valid" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == AssignmentStatus.ACCEPTED


def test_submit_after_the_deadline_is_refused(wclient, worker, requester):
    project, _ = publish_work(requester, estimated_seconds=30, time_allotted_seconds=60)
    a = make_assignment(_batch(project), worker=worker, seconds=120)
    response = wclient.post(
        reverse("work:submit"),
        {"token": a.submit_token, "answers": '{"label": "Other"}'},
        follow=True,
    )
    assert "ran out" in response.content.decode()
    a.refresh_from_db()
    assert a.status == AssignmentStatus.ACCEPTED  # the expiry job releases it


def test_return_frees_the_slot_and_skip_previews_another(wclient, worker, requester):
    project, batch = publish_work(requester, rows=2)
    a = make_assignment(batch, worker=worker)
    response = wclient.post(reverse("work:return", args=[a.pk]), {"then": "next"})
    a.refresh_from_db()
    assert a.status == AssignmentStatus.RETURNED and a.task.assignments_taken == 0
    assert response["Location"].startswith(reverse("work:preview", args=[project.pk]) + "?after=")
    again = wclient.post(reverse("work:return", args=[a.pk]), follow=True)
    assert "already returned" in again.content.decode()
    assert wclient.get(reverse("work:assignment", args=[a.pk])).status_code == 302


def test_accept_errors_are_shown_and_change_nothing(wclient, worker, requester, settings):
    settings.FAIRTASK_MAX_ACCEPTED = 1
    project, batch = publish_work(requester, rows=3)
    wclient.post(reverse("work:accept", args=[project.pk]))
    response = wclient.post(reverse("work:accept", args=[project.pk]), follow=True)
    assert "limit is 1" in response.content.decode()
    assert Assignment.objects.filter(worker=worker).count() == 1


def test_the_queue_lists_accepted_tasks_with_their_deadlines(wclient, worker, requester):
    project, batch = publish_work(requester, rows=3, title="Queue me")
    a = make_assignment(batch, worker=worker)
    make_assignment(batch, "submitted", worker=worker)
    response = wclient.get(reverse("work:queue"))
    items = list(response.context["items"])
    assert items == [a]
    html = response.content.decode()
    assert f'data-deadline="{a.deadline.isoformat()}"' in html and "Queue me" in html
    partial = wclient.get(reverse("work:queue"), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "data-expire-remove" in partial
    # Past its deadline (not yet swept by the expiry job) it is no longer listed.
    Assignment.objects.filter(pk=a.pk).update(deadline=timezone.now())
    assert list(wclient.get(reverse("work:queue")).context["items"]) == []


def test_measured_time_reaches_cards_the_task_page_and_the_requester(
    wclient, client, worker, requester
):
    from marketplace import services as mservices
    from tasks import services

    project, batch = publish_work(requester, rows=10, reward_cents=10, estimated_seconds=30)
    for seconds in (60, 60, 90, 120, 120):  # median 90 s: 10¢ per 90 s = $4.00/h
        make_assignment(batch, "submitted", seconds=seconds)
    services.measured_times_refresh()
    mservices.listing_refresh()
    card = wclient.get(reverse("worker_home")).context["page"].object_list[0]
    assert (card.hourly_rate_cents, card.expected_seconds, card.rate_is_measured) == (400, 90, True)
    html = wclient.get(reverse("work:preview", args=[project.pk])).content.decode()
    assert "$4.00/h" in html and "1 min 30 s measured" in html
    client.force_login(requester)
    detail = client.get(reverse("requester:project_detail", args=[project.pk])).content.decode()
    assert "1 min 30 s (median of 5 submissions): $4.00/h" in detail
    assert "below the $8.00/h floor" in detail
