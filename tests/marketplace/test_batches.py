"""Publish, pause, resume, cancel and expire: exact amounts, one hold, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from marketplace import jobs, services
from marketplace.models import Batch, BatchEvent, Task
from payouts.fees import platform_settings
from payouts.models import LedgerTransaction
from tasks.models import Assignment
from tasks.services import assignment_claim_task, assignment_return
from tests.fixtures.assignments import close_rejection, make_assignment, review, settle
from tests.fixtures.users import WorkerFactory
from tests.marketplace.conftest import balance, csv_bytes, escrow, fund, upload

pytestmark = pytest.mark.django_db


def txn_count(key: str) -> int:
    return LedgerTransaction.objects.filter(idempotency_key=key).count()


def state(batch: Batch, user) -> tuple:
    b = Batch.objects.get(pk=batch.pk)
    return (
        b.status,
        balance(user),
        escrow(b),
        BatchEvent.objects.filter(batch=b).count(),
        b.escrow_released_cents,
    )


def test_quote_of_a_draft(draft, requester):
    fund(requester, 50)
    quote = services.batch_quote(draft)
    assert (quote.reward_cents, quote.fee_cents, quote.cost_per_assignment_cents) == (10, 2, 12)
    assert (quote.task_count, quote.assignments_per_task, quote.assignment_count) == (10, 1, 10)
    assert (quote.total_cost_cents, quote.balance_cents, quote.shortfall_cents) == (120, 50, 70)
    assert quote.meets_pay_floor and quote.minimum_reward_cents == 7 and not quote.published_terms


def test_publish_holds_exactly_the_total(draft, funded):
    before = timezone.now()
    batch = services.batch_publish(batch=draft, user=funded, expected_total_cents=120)
    assert batch.status == "published"
    assert (balance(funded), escrow(batch)) == (9_880, 120)
    batch.refresh_from_db()
    assert (batch.reward_cents, batch.fee_cents, batch.assignments_per_task) == (10, 2, 1)
    assert (batch.total_cost_cents, batch.escrow_held_cents, batch.escrow_released_cents) == (
        120,
        120,
        0,
    )
    assert before <= batch.published_at and batch.expires_at == batch.published_at + timedelta(
        days=7
    )
    assert txn_count(f"hold-batch-{batch.pk}") == 1
    event = batch.events.last()
    assert (event.old_status, event.new_status, event.actor, event.reason) == (
        "draft",
        "published",
        funded,
        "$1.20 held in escrow",
    )
    quote = services.batch_quote(batch)
    assert quote.published_terms and quote.total_cost_cents == 120 and quote.shortfall_cents == 0


def test_publish_uses_the_project_terms_at_publish_time(draft, funded, project):
    services.project_update(
        project=project, user=funded, data={"assignments_per_task": 3, "reward_cents": 25}
    )
    batch = services.batch_publish(batch=draft, user=funded)
    # 10 tasks × 3 × (25¢ + 5¢ fee)
    assert (batch.total_cost_cents, escrow(batch), balance(funded)) == (900, 900, 9_100)
    assert set(Task.objects.filter(batch=batch).values_list("assignments_needed", flat=True)) == {3}
    # Later edits do not touch a published batch.
    services.project_update(project=project, user=funded, data={"reward_cents": 50})
    batch.refresh_from_db()
    assert (batch.reward_cents, batch.fee_cents) == (25, 5)


def test_publish_with_too_little_balance_changes_nothing(draft, requester):
    fund(requester, 100)
    before = state(draft, requester)
    with pytest.raises(ApplicationError) as exc:
        services.batch_publish(batch=draft, user=requester)
    assert exc.value.code == "insufficient_funds"
    assert exc.value.message == (
        "Publishing this batch costs $1.20 but your balance is $1.00. Add at least $0.20 to publish it."
    )
    assert exc.value.extra == {"total_cost_cents": 120, "balance_cents": 100, "shortfall_cents": 20}
    assert state(draft, requester) == before == ("draft", 100, 0, 2, 0)
    assert txn_count(f"hold-batch-{draft.pk}") == 0


def test_publishing_twice_holds_once(draft, funded):
    services.batch_publish(batch=draft, user=funded)
    before = state(draft, funded)
    for _ in range(2):
        with pytest.raises(ApplicationError) as exc:
            services.batch_publish(batch=draft, user=funded)
        assert (exc.value.code, exc.value.message) == (
            "already_published",
            "This batch is already published.",
        )
    assert state(draft, funded) == before == ("published", 9_880, 120, 3, 0)
    assert txn_count(f"hold-batch-{draft.pk}") == 1


def test_publishing_a_paused_batch_is_already_published(draft, funded):
    services.batch_publish(batch=draft, user=funded)
    services.batch_pause(batch=draft, user=funded)
    with pytest.raises(ApplicationError, match="This batch is already published."):
        services.batch_publish(batch=draft, user=funded)


def test_publishing_a_cancelled_batch(draft, funded):
    services.batch_cancel(batch=draft, user=funded, reason="wrong file")
    before = state(draft, funded)
    with pytest.raises(ApplicationError) as exc:
        services.batch_publish(batch=draft, user=funded)
    assert (exc.value.code, exc.value.message) == (
        "illegal_transition",
        "This batch is cancelled and cannot be published.",
    )
    assert state(draft, funded) == before == ("cancelled", 10_000, 0, 3, 0)


def test_publish_refusals(draft, funded, other_requester, project):
    with pytest.raises(ApplicationError) as exc:
        services.batch_publish(batch=draft, user=other_requester)
    assert (exc.value.status, exc.value.message) == (404, "Batch not found.")
    with pytest.raises(ApplicationError) as exc:
        services.batch_publish(batch=draft, user=funded, expected_total_cents=100)
    assert exc.value.message == (
        "The cost of this batch changed from $1.00 to $1.20 since the page was loaded; check the new total and publish again."
    )
    settings = platform_settings()
    settings.pay_floor_cents_per_hour = 1500  # the floor rose after the project was made
    settings.save()
    with pytest.raises(ApplicationError) as exc:
        services.batch_publish(batch=draft, user=funded)
    assert (
        exc.value.message
        == "The reward must be at least $0.13 for 30 seconds at the $15.00/h pay floor."
    )
    settings.pay_floor_cents_per_hour = 800
    settings.save()
    services.project_archive(project=project, user=funded)
    with pytest.raises(ApplicationError, match="project is archived"):
        services.batch_publish(batch=draft, user=funded)
    assert state(draft, funded) == ("draft", 10_000, 0, 2, 0)


def test_pause_and_resume(draft, funded):
    with pytest.raises(ApplicationError, match="This batch is a draft and cannot be paused."):
        services.batch_pause(batch=draft, user=funded)
    services.batch_publish(batch=draft, user=funded)
    assert (
        services.batch_pause(batch=draft, user=funded, reason="fixing instructions").status
        == "paused"
    )
    assert services.batch_pause(batch=draft, user=funded).status == "paused"  # idempotent
    assert services.batch_resume(batch=draft, user=funded).status == "published"
    assert services.batch_resume(batch=draft, user=funded).status == "published"  # idempotent
    assert list(draft.events.values_list("new_status", flat=True)) == [
        "importing",
        "draft",
        "published",
        "paused",
        "published",
    ]
    assert (balance(funded), escrow(draft)) == (9_880, 120)


def test_resume_after_the_lifetime_is_refused(draft, funded):
    services.batch_publish(batch=draft, user=funded)
    services.batch_pause(batch=draft, user=funded)
    Batch.objects.filter(pk=draft.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as exc:
        services.batch_resume(batch=draft, user=funded)
    assert exc.value.code == "batch_expired"


def test_cancel_a_draft_releases_nothing(draft, funded):
    batch = services.batch_cancel(batch=draft, user=funded)
    assert batch.status == "cancelled" and batch.escrow_settled_at is not None
    assert balance(funded) == 10_000
    assert txn_count(f"release-batch-{draft.pk}-cancel") == 0


def test_cancel_a_published_batch_returns_all_unused_escrow(draft, funded):
    services.batch_publish(batch=draft, user=funded)
    batch = services.batch_cancel(batch=draft, user=funded, reason="  enough data ")
    assert (batch.status, balance(funded), escrow(batch), batch.escrow_released_cents) == (
        "cancelled",
        10_000,
        0,
        120,
    )
    assert batch.closed_at is not None and batch.escrow_settled_at is not None
    assert batch.events.last().reason == "enough data ($1.20 returned)"
    assert txn_count(f"release-batch-{draft.pk}-cancel") == 1


def test_cancelling_twice_releases_once(draft, funded):
    services.batch_publish(batch=draft, user=funded)
    services.batch_cancel(batch=draft, user=funded)
    before = state(draft, funded)
    with pytest.raises(ApplicationError) as exc:
        services.batch_cancel(batch=draft, user=funded)
    assert (exc.value.code, exc.value.message) == (
        "already_cancelled",
        "This batch is already cancelled.",
    )
    assert state(draft, funded) == before == ("cancelled", 10_000, 0, 4, 120)
    assert txn_count(f"release-batch-{draft.pk}-cancel") == 1


def test_cancel_by_another_requester(draft, funded, other_requester):
    services.batch_publish(batch=draft, user=funded)
    with pytest.raises(ApplicationError, match="Batch not found."):
        services.batch_cancel(batch=draft, user=other_requester)
    assert state(draft, funded) == ("published", 9_880, 120, 3, 0)


def _assign(batch: Batch, statuses: list[str]) -> list[Assignment]:
    """One assignment per status on successive tasks, made through the services."""
    return [make_assignment(batch, status) for status in statuses]


def test_cancel_keeps_the_escrow_of_work_in_progress(draft, funded):
    batch = services.batch_publish(batch=draft, user=funded)
    accepted, submitted, approved, paid, rejected, returned, expired = _assign(
        batch, ["accepted", "submitted", "approved", "approved", "rejected", "returned", "expired"]
    )
    settle(paid)  # 12¢ already left the escrow for the worker and the platform
    assert escrow(batch) == 108
    batch = services.batch_cancel(batch=batch, user=funded)
    # Owed: accepted + submitted + approved-unsettled + rejected-undecided = 4 × 12¢.
    assert services.escrow_owed_cents(batch_id=batch.pk) == 48
    assert (escrow(batch), balance(funded), batch.escrow_released_cents) == (48, 9_940, 60)
    assert batch.escrow_settled_at is None
    # The expiry job's final check waits while work is owed anything.
    assert services.batch_release_remaining(batch_id=batch.pk) == 0

    # The work in progress finishes under the old terms: the accepted one is returned,
    # the submitted and approved ones are paid, the rejection is final.
    assignment_return(worker=accepted.worker, assignment_id=accepted.pk)
    settle(review(submitted, "approved"))
    settle(approved)
    assert services.batch_release_remaining(batch_id=batch.pk) == 0  # the rejection is still owed
    close_rejection(rejected)
    jobs.expire_batches()
    batch.refresh_from_db()
    # 48 − 2 × 12 paid = 24 left (the returned one's and the rejected one's) go back.
    assert (escrow(batch), balance(funded), batch.escrow_released_cents) == (0, 9_964, 84)
    assert batch.escrow_settled_at is not None
    assert txn_count(f"release-batch-{batch.pk}-final") == 1
    jobs.expire_batches()  # nothing more to do
    assert (escrow(batch), balance(funded)) == (0, 9_964)


def test_expiry_job_expires_like_a_cancel_and_is_safe_twice(draft, funded, project, requester):
    batch = services.batch_publish(batch=draft, user=funded)
    _assign(batch, ["accepted"])
    other = services.batch_publish(batch=upload(project, requester, csv_bytes(2)), user=funded)
    services.batch_pause(batch=other, user=funded)
    later = services.batch_publish(batch=upload(project, requester, csv_bytes(1)), user=funded)
    assert balance(funded) == 10_000 - 120 - 24 - 12
    Batch.objects.filter(pk__in=[batch.pk, other.pk]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert jobs.expire_batches() == {"expired": 2, "final_checks": 1, "imports_requeued": 0}
    assert services.batch_expire(batch_id=batch.pk) is not None  # a second run changes nothing
    jobs.expire_batches()
    statuses = dict(Batch.objects.values_list("pk", "status"))
    assert (statuses[batch.pk], statuses[other.pk], statuses[later.pk]) == (
        "expired",
        "expired",
        "published",
    )
    # The accepted assignment keeps its 12¢; the rest of both batches came back.
    assert (escrow(batch), escrow(other), escrow(later)) == (12, 0, 12)
    assert balance(funded) == 10_000 - 12 - 12
    assert (
        txn_count(f"release-batch-{batch.pk}-expire") == 1
        and txn_count(f"release-batch-{other.pk}-expire") == 1
    )
    event = Batch.objects.get(pk=batch.pk).events.last()
    assert (event.old_status, event.new_status, event.actor, event.reason) == (
        "published",
        "expired",
        None,
        "lifetime over ($1.08 returned)",
    )
    with pytest.raises(ApplicationError, match="This batch has expired and cannot be cancelled."):
        services.batch_cancel(batch=batch, user=funded)


def test_transition_table(draft, funded):
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=draft.pk)
        with pytest.raises(
            ApplicationError, match="This batch is a draft and cannot be completed."
        ):
            services.batch_transition(batch=locked, to="completed", actor=funded)
        event = services.batch_transition(
            batch=locked, to="cancelled", actor=funded, reason="why not"
        )
    assert (event.old_status, event.new_status, event.reason) == ("draft", "cancelled", "why not")
    assert Batch.objects.get(pk=draft.pk).status == "cancelled"


def test_database_constraints_of_tasks_and_assignments(draft, funded):
    batch = services.batch_publish(batch=draft, user=funded)
    task = Task.objects.filter(batch=batch).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(assignments_taken=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(batch=batch, row_number=1, data={}, assignments_needed=1)
    worker = WorkerFactory()
    first = assignment_claim_task(worker=worker, task=task)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            task=task,
            batch=batch,
            worker=worker,
            deadline=first.deadline,
            reward_cents=10,
            fee_cents=2,
            submit_nonce="x",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(status="published", published_at=None)
