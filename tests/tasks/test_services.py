"""Claim, submit, return and expiry through the services: outcomes, events, counters,
and every bad input of issue 16 refused with nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from marketplace import counters, selectors, services
from marketplace.models import Batch, Project, Task
from tasks import jobs
from tasks import services as ts
from tasks.models import Assignment, AssignmentEvent
from tests.fixtures.assignments import make_assignment, review
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.conftest import escrow
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db


def snapshot(batch: Batch) -> tuple:
    """Everything a refused call must leave as it was."""
    return (
        list(
            Assignment.objects.filter(batch=batch)
            .order_by("pk")
            .values_list("pk", "status", "answers")
        ),
        AssignmentEvent.objects.filter(assignment__batch=batch).count(),
        list(
            Task.objects.filter(batch=batch)
            .order_by("pk")
            .values_list("assignments_taken", flat=True)
        ),
        counters.counter_sums([batch.pk]).get(batch.pk),
        escrow(batch),
    )


def refused(code: str, message: str, call, batch: Batch) -> ApplicationError:
    before = snapshot(batch)
    with pytest.raises(ApplicationError) as info:
        call()
    assert info.value.code == code and info.value.message == message, (
        info.value.code,
        info.value.message,
    )
    assert snapshot(batch) == before
    return info.value


def test_claim_takes_the_first_open_task_in_row_order(batch, worker):
    project = batch.project
    a = ts.assignment_claim(worker=worker, project=project)
    first = Task.objects.get(batch=batch, row_number=1)
    assert (a.task_id, a.batch_id, a.status, a.reward_cents, a.fee_cents) == (
        first.pk,
        batch.pk,
        "accepted",
        10,
        2,
    )
    assert a.deadline == a.accepted_at + timedelta(seconds=project.time_allotted_seconds)
    first.refresh_from_db()
    assert first.assignments_taken == 1
    event = a.events.get()
    assert (event.old_status, event.new_status, event.actor) == ("", "accepted", worker)
    # A second worker gets the same task (2 per task); the first worker the next one.
    b = ts.assignment_claim(worker=WorkerFactory(), project=project)
    c = ts.assignment_claim(worker=worker, project=project)
    assert (b.task_id, c.task.row_number) == (first.pk, 2)
    p = selectors.batch_progress(batch)
    assert (p.in_progress, p.remaining, p.total_assignments) == (3, 17, 20)
    assert counters.owed_cents(batch_id=batch.pk) == 36


def test_submit_stores_answers_and_freezes_the_auto_approval_time(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    now = a.accepted_at + timedelta(seconds=25)
    done = ts.assignment_submit(token=a.submit_token, answers={"label": "Complaint"}, now=now)
    assert (done.status, done.answers, done.submitted_at) == (
        "submitted",
        {"label": "Complaint"},
        now,
    )
    assert done.auto_approve_at == now + timedelta(days=3)
    Project.objects.filter(pk=batch.project_id).update(auto_approval_delay=timedelta(days=1))
    done.refresh_from_db()
    assert done.auto_approve_at == now + timedelta(days=3)  # frozen at submit
    assert [(e.old_status, e.new_status) for e in done.events.all()] == [
        ("", "accepted"),
        ("accepted", "submitted"),
    ]
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert (sums["accepted"], sums["submitted"], sums["work_seconds"]) == (0, 1, 25)


def test_accept_next_continues_in_the_same_project(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    ts.assignment_submit(token=a.submit_token, answers={"label": "Other"})
    b = ts.assignment_claim_next(worker=worker, after=a)
    assert b.batch_id == batch.pk and b.task.row_number == 2
    with pytest.raises(ApplicationError, match="Assignment not found."):
        ts.assignment_claim_next(worker=WorkerFactory(), after=a)


def test_claims_skip_paused_batches_and_take_the_next_open_one(requester, worker):
    first = published(requester, tasks=2)
    project = first.project
    second = services.batch_publish(
        batch=services.batch_upload(
            project=project,
            user=requester,
            fileobj=__import__("io").BytesIO(b"text,source\na,b\n"),
            filename="b.csv",
        ),
        user=requester,
    )
    services.batch_pause(batch=first, user=requester)
    assert ts.assignment_claim(worker=worker, project=project).batch_id == second.pk


# --- Bad input: claims ----------------------------------------------------------------------


def test_claim_from_a_paused_cancelled_or_expired_batch(requester, worker):
    batch = published(requester, tasks=3)
    project, task = batch.project, Task.objects.filter(batch=batch).first()
    services.batch_pause(batch=batch, user=requester)
    paused = "The requester has paused this batch; its tasks cannot be accepted now."
    refused(
        "batch_paused", paused, lambda: ts.assignment_claim(worker=worker, project=project), batch
    )
    refused(
        "batch_paused", paused, lambda: ts.assignment_claim_task(worker=worker, task=task), batch
    )
    services.batch_resume(batch=batch, user=requester)
    Batch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = "This batch has expired; its tasks cannot be accepted."
    refused(
        "batch_expired", expired, lambda: ts.assignment_claim(worker=worker, project=project), batch
    )
    refused(
        "batch_expired", expired, lambda: ts.assignment_claim_task(worker=worker, task=task), batch
    )
    Batch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() + timedelta(days=1))
    services.batch_cancel(batch=batch, user=requester)
    cancelled = "The requester has cancelled this batch; its tasks cannot be accepted."
    refused(
        "batch_cancelled",
        cancelled,
        lambda: ts.assignment_claim(worker=worker, project=project),
        batch,
    )
    refused(
        "batch_cancelled",
        cancelled,
        lambda: ts.assignment_claim_task(worker=worker, task=task),
        batch,
    )


def test_hoarding_limit(requester, worker, settings):
    settings.FAIRTASK_MAX_ACCEPTED = 3
    batch = published(requester, tasks=5)
    for _ in range(3):
        ts.assignment_claim(worker=worker, project=batch.project)
    error = refused(
        "too_many_accepted",
        "You already hold 3 accepted tasks (the limit is 3); submit or return one first.",
        lambda: ts.assignment_claim(worker=worker, project=batch.project),
        batch,
    )
    assert error.status == 409 and error.extra == {"holding": 3, "limit": 3}
    held = Assignment.objects.filter(worker=worker).first()
    ts.assignment_return(worker=worker, assignment_id=held.pk)
    ts.assignment_claim(worker=worker, project=batch.project)  # room again


def test_default_hoarding_limit_is_five(batch, worker):
    for _ in range(5):
        ts.assignment_claim(worker=worker, project=batch.project)
    with pytest.raises(ApplicationError, match="the limit is 5"):
        ts.assignment_claim(worker=worker, project=batch.project)


def test_claims_are_rate_limited_per_worker(batch, worker, settings):
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 2
    settings.FAIRTASK_MAX_ACCEPTED = 10
    ts.assignment_claim(worker=worker, project=batch.project)
    ts.assignment_claim(worker=worker, project=batch.project)
    error = refused(
        "rate_limited",
        "You are accepting tasks too fast (at most 2 a minute); wait a moment and try again.",
        lambda: ts.assignment_claim(worker=worker, project=batch.project),
        batch,
    )
    assert error.status == 429
    ts.assignment_claim(worker=WorkerFactory(), project=batch.project)  # per worker


def test_a_task_the_worker_already_did(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    ts.assignment_return(worker=worker, assignment_id=a.pk)
    message = "You have already worked on this task; each worker does a task once."
    refused(
        "already_worked",
        message,
        lambda: ts.assignment_claim_task(worker=worker, task=a.task),
        batch,
    )
    # The project claim skips it: the next task, not this one again.
    assert ts.assignment_claim(worker=worker, project=batch.project).task_id != a.task_id


def test_a_full_task_and_no_task_left(requester, worker):
    batch = published(requester, tasks=1)  # 1 assignment per task
    task = Task.objects.get(batch=batch)
    ts.assignment_claim(worker=WorkerFactory(), project=batch.project)
    refused(
        "task_full",
        "This task already has all the workers it needs.",
        lambda: ts.assignment_claim_task(worker=worker, task=task),
        batch,
    )
    refused(
        "no_task_left",
        "No task of this project is left for you: you have done every open one, or others hold them.",
        lambda: ts.assignment_claim(worker=worker, project=batch.project),
        batch,
    )


def test_a_requester_who_is_also_a_worker_cannot_take_their_own_task(db):
    both = RequesterFactory(is_worker=True)
    batch = published(both, tasks=2)
    message = "This is your own project: you cannot accept your own tasks."
    error = refused(
        "own_task", message, lambda: ts.assignment_claim(worker=both, project=batch.project), batch
    )
    assert error.status == 403
    task = Task.objects.filter(batch=batch).first()
    refused("own_task", message, lambda: ts.assignment_claim_task(worker=both, task=task), batch)


def test_only_workers_claim(batch, other_requester):
    refused(
        "not_a_worker",
        "Only workers can accept tasks; add the worker role to your account first.",
        lambda: ts.assignment_claim(worker=other_requester, project=batch.project),
        batch,
    )


# --- Bad input: submit ------------------------------------------------------------------------


def test_submit_twice_keeps_the_first(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    ts.assignment_submit(token=a.submit_token, answers={"label": "Question"})
    refused(
        "already_submitted",
        "This task was already submitted; the first submission is kept.",
        lambda: ts.assignment_submit(token=a.submit_token, answers={"label": "Other"}),
        batch,
    )
    assert Assignment.objects.get(pk=a.pk).answers == {"label": "Question"}


def test_submit_after_the_deadline(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    late = a.deadline + timedelta(seconds=1)
    error = refused(
        "deadline_passed",
        f"The time allotted for this task ran out at {timezone.localtime(a.deadline):%H:%M:%S %Z}; "
        "the answers were not saved.",
        lambda: ts.assignment_submit(token=a.submit_token, answers={"label": "Other"}, now=late),
        batch,
    )
    assert error.status == 409


def test_submit_with_another_assignments_token_or_a_forged_one(batch, worker):
    mine = ts.assignment_claim(worker=worker, project=batch.project)
    other = ts.assignment_claim(worker=WorkerFactory(), project=batch.project)
    message = "This submission's token is not valid for any assignment."
    # The other's id with my secret, my id with the other's secret, garbage, empty.
    forged = [
        f"{other.pk}.{mine.submit_token.split('.')[1]}",
        f"{mine.pk}.{other.submit_token.split('.')[1]}",
        "not-a-token",
        "",
        f"{mine.pk}.",
        "99999999999.abc",
        "１２.abc",
    ]
    for token in forged:
        error = refused(
            "invalid_token",
            message,
            lambda t=token: ts.assignment_submit(token=t, answers={}),
            batch,
        )
        assert error.status == 403


def test_submit_answers_over_the_size_limit_or_with_unknown_fields(batch, worker, settings):
    settings.FAIRTASK_MAX_ANSWER_BYTES = 100
    a = ts.assignment_claim(worker=worker, project=batch.project)
    error = refused(
        "answers_too_large",
        "The answers are 212 bytes, more than the 100 bytes allowed; nothing was saved.",
        lambda: ts.assignment_submit(token=a.submit_token, answers={"label": "x" * 199}),
        batch,
    )
    assert error.status == 413
    refused(
        "invalid_answers",
        "This task's form has no field “salary”, “x”; nothing was saved.",
        lambda: ts.assignment_submit(
            token=a.submit_token, answers={"label": "Other", "x": "1", "salary": "2"}
        ),
        batch,
    )
    refused(
        "invalid_answers",
        "The answer to “label” must be text or a list of texts.",
        lambda: ts.assignment_submit(token=a.submit_token, answers={"label": {"nested": 1}}),
        batch,
    )
    refused(
        "invalid_answers",
        "Answers must be an object of field names to values.",
        lambda: ts.assignment_submit(token=a.submit_token, answers=["label"]),
        batch,
    )
    assert (
        ts.assignment_submit(token=a.submit_token, answers={"label": ["Other"]}).status
        == "submitted"
    )


def test_returned_or_expired_work_cannot_be_submitted(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    ts.assignment_return(worker=worker, assignment_id=a.pk)
    refused(
        "returned",
        "You returned this task, so it can no longer be submitted.",
        lambda: ts.assignment_submit(token=a.submit_token, answers={"label": "Other"}),
        batch,
    )
    b = ts.assignment_claim(worker=worker, project=batch.project)
    assert ts.assignments_expire(now=b.deadline) == 1
    refused(
        "expired",
        "The time allotted for this task ran out and it was released; it can no longer be submitted.",
        lambda: ts.assignment_submit(
            token=b.submit_token, answers={"label": "Other"}, now=b.deadline
        ),
        batch,
    )


# --- Return and expiry ----------------------------------------------------------------------


def test_return_frees_the_slot_and_twice_is_refused(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    returned = ts.assignment_return(worker=worker, assignment_id=a.pk)
    assert returned.status == "returned" and returned.events.last().new_status == "returned"
    assert Task.objects.get(pk=a.task_id).assignments_taken == 0
    assert counters.owed_cents(batch_id=batch.pk) == 0
    refused(
        "already_returned",
        "You already returned this task.",
        lambda: ts.assignment_return(worker=worker, assignment_id=a.pk),
        batch,
    )


def test_return_of_someone_elses_or_submitted_work(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project)
    refused(
        "not_found",
        "Assignment not found.",
        lambda: ts.assignment_return(worker=WorkerFactory(), assignment_id=a.pk),
        batch,
    )
    ts.assignment_submit(token=a.submit_token, answers={"label": "Other"})
    refused(
        "illegal_transition",
        "This assignment has been submitted and cannot be returned.",
        lambda: ts.assignment_return(worker=worker, assignment_id=a.pk),
        batch,
    )


def test_expiry_job_releases_slots_once(batch, worker):
    allotted = timedelta(seconds=batch.project.time_allotted_seconds)
    a = ts.assignment_claim(worker=worker, project=batch.project, now=timezone.now() - allotted / 2)
    b = ts.assignment_claim(
        worker=WorkerFactory(), project=batch.project, now=timezone.now() - allotted * 2
    )
    ts.assignment_submit(token=b.submit_token, answers={"label": "Other"}, now=b.accepted_at)
    assert jobs.expire_assignments() == 0  # a is not due yet, b was handed in
    assert ts.assignments_expire(now=a.deadline) == 1
    assert jobs.expire_assignments() == 0
    a.refresh_from_db()
    event = a.events.last()
    assert (a.status, event.old_status, event.new_status, event.actor, event.reason) == (
        "expired",
        "accepted",
        "expired",
        None,
        "time allotted ran out",
    )
    assert Task.objects.get(pk=a.task_id).assignments_taken == 1  # b still holds its slot
    p = selectors.batch_progress(batch)
    assert (p.by_state["expired"], p.pending_review, p.remaining) == (1, 1, 19)


def test_transition_table_is_enforced(batch):
    approved = make_assignment(batch, "approved")
    rejected = make_assignment(batch, "rejected")
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=approved.pk)
        with pytest.raises(
            ApplicationError, match="This assignment has been approved and cannot be rejected."
        ):
            ts.transition(assignment=locked, to="rejected", actor=None)
    review(rejected, "approved", reason="dispute upheld")  # rejected -> approved is allowed
    assert [e.new_status for e in Assignment.objects.get(pk=rejected.pk).events.all()] == [
        "accepted",
        "submitted",
        "rejected",
        "approved",
    ]
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert (sums["approved"], sums["rejected"], sums["spend_cents"]) == (2, 0, 24)


def test_cancel_keeps_exactly_what_work_in_progress_is_owed(requester, worker):
    batch = published(requester, tasks=4)
    a = ts.assignment_claim(worker=worker, project=batch.project)
    make_assignment(batch, "submitted")
    make_assignment(batch, "returned")
    services.batch_cancel(batch=batch, user=requester)
    assert escrow(batch) == 24  # the accepted and the submitted one
    ts.assignment_return(worker=worker, assignment_id=a.pk)
    assert counters.owed_cents(batch_id=batch.pk) == 12
