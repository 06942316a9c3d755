"""What a claim and a submit cost (round trips pinned, so a regression shows) and the
guarantees of their one-statement writes: an event row and counters per move, all or
nothing, and exactly one winner when moves of one assignment race."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from core.errors import ApplicationError
from marketplace import counters
from marketplace.cache import count_hit
from marketplace.models import BatchCounter, Task
from tasks import services as ts
from tasks.models import Assignment, AssignmentEvent
from tests.fixtures.threads import at_once
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.tasks.conftest import published
from tests.tasks.test_api import API, csrf_post, session


def _events(assignment_id: int) -> list[tuple[str, str]]:
    return list(
        AssignmentEvent.objects.filter(assignment_id=assignment_id)
        .order_by("pk")
        .values_list("old_status", "new_status")
    )


@pytest.mark.django_db
def test_claim_and_submit_over_the_api_send_few_queries(
    batch, worker, django_assert_max_num_queries
):
    """Claim: session, user, the project with its open batches, one message (worker
    key, batch share lock, slot + assignment + event + counter). Submit: a read, one
    statement. (Sessions come from the cache when it is a shared one: one query less.)"""
    client = session(worker)
    csrf_post(client, f"{API}/projects/{batch.project_id}/claim/")  # warm: CSRF cookie set
    with django_assert_max_num_queries(4):
        body = csrf_post(client, f"{API}/projects/{batch.project_id}/claim/").json()
    frame = APIClient(enforce_csrf_checks=True)
    with django_assert_max_num_queries(2):
        r = frame.post(
            f"{API}/submit/",
            {"token": body["submit_token"], "answers": {"label": "A"}},
            format="json",
        )
    assert r.status_code == 200 and r.json() == {"id": body["id"], "status": "submitted"}
    assert _events(body["id"]) == [("", "accepted"), ("accepted", "submitted")]
    a = Assignment.objects.get(pk=body["id"])
    assert (a.status, a.answers, a.worker_id) == ("submitted", {"label": "A"}, worker.pk)
    assert a.auto_approve_at == a.submitted_at + batch.auto_approval_delay
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert (sums["accepted"], sums["submitted"], sums["owed_cents"]) == (1, 1, 24)


@pytest.mark.django_db
def test_claim_by_project_id(batch, worker):
    a = ts.assignment_claim(worker=worker, project=batch.project_id)
    assert (a.batch_id, a.task.row_number, a.batch.project.title) == (
        batch.pk,
        1,
        batch.project.title,
    )
    assert _events(a.pk) == [("", "accepted")]
    with pytest.raises(ApplicationError) as info:
        ts.assignment_claim(worker=worker, project=999_999_999)
    assert (info.value.code, info.value.status, info.value.message) == (
        "not_found",
        404,
        "Project not found.",
    )


@pytest.mark.django_db(transaction=True)  # autocommit: each message its own transaction
def test_a_move_that_cannot_be_counted_changes_nothing(batch, worker):
    """The counter update is part of the claim's and the submit's one statement: without
    a counter row to add to, neither the slot, the assignment, its event nor the status
    change is kept."""
    a = ts.assignment_claim(worker=worker, project=batch.project)
    BatchCounter.objects.filter(batch=batch).delete()
    taken = list(Task.objects.filter(batch=batch).values_list("assignments_taken", flat=True))
    with pytest.raises(RuntimeError, match="has no counter rows"):
        ts.assignment_submit(token=a.submit_token, answers={"label": "A"})
    assert Assignment.objects.get(pk=a.pk).status == "accepted"
    assert _events(a.pk) == [("", "accepted")]
    with pytest.raises(RuntimeError, match="has no counter rows"):
        ts.assignment_claim(worker=WorkerFactory(), project=batch.project)
    assert Assignment.objects.filter(batch=batch).count() == 1
    assert AssignmentEvent.objects.filter(assignment__batch=batch).count() == 1
    assert (
        list(Task.objects.filter(batch=batch).values_list("assignments_taken", flat=True)) == taken
    )


@pytest.mark.django_db(transaction=True)
def test_one_worker_claiming_in_parallel_stops_at_the_hoarding_limit(settings):
    """16 claims of one worker at once, limit 5: the worker's claim key orders them and
    each counts the holdings committed before it, so exactly 5 succeed."""
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 1_000
    settings.FAIRTASK_MAX_ACCEPTED = 5
    batch = published(RequesterFactory(), tasks=40, assignments_per_task=1)
    worker = WorkerFactory()
    results = at_once([lambda: ts.assignment_claim(worker=worker, project=batch.project_id)] * 16)
    made = [r for r in results if isinstance(r, Assignment)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(made) == 5 and len(refused) == 11, results
    assert {e.code for e in refused} == {"too_many_accepted"}
    assert Assignment.objects.filter(worker=worker, status="accepted").count() == 5
    assert sum(Task.objects.filter(batch=batch).values_list("assignments_taken", flat=True)) == 5
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert (sums["accepted"], sums["owed_cents"]) == (5, 60)


@pytest.mark.django_db(transaction=True)
def test_racing_submits_and_a_return_move_each_assignment_once(settings):
    """Two submits and a return of the same assignment at once, 8 times over: exactly
    one move wins each time, with one event and counters that match the rows."""
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 1_000
    settings.FAIRTASK_MAX_ACCEPTED = 10
    batch = published(RequesterFactory(), tasks=8, assignments_per_task=1)
    worker = WorkerFactory()
    claimed = [ts.assignment_claim(worker=worker, project=batch.project_id) for _ in range(8)]
    for a in claimed:
        results = at_once(
            [
                lambda a=a: ts.assignment_submit(token=a.submit_token, answers={"label": "A"}),
                lambda a=a: ts.assignment_submit(token=a.submit_token, answers={"label": "B"}),
                lambda a=a: ts.assignment_return(worker=worker, assignment_id=a.pk),
            ]
        )
        won = [r for r in results if isinstance(r, Assignment)]
        lost = [r for r in results if isinstance(r, ApplicationError)]
        assert len(won) == 1 and len(lost) == 2, results
        final = Assignment.objects.get(pk=a.pk)
        assert final.status == won[0].status
        assert _events(a.pk) == [("", "accepted"), ("accepted", final.status)]
        assert {e.code for e in lost} <= {"already_submitted", "returned", "illegal_transition"}
        if final.status == "submitted":
            assert final.answers == won[0].answers
    sums = counters.counter_sums([batch.pk])[batch.pk]
    statuses = list(Assignment.objects.filter(batch=batch).values_list("status", flat=True))
    assert (sums["accepted"], sums["submitted"], sums["returned"]) == (
        0,
        statuses.count("submitted"),
        statuses.count("returned"),
    )
    assert sum(Task.objects.filter(batch=batch).values_list("assignments_taken", flat=True)) == (
        statuses.count("submitted")
    )


def test_the_claim_rate_limit_is_one_redis_round_trip(settings):
    """On Redis the counter is INCR + EXPIRE in one pipeline; it counts per key and
    expires with its window."""
    broker = str(settings.CELERY_BROKER_URL)
    if not broker.startswith("redis://"):
        message = "needs Redis (CELERY_BROKER_URL=redis://...); CI runs with it"
        if __import__("os").environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    settings.CACHES = {
        "default": {
            "BACKEND": "marketplace.cache.FailOpenRedisCache",
            "LOCATION": broker,
            "KEY_PREFIX": f"test-count-hit-{__import__('os').getpid()}",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True},
        }
    }
    cache = caches["default"]
    try:
        cache.delete_many(["k1", "k2"])
        client = cache.client.get_client(write=True)
        sent: list = []
        original = client.pipeline

        def counting_pipeline(*args, **kwargs):
            pipe = original(*args, **kwargs)
            execute = pipe.execute

            def run(*a, **k):
                sent.append(len(pipe.command_stack))
                return execute(*a, **k)

            pipe.execute = run
            return pipe

        client.pipeline = counting_pipeline
        assert [count_hit("k1", timeout=60) for _ in range(3)] == [1, 2, 3]
        assert count_hit("k2", timeout=60) == 1
        assert sent == [2, 2, 2, 2]  # one pipeline (INCR, EXPIRE) per hit
        assert cache.get("k1") == 3
        assert 0 < client.ttl(cache.client.make_key("k1")) <= 60
    finally:
        cache.delete_many(["k1", "k2"])
        cache.close()


def test_the_claim_rate_limit_fails_open_while_redis_is_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "marketplace.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on port 9
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    try:
        assert [count_hit("k", timeout=60) for _ in range(3)] == [1, 1, 1]
    finally:
        caches["default"].close()


@pytest.mark.django_db(transaction=True)
def test_busy_claimers_never_hear_no_task_left_while_work_is_free(settings):
    """32 workers each claim and submit 25 times on a batch of 2,000 free tasks: nothing
    can legitimately run out, so every claim must succeed. (The earlier pick-by-subquery
    form of the claim statement failed 1 claim in 350-2,300 under the benchmark's load;
    this short run does not reliably reproduce that, the benchmark's ``errors`` does.)"""
    settings.FAIRTASK_CLAIMS_PER_MINUTE = 1_000_000
    batch = published(RequesterFactory(), tasks=2_000, assignments_per_task=1)
    workers = [WorkerFactory() for _ in range(32)]

    def work(worker):
        for _ in range(25):
            a = ts.assignment_claim(worker=worker, project=batch.project_id)
            ts.assignment_submit(token=a.submit_token, answers={"label": "A"})
        return 25

    results = at_once([lambda w=w: work(w) for w in workers])
    assert results == [25] * 32, [r for r in results if r != 25][:3]
    assert Assignment.objects.filter(batch=batch, status="submitted").count() == 800
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert (sums["accepted"], sums["submitted"]) == (0, 800)
