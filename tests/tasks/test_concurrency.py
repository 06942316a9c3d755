"""Claims under real concurrency on PostgreSQL: committed rows, real threads, each with
its own database connection."""

from __future__ import annotations

from collections import Counter

import pytest

from core.errors import ApplicationError
from marketplace import counters, services
from marketplace.models import Batch, Task
from tasks import services as ts
from tasks.models import Assignment
from tests.fixtures.threads import at_once
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.conftest import escrow
from tests.tasks.conftest import published

THREADS = 64
TASKS = 1_000
PER_TASK = 3


@pytest.mark.django_db(transaction=True)
def test_64_workers_drain_1000_tasks_x_3_exactly(settings):
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 1_000_000
    requester = RequesterFactory()
    batch = published(requester, tasks=TASKS, assignments_per_task=PER_TASK)
    project = batch.project
    workers = [WorkerFactory() for _ in range(THREADS)]

    def drain(worker):
        claimed = []
        while True:
            try:
                a = ts.assignment_claim(worker=worker, project=project)
            except ApplicationError as exc:
                if exc.code == "no_task_left":
                    return claimed
                raise
            ts.assignment_submit(token=a.submit_token, answers={"label": "Other"})
            claimed.append(a.task_id)

    results = at_once([lambda w=w: drain(w) for w in workers])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    handed_out = [task_id for r in results for task_id in r]
    # No claim lost: every claim a worker was told about is in the database, and back.
    assert len(handed_out) == TASKS * PER_TASK
    rows = list(
        Assignment.objects.filter(batch=batch).values_list("task_id", "worker_id", "status")
    )
    assert len(rows) == TASKS * PER_TASK and {s for *_, s in rows} == {"submitted"}
    assert Counter(t for t, *_ in rows) == Counter(handed_out)
    per_task = Counter(t for t, *_ in rows)
    assert set(per_task.values()) == {PER_TASK} and len(per_task) == TASKS
    assert len({(t, w) for t, w, _ in rows}) == len(rows)  # no worker twice on a task
    assert set(Task.objects.filter(batch=batch).values_list("assignments_taken", flat=True)) == {
        PER_TASK
    }
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert (sums["accepted"], sums["submitted"], sums["owed_cents"]) == (
        0,
        TASKS * PER_TASK,
        TASKS * PER_TASK * 12,
    )


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_claims_leaves_exactly_what_is_owed(settings):
    """Claims and a cancel at once: whatever the interleaving, the escrow left equals
    reward + fee of the assignments that exist (none slipped in unaccounted)."""
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 1_000_000
    requester = RequesterFactory()
    batch = published(requester, tasks=200, assignments_per_task=1)
    project = batch.project
    workers = [WorkerFactory() for _ in range(12)]

    def claim_some(worker):
        got = 0
        for _ in range(4):
            try:
                ts.assignment_claim(worker=worker, project=project)
                got += 1
            except ApplicationError as exc:
                if exc.code not in ("batch_cancelled", "too_many_accepted"):
                    raise
        return got

    def cancel():
        return services.batch_cancel(batch=Batch.objects.get(pk=batch.pk), user=requester)

    results = at_once([lambda w=w: claim_some(w) for w in workers] + [cancel])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    made = Assignment.objects.filter(batch=batch).count()
    assert made == sum(results[:-1])
    assert escrow(batch) == made * 12 == counters.owed_cents(batch_id=batch.pk)
    assert Batch.objects.get(pk=batch.pk).status == "cancelled"
