"""Progress, listings and object-level permission."""

from __future__ import annotations

import pytest
from django.http import Http404

from core.errors import ApplicationError
from marketplace import selectors, services
from tasks import jobs as task_jobs
from tests.fixtures.assignments import make_assignment
from tests.fixtures.threads import at_once
from tests.marketplace.conftest import balance, csv_bytes, escrow, fund, make_project, upload

pytestmark = pytest.mark.django_db


def _assign(batch, specs):
    """specs: (status, seconds of work) per task, in row order, made through the services."""
    for status, seconds in specs:
        make_assignment(batch, status, seconds=seconds or 40)


def test_progress_of_a_batch_without_work(draft, funded):
    progress = selectors.batch_progress(draft)
    assert progress.total_assignments == 10 and progress.remaining == 10
    assert progress.by_state == {
        s: 0 for s in ("accepted", "submitted", "approved", "rejected", "returned", "expired")
    }
    assert (progress.percent_complete, progress.spend_cents) == (0.0, 0)
    assert progress.median_seconds is None and progress.hourly_rate_cents is None
    assert progress.escrow_cents is None  # never published
    published = services.batch_publish(batch=draft, user=funded)
    assert selectors.batch_progress(published).escrow_cents == 120


def test_progress_counts_states_spend_median_and_hourly_rate(draft, funded):
    batch = services.batch_publish(batch=draft, user=funded)
    _assign(
        batch,
        [
            ("accepted", None),
            ("submitted", 20),
            ("approved", 30),
            ("approved", 40),
            ("rejected", 90),
            ("returned", None),
            ("expired", None),
        ],
    )
    assert selectors.batch_progress(batch).median_seconds is None  # until the job runs
    task_jobs.refresh_measured_times()
    batch.refresh_from_db()
    p = selectors.batch_progress(batch)
    assert p.by_state == {
        "accepted": 1,
        "submitted": 1,
        "approved": 2,
        "rejected": 1,
        "returned": 1,
        "expired": 1,
    }
    assert (p.in_progress, p.pending_review, p.completed, p.remaining) == (1, 1, 4, 5)
    assert p.percent_complete == 40.0
    assert p.spend_cents == 24  # two approved × (10¢ + 2¢)
    assert p.median_seconds == 35.0  # of 20, 30, 40, 90
    assert p.hourly_rate_cents == 1028  # 10¢ per 35 s, rounded down
    assert p.escrow_cents == 120


def test_requester_batches_lists_progress_in_two_queries(
    project, requester, funded, django_assert_num_queries
):
    batches = [
        services.batch_publish(batch=upload(project, requester, csv_bytes(3)), user=funded)
        for _ in range(4)
    ]
    _assign(batches[0], [("approved", 10), ("submitted", 20)])
    _assign(batches[2], [("accepted", None)])
    with django_assert_num_queries(2):
        listing = selectors.requester_batches(requester)
    assert [s.batch.pk for s in listing] == [b.pk for b in reversed(batches)]
    by_pk = {s.batch.pk: s.progress for s in listing}
    assert by_pk[batches[0].pk].completed == 2 and by_pk[batches[0].pk].spend_cents == 12
    assert by_pk[batches[2].pk].in_progress == 1
    assert by_pk[batches[1].pk].total_assignments == 3 and by_pk[batches[1].pk].completed == 0
    with django_assert_num_queries(2):
        for s in listing:
            s.batch.project.title  # noqa: B018 - already joined
        selectors.requester_batches(requester, limit=2, statuses=["published"])
    assert selectors.requester_batches(requester, statuses=["draft"]) == []


def test_objects_of_other_requesters_are_404(draft, requester, other_requester, worker, project):
    assert selectors.batch_for(requester, draft.pk) == draft
    assert selectors.project_for(requester, str(project.pk)) == project
    for user in (other_requester, worker):
        with pytest.raises(Http404):
            selectors.batch_for(user, draft.pk)
        with pytest.raises(Http404):
            selectors.project_for(user, project.pk)
        assert list(selectors.batches_for(user)) == []
        assert list(selectors.projects_for(user)) == []
    for bad in ("abc", None, 10**12):
        with pytest.raises(Http404):
            selectors.batch_for(requester, bad)


def test_template_preview(requester):
    html = selectors.template_preview(template_kind="sentiment")
    assert "The parcel arrived two days late" in html and "${" not in html
    custom = selectors.template_preview(template_kind="custom", template_html="<b>${word}</b>")
    assert custom == "<b>sample word</b>"
    assert (
        selectors.template_preview(template_kind="custom", template_html="${a}", row={"a": "<i>"})
        == "&lt;i&gt;"
    )
    with pytest.raises(ApplicationError, match=r"The row has no value for \$\{a\}."):
        selectors.template_preview(template_kind="custom", template_html="${a}", row={})


# --- Concurrency: committed rows, real threads -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_of_one_batch_hold_once(requester):
    fund(requester, 10_000)
    batch = upload(make_project(requester), requester, csv_bytes(10))
    results = at_once([lambda: services.batch_publish(batch=batch, user=requester)] * 3)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 2 and all(
        getattr(e, "code", None) == "already_published" for e in errors
    ), results
    assert (balance(requester), escrow(batch)) == (9_880, 120)


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_cannot_overdraw_the_balance(requester):
    fund(requester, 150)  # enough for one batch of $1.20, not two
    project = make_project(requester)
    first, second = (
        upload(project, requester, csv_bytes(10)),
        upload(project, requester, csv_bytes(10)),
    )
    results = at_once(
        [
            lambda: services.batch_publish(batch=first, user=requester),
            lambda: services.batch_publish(batch=second, user=requester),
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and errors[0].code == "insufficient_funds", results
    assert balance(requester) == 30 and escrow(first) + escrow(second) == 120


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_release_once(requester):
    fund(requester, 10_000)
    batch = services.batch_publish(
        batch=upload(make_project(requester), requester, csv_bytes(10)), user=requester
    )
    results = at_once([lambda: services.batch_cancel(batch=batch, user=requester)] * 3)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 2 and all(e.code == "already_cancelled" for e in errors), results
    assert (balance(requester), escrow(batch)) == (10_000, 0)
