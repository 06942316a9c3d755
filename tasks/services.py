"""Write services of the worker side: claim, submit, return, expire, and the one
``transition()`` every assignment move goes through.

Locks, in the order any one transaction takes them (see ``docs/architecture.md``,
"Locking"):

1. the worker's claim key (advisory, ``marketplace.locking.lock_keys``): one claim of a
   worker at a time, so the hoarding limit counts holdings nobody else is changing;
2. the assignment row (submit, return, expiry, review);
   or, for a claim, ``FOR SHARE`` on the batch row (``marketplace.locking``), under
   which it checks that the batch is open: a pause, cancel or expiry waits for it;
3. the task row (claim: ``FOR UPDATE SKIP LOCKED``, never waits; return/expiry: the
   slot given back);
4. one ``BatchCounter`` row of the batch (every move, last, so it is held briefly).

Expected failures raise ``core.errors.ApplicationError`` with a code and an HTTP status;
nothing is changed then.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, require_transition
from marketplace import counters, prepared, templating
from marketplace.cache import count_hit
from marketplace.locking import WORKER_CLAIMS, run_locked
from marketplace.models import (
    BATCH_OPEN_STATUSES,
    Batch,
    BatchStatus,
    Project,
    ProjectStatus,
    Task,
    User,
)
from tasks.models import (
    ASSIGNMENT_TRANSITIONS,
    Assignment,
    AssignmentEvent,
    AssignmentStatus,
    WorkerBlock,
    token_mac,
)

_STATE_TEXT = {
    AssignmentStatus.ACCEPTED: "is in progress",
    AssignmentStatus.SUBMITTED: "has been submitted",
    AssignmentStatus.APPROVED: "has been approved",
    AssignmentStatus.REJECTED: "has been rejected",
    AssignmentStatus.RETURNED: "was returned",
    AssignmentStatus.EXPIRED: "has expired",
}
_VERB_TEXT = {
    AssignmentStatus.SUBMITTED: "submitted",
    AssignmentStatus.APPROVED: "approved",
    AssignmentStatus.REJECTED: "rejected",
    AssignmentStatus.RETURNED: "returned",
    AssignmentStatus.EXPIRED: "expired",
}


def _max_accepted() -> int:
    return int(getattr(settings, "FAIRTASK_MAX_ACCEPTED", 5))


def _claims_per_minute() -> int:
    return int(getattr(settings, "FAIRTASK_CLAIMS_PER_MINUTE", 60))


def _max_answer_bytes() -> int:
    return int(getattr(settings, "FAIRTASK_MAX_ANSWER_BYTES", 64 * 1024))


# --- The one place an assignment changes state ----------------------------------------------


def transition(
    *,
    assignment: Assignment,
    to: str,
    actor: User | None,
    reason: str = "",
    now: datetime | None = None,
    update_fields: tuple[str, ...] = (),
) -> AssignmentEvent:
    """Move ``assignment`` to ``to`` if ``ASSIGNMENT_TRANSITIONS`` allows it, save
    ``status`` and ``update_fields``, write an ``AssignmentEvent`` (old, new, actor,
    time, reason) and add the move to the batch's counters, all in the caller's
    transaction. The caller holds the assignment row lock (``select_for_update``) and
    has re-read it. Raises ApplicationError ``illegal_transition`` (409)."""
    if not connection.in_atomic_block:
        raise RuntimeError("transition must run inside transaction.atomic with the row locked")
    old = assignment.status
    require_transition(
        ASSIGNMENT_TRANSITIONS,
        old,
        to,
        lambda: (
            f"This assignment {_STATE_TEXT[AssignmentStatus(old)]} and cannot be "
            f"{_VERB_TEXT.get(AssignmentStatus(to), to)}."
        ),
    )
    now = now or timezone.now()
    assignment.status = to
    assignment.save(update_fields=["status", *update_fields])
    cost = assignment.reward_cents + assignment.fee_cents
    deltas: dict[str, int] = {old: -1, to: 1}
    if to in (AssignmentStatus.RETURNED, AssignmentStatus.EXPIRED):
        deltas["owed_cents"] = -cost  # the slot and its money are free again
    elif to == AssignmentStatus.SUBMITTED and assignment.submitted_at is not None:
        deltas["work_seconds"] = int(
            (assignment.submitted_at - assignment.accepted_at).total_seconds()
        )
    elif to == AssignmentStatus.APPROVED:
        deltas["spend_cents"] = cost
    counters.counters_add(batch_id=assignment.batch_id, deltas=deltas)
    return AssignmentEvent.objects.create(
        assignment=assignment,
        old_status=old,
        new_status=to,
        actor=actor,
        reason=reason,
        created_at=now,
    )


def assignment_mark_settled(*, assignment: Assignment, now: datetime | None = None) -> None:
    """Record that the assignment's money has left the batch escrow (settlement of an
    approval, or a final rejection returned to the requester): ``settled_at`` and the
    batch's ``owed_cents``. Idempotent. The caller (settlement, in the transaction that
    posts the ledger entries) holds the assignment row lock."""
    if not connection.in_atomic_block:
        raise RuntimeError("assignment_mark_settled must run inside transaction.atomic")
    if assignment.settled_at is not None:
        return
    if assignment.status not in (AssignmentStatus.APPROVED, AssignmentStatus.REJECTED):
        raise ApplicationError(
            "Only approved or rejected work can be settled.", code="not_settleable", status=409
        )
    assignment.settled_at = now or timezone.now()
    assignment.save(update_fields=["settled_at"])
    counters.counters_add(
        batch_id=assignment.batch_id,
        deltas={"owed_cents": -(assignment.reward_cents + assignment.fee_cents)},
    )


def assignments_mark_settled(assignment_ids: list[int], now: datetime | None = None) -> int:
    """Set-based ``assignment_mark_settled`` for the settlement job (registered with
    ``payouts.settlement.on_settled`` in ``TasksConfig.ready``): in the settling
    transaction, set ``settled_at`` on the approved/rejected assignments among
    ``assignment_ids`` not yet settled and take their reward + fee off each batch's
    ``owed_cents``. Returns how many were marked. Idempotent."""
    if not connection.in_atomic_block:
        raise RuntimeError("assignments_mark_settled must run inside transaction.atomic")
    if not assignment_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH marked AS (
                UPDATE tasks_assignment SET settled_at = %s
                 WHERE id = ANY(%s) AND settled_at IS NULL AND status IN ('approved', 'rejected')
             RETURNING batch_id, reward_cents + fee_cents AS cost)
            SELECT batch_id, count(*), sum(cost) FROM marked GROUP BY batch_id ORDER BY batch_id
            """,
            [now or timezone.now(), list(assignment_ids)],
        )
        rows = cursor.fetchall()
    for batch_id, _n, cost in rows:
        counters.counters_add(batch_id=batch_id, deltas={"owed_cents": -int(cost)})
    return sum(int(n) for _b, n, _c in rows)


# --- Claim ---------------------------------------------------------------------------------


def _refuse(worker: User, *, owner_id: int, project_status: str, blocked: bool) -> None:
    if not worker.is_active or not worker.is_worker:
        raise ApplicationError(
            "Only workers can accept tasks; add the worker role to your account first.",
            code="not_a_worker",
            status=403,
        )
    if owner_id == worker.pk:
        raise ApplicationError(
            "This is your own project: you cannot accept your own tasks.",
            code="own_task",
            status=403,
        )
    if blocked:
        raise ApplicationError(
            "This requester's tasks are not available to you.", code="blocked", status=403
        )
    if project_status != ProjectStatus.ACTIVE:
        raise ApplicationError(
            "This project is archived and has no work to take.", code="no_open_work", status=409
        )


def _refuse_worker(worker: User, project: Project) -> None:
    _refuse(
        worker,
        owner_id=project.owner_id,
        project_status=project.status,
        blocked=WorkerBlock.objects.filter(
            requester_id=project.owner_id, worker_id=worker.pk
        ).exists(),
    )


def _rate_limit(worker_id: int, now: datetime) -> None:
    """Fixed one-minute window per worker in the shared cache (Redis in production):
    one cache round trip (``marketplace.cache.count_hit``)."""
    limit = _claims_per_minute()
    count = count_hit(f"fairtask:claims:{worker_id}:{int(now.timestamp()) // 60}", timeout=120)
    if count > limit:
        raise ApplicationError(
            f"You are accepting tasks too fast (at most {limit} a minute); wait a moment and try again.",
            code="rate_limited",
            status=429,
        )


def _closed_batch_error(batch: Batch, now: datetime) -> ApplicationError | None:
    if (
        batch.status in BATCH_OPEN_STATUSES
        and batch.expires_at is not None
        and batch.expires_at > now
    ):
        return None
    if batch.status == BatchStatus.PAUSED:
        text, code = (
            "The requester has paused this batch; its tasks cannot be accepted now.",
            "batch_paused",
        )
    elif batch.status == BatchStatus.CANCELLED:
        text, code = (
            "The requester has cancelled this batch; its tasks cannot be accepted.",
            "batch_cancelled",
        )
    elif batch.status == BatchStatus.EXPIRED or batch.status in BATCH_OPEN_STATUSES:
        text, code = "This batch has expired; its tasks cannot be accepted.", "batch_expired"
    else:
        text, code = "This batch's tasks are not available.", "batch_closed"
    return ApplicationError(text, code=code, status=409)


# A claim is one message (``marketplace.locking.run_locked``): the worker's claim key,
# ``FOR SHARE`` on the batch row, then one statement that takes the slot, inserts the
# assignment and its event and adds to a counter row. The statement comes after the key
# was granted, so its snapshot sees the worker's latest claims: the hoarding limit is
# checked inside it, and so is the batch's status (under the share lock nobody can
# change it). Outside ``atomic`` the message is one transaction.
#
# The slot is picked in a materialized CTE (``pick``) and updated from it, never by
# ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)``: in that form the row
# recheck after a concurrent update of the task could come back empty, and 1 claim in
# 350-2,300 at 32 concurrent claimers found no slot with thousands free (a false "no
# task left"; PostgreSQL 15). A CTE runs once and its row is carried into the recheck.
# The hoarding limit and the batch's status are a materialized CTE (``allowed``)
# joined to the pick for the same reason.
_ALLOWED_SQL = """
allowed AS MATERIALIZED (
    SELECT 1 AS ok
    WHERE (SELECT count(*) FROM tasks_assignment h
           WHERE h.worker_id = %(worker)s AND h.status = 'accepted') < %(limit)s
      AND EXISTS (SELECT 1 FROM marketplace_batch ob WHERE ob.id = %(batch)s
                  AND ob.status = ANY(%(open)s) AND ob.expires_at > %(now)s)
)"""

# The next free slot of a batch in row order that this worker has not done.
_PICK_NEXT_SQL = """
pick AS MATERIALIZED (
    SELECT o.id FROM marketplace_task o {join}
    WHERE o.batch_id = %(batch)s AND o.assignments_taken < o.assignments_needed
      AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.task_id = o.id AND a.worker_id = %(worker)s)
    ORDER BY o.row_number
    LIMIT 1
    FOR UPDATE OF o SKIP LOCKED
),
slot AS (
    UPDATE marketplace_task t SET assignments_taken = t.assignments_taken + 1
    FROM pick WHERE t.id = pick.id
    RETURNING t.id
)"""
# The benchmark floor's claim (bench/floor_urls.py): the same take, nothing else.
_TAKE_NEXT_SQL = "WITH " + _PICK_NEXT_SQL.format(join="") + " SELECT id FROM slot"  # noqa: S608
_CLAIM_NEXT_SQL = _PICK_NEXT_SQL.format(join="JOIN allowed ON true")
_CLAIM_ONE_SQL = """
slot AS (
    UPDATE marketplace_task t SET assignments_taken = t.assignments_taken + 1
    FROM allowed
    WHERE t.id = %(task)s AND t.batch_id = %(batch)s AND t.assignments_taken < t.assignments_needed
      AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.task_id = %(task)s AND a.worker_id = %(worker)s)
    RETURNING t.id
)"""
# The slot taken, then the assignment, its event (the claim's move: '' -> accepted) and
# its counters, all or nothing. The last line always returns one row: the new
# assignment (or nulls) and the worker's holding as this statement saw it (to explain a
# refusal); a batch without its counter row fails the whole statement (division by zero),
# so the move is never committed uncounted.
_CLAIM_SQL = (
    "WITH"  # noqa: S608 - constant fragments
    + _ALLOWED_SQL
    + """,
{take},
a AS (
    INSERT INTO tasks_assignment (task_id, batch_id, worker_id, status, accepted_at, deadline,
                                  answers, reward_cents, fee_cents, submit_nonce,
                                  reject_reason, reject_note)
    SELECT slot.id, %(batch)s, %(worker)s, 'accepted', %(now)s, %(deadline)s,
           '{{}}', %(reward)s, %(fee)s, %(nonce)s, '', ''
    FROM slot
    RETURNING id, task_id
),
e AS (
    INSERT INTO tasks_assignmentevent (assignment_id, old_status, new_status, actor_id, reason, created_at)
    SELECT a.id, '', 'accepted', %(worker)s, '', %(now)s FROM a
),
c AS ({counter} AND EXISTS (SELECT 1 FROM a) RETURNING 1)
SELECT a.id, a.task_id,
       CASE WHEN a.id IS NULL THEN 1 ELSE 1 / (SELECT count(*)::int FROM c) END,
       (SELECT count(*) FROM tasks_assignment h WHERE h.worker_id = %(worker)s AND h.status = 'accepted')
FROM (SELECT 1) one LEFT JOIN a ON true
"""
)

# What a claim reads before it takes anything, in one query: the project, whether its
# owner blocked this worker, and its open batches, oldest published first.
_CLAIM_READ_SQL = """
SELECT p.owner_id, p.status, p.title,
       EXISTS (SELECT 1 FROM tasks_workerblock k
               WHERE k.requester_id = p.owner_id AND k.worker_id = %(worker)s),
       b.id, b.status, b.expires_at, b.reward_cents, b.fee_cents, b.time_allotted_seconds
FROM marketplace_project p
LEFT JOIN marketplace_batch b
       ON b.project_id = p.id AND b.status = ANY(%(open)s) AND b.expires_at > %(now)s
WHERE p.id = %(project)s
ORDER BY b.published_at, b.id
"""
_OPEN = sorted(str(s) for s in BATCH_OPEN_STATUSES)
_CLAIM_READ = prepared.Statement("ft_claim_read", _CLAIM_READ_SQL)


def _hoarding_error(holding: int) -> ApplicationError:
    limit = _max_accepted()
    return ApplicationError(
        f"You already hold {holding} accepted tasks (the limit is {limit}); submit or return one first.",
        code="too_many_accepted",
        status=409,
        extra={"holding": holding, "limit": limit},
    )


class _Attempt(NamedTuple):
    assignment: Assignment | None
    closed: ApplicationError | None  # the batch was closed under the lock
    holding: int  # the worker's accepted assignments, as the claim saw them


def _claim_in(
    *, worker: User, batch: Batch, take: str, extra: dict[str, Any], now: datetime
) -> _Attempt:
    """One claim attempt in ``batch`` (see ``_CLAIM_SQL``): one round trip."""
    # Published: the money and work terms are frozen on the batch.
    assert batch.reward_cents is not None and batch.fee_cents is not None
    assert batch.time_allotted_seconds is not None
    counter_sql, counter_params = counters.counters_add_sql(
        deltas={"accepted": 1, "owed_cents": batch.reward_cents + batch.fee_cents}
    )
    deadline = now + timedelta(seconds=batch.time_allotted_seconds)
    nonce = secrets.token_hex(16)
    params = {
        "batch": batch.pk,
        "worker": worker.pk,
        "limit": _max_accepted(),
        "open": _OPEN,
        "now": now,
        "deadline": deadline,
        "reward": batch.reward_cents,
        "fee": batch.fee_cents,
        "nonce": nonce,
        "slot": counters.random_slot(),
        **counter_params,
        **extra,
    }
    claim = prepared.statement("ft_claim", _CLAIM_SQL.format(take=take, counter=counter_sql))
    try:
        locked, rows = run_locked(
            sql=claim.sql(),
            params=claim.params(params),
            shared=[batch.pk],
            keys=(WORKER_CLAIMS, [worker.pk]),
        )
    except DataError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "22012":  # division_by_zero
            raise RuntimeError(f"batch {batch.pk} has no counter rows") from exc
        raise
    state = locked.get(batch.pk)
    if state is not None:
        batch.status, batch.expires_at = state.status, state.expires_at
    assignment_id, task_id, _counted, holding = rows[0]
    if assignment_id is None:
        return _Attempt(None, _closed_batch_error(batch, now), int(holding))
    assignment = Assignment(
        pk=assignment_id,
        task_id=task_id,
        batch=batch,  # with its project: callers render it without a query
        worker=worker,
        status=AssignmentStatus.ACCEPTED,
        accepted_at=now,
        deadline=deadline,
        answers={},
        reward_cents=batch.reward_cents,
        fee_cents=batch.fee_cents,
        submit_nonce=nonce,
    )
    assignment._state.adding = False
    assignment._state.db = connection.alias
    return _Attempt(assignment, None, int(holding))


def assignment_claim(
    *, worker: User, project: Project | int, now: datetime | None = None
) -> Assignment:
    """Give ``worker`` the next free task of ``project`` (a Project or its id; oldest
    published batch first, row order within it) in one short transaction, without
    waiting on other workers' claims (``SKIP LOCKED``). The database backs the rules: a
    task never has more assignments than it needs (CHECK on ``Task``), never two by one
    worker (UNIQUE).

    Round trips on the way to success: one read (project, block, open batches), one
    cache hit (rate limit), one message per batch tried (``_CLAIM_SQL``: worker key,
    ``FOR SHARE`` on the batch, take + insert + event + counter).

    Raises ApplicationError: ``not_found`` (404, no such project id), ``not_a_worker``
    (403), ``own_task`` (403), ``blocked`` (403), ``rate_limited`` (429),
    ``too_many_accepted`` (409), ``batch_paused`` / ``batch_cancelled`` /
    ``batch_expired`` (409, when the project has no open batch and its latest one is
    so), ``no_open_work`` (409), ``no_task_left`` (409: every open task is done by this
    worker or taken), ``busy`` (503)."""
    now = now or timezone.now()
    project_id = project if isinstance(project, int) else project.pk
    with connection.cursor() as cursor:
        _CLAIM_READ.execute(
            cursor, {"worker": worker.pk, "open": _OPEN, "now": now, "project": project_id}
        )
        rows = cursor.fetchall()
    if not rows:
        raise ApplicationError("Project not found.", code="not_found", status=404)
    owner_id, project_status, title, blocked = rows[0][:4]
    _refuse(worker, owner_id=owner_id, project_status=project_status, blocked=blocked)
    _rate_limit(worker.pk, now)
    if isinstance(project, int):
        project = Project(pk=project_id, owner_id=owner_id, status=project_status, title=title)
        project._state.adding = False
        project._state.db = connection.alias
    batches = [
        Batch(
            pk=row[4],
            project=project,
            status=row[5],
            expires_at=row[6],
            reward_cents=row[7],
            fee_cents=row[8],
            time_allotted_seconds=row[9],
        )
        for row in rows
        if row[4] is not None
    ]
    if not batches:
        latest = (
            Batch.objects.filter(project_id=project_id, published_at__isnull=False)
            .order_by("-published_at", "-pk")
            .first()
        )
        error = _closed_batch_error(latest, now) if latest is not None else None
        raise error or ApplicationError(
            "This project has no open work right now.", code="no_open_work", status=409
        )
    closed: list[ApplicationError] = []
    for batch in batches:
        batch._state.adding = False
        batch._state.db = connection.alias
        attempt = _claim_in(worker=worker, batch=batch, take=_CLAIM_NEXT_SQL, extra={}, now=now)
        if attempt.assignment is not None:
            return attempt.assignment
        if attempt.closed is not None:
            closed.append(attempt.closed)  # closed since the list was read: try the next batch
        elif attempt.holding >= _max_accepted():
            raise _hoarding_error(attempt.holding)
    if len(closed) == len(batches):
        raise closed[-1]
    raise ApplicationError(
        "No task of this project is left for you: you have done every open one, or others hold them.",
        code="no_task_left",
        status=409,
    )


def assignment_claim_task(*, worker: User, task: Task, now: datetime | None = None) -> Assignment:
    """Accept one given task (from its preview). Same rules and errors as
    ``assignment_claim``, plus ``already_worked`` (409: this worker has an assignment of
    it, whatever its state) and ``task_full`` (409: it has all the workers it needs)."""
    now = now or timezone.now()
    batch = Batch.objects.select_related("project").get(pk=task.batch_id)
    _refuse_worker(worker, batch.project)
    error = _closed_batch_error(batch, now)
    if error is not None:
        raise error
    _rate_limit(worker.pk, now)
    attempt = _claim_in(
        worker=worker, batch=batch, take=_CLAIM_ONE_SQL, extra={"task": task.pk}, now=now
    )
    if attempt.assignment is not None:
        return attempt.assignment
    if attempt.closed is not None:
        raise attempt.closed
    if Assignment.objects.filter(task_id=task.pk, worker_id=worker.pk).exists():
        raise ApplicationError(
            "You have already worked on this task; each worker does a task once.",
            code="already_worked",
            status=409,
        )
    if attempt.holding >= _max_accepted():
        raise _hoarding_error(attempt.holding)
    raise ApplicationError(
        "This task already has all the workers it needs.", code="task_full", status=409
    )


def assignment_claim_next(
    *, worker: User, after: Assignment, now: datetime | None = None
) -> Assignment:
    """Accept next: the next free task of the same project as ``after`` (which must be
    the worker's). Errors as ``assignment_claim``; 404 for someone else's assignment."""
    if after.worker_id != worker.pk:
        raise _not_found()
    project_id = Batch.objects.values_list("project_id", flat=True).get(pk=after.batch_id)
    return assignment_claim(worker=worker, project=project_id, now=now)


# --- Submit ----------------------------------------------------------------------------------


def _not_found() -> ApplicationError:
    return ApplicationError("Assignment not found.", code="not_found", status=404)


def _bad_token() -> ApplicationError:
    return ApplicationError(
        "This submission's token is not valid for any assignment.", code="invalid_token", status=403
    )


def parse_token(token: str) -> int:
    """The assignment id in a submit token (``<id>.<mac>``), or ``invalid_token``."""
    head, sep, _mac = (token or "").partition(".")
    if not sep or not head.isascii() or not head.isdigit() or len(head) > 18:
        raise _bad_token()
    return int(head)


def _check_token(assignment: Assignment, token: str) -> None:
    _head, _sep, mac = token.partition(".")
    if not secrets.compare_digest(
        mac.encode(), token_mac(assignment.pk, assignment.submit_nonce).encode()
    ):
        raise _bad_token()


def clean_answers(*, answers: Any, allowed: frozenset[str]) -> dict[str, str | list[str]]:
    """Answers as stored: field name -> text (or list of texts, for a field with several
    values). Raises ApplicationError ``invalid_answers`` (400) for anything but that,
    for fields the task's form does not have (``extra.unknown``), and
    ``answers_too_large`` (413) above ``FAIRTASK_MAX_ANSWER_BYTES`` (UTF-8 JSON)."""
    if not isinstance(answers, Mapping):
        raise ApplicationError(
            "Answers must be an object of field names to values.", code="invalid_answers"
        )
    cleaned: dict[str, str | list[str]] = {}
    for key, value in answers.items():
        if not isinstance(key, str):
            raise ApplicationError("Answer field names must be text.", code="invalid_answers")
        if isinstance(value, str):
            cleaned[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            cleaned[key] = list(value)
        else:
            raise ApplicationError(
                f"The answer to “{key[:80]}” must be text or a list of texts.",
                code="invalid_answers",
                field=key[:80],
            )
    unknown = sorted(set(cleaned) - allowed)
    if unknown:
        shown = ", ".join(f"“{u[:80]}”" for u in unknown[:5])
        raise ApplicationError(
            f"This task's form has no field {shown}; nothing was saved.",
            code="invalid_answers",
            extra={"unknown": [u[:80] for u in unknown[:20]]},
        )
    size = len(json.dumps(cleaned, ensure_ascii=False).encode())
    limit = _max_answer_bytes()
    if size > limit:
        raise ApplicationError(
            f"The answers are {size:,} bytes, more than the {limit:,} bytes allowed; nothing was saved.",
            code="answers_too_large",
            status=413,
            extra={"size": size, "limit": limit},
        )
    return cleaned


def _not_open_error(assignment: Assignment) -> ApplicationError:
    if assignment.status in (
        AssignmentStatus.SUBMITTED,
        AssignmentStatus.APPROVED,
        AssignmentStatus.REJECTED,
    ):
        return ApplicationError(
            "This task was already submitted; the first submission is kept.",
            code="already_submitted",
            status=409,
        )
    if assignment.status == AssignmentStatus.RETURNED:
        return ApplicationError(
            "You returned this task, so it can no longer be submitted.", code="returned", status=409
        )
    return ApplicationError(
        "The time allotted for this task ran out and it was released; it can no longer be submitted.",
        code="expired",
        status=409,
    )


# What a submit reads first (no lock: the terms, template and task data it checks do
# not change once the assignment exists; status and deadline are re-checked by the
# write).
_SUBMIT_READ_SQL = """
SELECT a.submit_nonce, a.status, a.deadline, a.accepted_at, a.batch_id, a.task_id,
       a.worker_id, a.reward_cents, a.fee_cents, b.template_html, b.auto_approval_delay, t.data
FROM tasks_assignment a
JOIN marketplace_batch b ON b.id = a.batch_id
JOIN marketplace_task t ON t.id = a.task_id
WHERE a.id = %(id)s
"""
# ``transition()``'s accepted -> submitted move as one statement (a conditional UPDATE
# whose row count is checked): the row, its event and its counters, all or nothing. The
# UPDATE locks the row and re-checks the status and deadline on its latest version, so
# of two submits (or a submit and a return or expiry) exactly one moves it. A batch
# without its counter row fails the statement (division by zero).
_SUBMIT_SQL = """
WITH s AS (
    UPDATE tasks_assignment
       SET status = 'submitted', answers = %(answers)s::jsonb, submitted_at = %(now)s,
           auto_approve_at = %(auto_approve_at)s
     WHERE id = %(id)s AND status = 'accepted' AND deadline > %(now)s
 RETURNING id, worker_id
), e AS (
    INSERT INTO tasks_assignmentevent (assignment_id, old_status, new_status, actor_id, reason, created_at)
    SELECT s.id, 'accepted', 'submitted', s.worker_id, '', %(now)s FROM s
), c AS ({counter} AND EXISTS (SELECT 1 FROM s) RETURNING 1)
SELECT s.id, CASE WHEN s.id IS NULL THEN 1 ELSE 1 / (SELECT count(*)::int FROM c) END
FROM (SELECT 1) one LEFT JOIN s ON true
"""
assert AssignmentStatus.SUBMITTED in ASSIGNMENT_TRANSITIONS[AssignmentStatus.ACCEPTED]
_SUBMIT_READ = prepared.Statement("ft_submit_read", _SUBMIT_READ_SQL)


def assignment_submit(*, token: str, answers: Any, now: datetime | None = None) -> Assignment:
    """Store the answers of the assignment ``token`` belongs to (the work frame's
    submission; the token, not a session, is the credential) and move it to
    ``submitted``, freezing ``auto_approve_at`` = now + the project's auto-approval
    delay. Only fields the task's form has are accepted, up to the size limit.

    Two round trips: a read (assignment, batch terms, task data), then ``_SUBMIT_SQL``,
    which locks the assignment row, then one counter row. Raises ApplicationError:
    ``invalid_token`` (403), ``already_submitted`` (409; the first is kept), ``returned``
    / ``expired`` (409), ``deadline_passed`` (409), ``invalid_answers`` (400),
    ``answers_too_large`` (413). Nothing changes on error."""
    now = now or timezone.now()
    assignment_id = parse_token(token)
    with connection.cursor() as cursor:
        _SUBMIT_READ.execute(cursor, {"id": assignment_id})
        row = cursor.fetchone()
    if row is None:
        raise _bad_token()
    (nonce, status, deadline, accepted_at, batch_id, task_id, worker_id) = row[:7]
    (reward_cents, fee_cents, template_html, delay, data) = row[7:]
    assignment = Assignment(
        pk=assignment_id,
        task_id=task_id,
        batch_id=batch_id,
        worker_id=worker_id,
        status=status,
        accepted_at=accepted_at,
        deadline=deadline,
        reward_cents=reward_cents,
        fee_cents=fee_cents,
        submit_nonce=nonce,
    )
    assignment._state.adding = False
    assignment._state.db = connection.alias
    _check_token(assignment, token)
    if status != AssignmentStatus.ACCEPTED:
        raise _not_open_error(assignment)
    if now >= deadline:
        raise ApplicationError(
            "The time allotted for this task ran out at "
            f"{timezone.localtime(deadline):%H:%M:%S %Z}; the answers were not saved.",
            code="deadline_passed",
            status=409,
        )
    if isinstance(data, str):  # Django leaves jsonb to JSONField to decode
        data = json.loads(data)
    allowed = templating.task_field_names(template_html, data)
    cleaned = clean_answers(answers=answers, allowed=allowed)
    assert delay is not None  # frozen at publish
    counter_sql, counter_params = counters.counters_add_sql(
        deltas={
            "accepted": -1,
            "submitted": 1,
            "work_seconds": int((now - accepted_at).total_seconds()),
        }
    )
    submit = prepared.statement("ft_submit", _SUBMIT_SQL.format(counter=counter_sql))
    try:
        with connection.cursor() as cursor:
            submit.execute(
                cursor,
                {
                    "id": assignment_id,
                    "answers": json.dumps(cleaned, ensure_ascii=False),
                    "now": now,
                    "auto_approve_at": now + delay,
                    "batch": batch_id,
                    "slot": counters.random_slot(),
                    **counter_params,
                },
            )
            moved = cursor.fetchone()[0]
    except DataError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "22012":  # division_by_zero
            raise RuntimeError(f"batch {batch_id} has no counter rows") from exc
        raise
    if moved is None:
        # Moved by someone else since the read (a submit, return or expiry won).
        assignment.status = Assignment.objects.values_list("status", flat=True).get(
            pk=assignment_id
        )
        raise _not_open_error(assignment)
    assignment.status = AssignmentStatus.SUBMITTED
    assignment.answers = cleaned
    assignment.submitted_at = now
    assignment.auto_approve_at = now + delay
    return assignment


# --- Return and expiry -----------------------------------------------------------------------


def _release_slot(assignment: Assignment) -> None:
    updated = Task.objects.filter(pk=assignment.task_id, assignments_taken__gt=0).update(
        assignments_taken=F("assignments_taken") - 1
    )
    if updated != 1:
        raise RuntimeError(f"task {assignment.task_id} had no slot to release")


def assignment_return(
    *, worker: User, assignment_id: int, now: datetime | None = None
) -> Assignment:
    """Give an accepted task back: its slot is free for others at once. Locks the
    assignment row, the task row, one counter row. Raises ApplicationError: someone
    else's or no such assignment (404, ``not_found``), ``already_returned`` (409),
    ``illegal_transition`` (409: submitted, expired, ...)."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .filter(pk=assignment_id, worker_id=worker.pk)
            .first()
        )
        if assignment is None:
            raise _not_found()
        if assignment.status == AssignmentStatus.RETURNED:
            raise ApplicationError(
                "You already returned this task.", code="already_returned", status=409
            )
        transition(assignment=assignment, to=AssignmentStatus.RETURNED, actor=worker, now=now)
        _release_slot(assignment)
        return assignment


def assignment_expire(*, assignment_id: int, now: datetime | None = None) -> bool:
    """Expire one accepted assignment past its deadline and free its slot. Safe to run
    twice and next to a submit: the row is locked ``SKIP LOCKED`` (a submit in flight
    decides), then re-checked. Returns whether it expired it."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(pk=assignment_id, status=AssignmentStatus.ACCEPTED, deadline__lte=now)
            .first()
        )
        if assignment is None:
            return False
        transition(
            assignment=assignment,
            to=AssignmentStatus.EXPIRED,
            actor=None,
            now=now,
            reason="time allotted ran out",
        )
        _release_slot(assignment)
        return True


def assignments_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Ids of accepted assignments past their deadline, oldest first (partial index)."""
    now = now or timezone.now()
    return list(
        Assignment.objects.filter(status=AssignmentStatus.ACCEPTED, deadline__lte=now)
        .order_by("deadline")
        .values_list("pk", flat=True)[:limit]
    )


def assignments_expire(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire every accepted assignment past its deadline (each in its own transaction);
    returns how many. The ``expire_assignments`` job runs this."""
    now = now or timezone.now()
    return sum(
        assignment_expire(assignment_id=pk, now=now) for pk in assignments_due(now=now, limit=limit)
    )


__all__ = [
    "assignment_claim",
    "assignment_claim_next",
    "assignment_claim_task",
    "assignment_expire",
    "assignment_mark_settled",
    "assignments_mark_settled",
    "assignment_return",
    "assignment_submit",
    "assignments_due",
    "assignments_expire",
    "clean_answers",
    "measured_times_refresh",
    "parse_token",
    "transition",
]


# --- Measured times ----------------------------------------------------------------------------

_MEDIANS_SQL = """
WITH live AS (
    SELECT id, project_id FROM marketplace_batch WHERE status IN ('published', 'paused')
), per_batch AS (
    SELECT a.batch_id,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM a.submitted_at - a.accepted_at)) AS median
    FROM tasks_assignment a JOIN live ON live.id = a.batch_id
    WHERE a.submitted_at IS NOT NULL
    GROUP BY a.batch_id
), b AS (
    UPDATE marketplace_batch SET measured_median_seconds = round(per_batch.median)::int
    FROM per_batch WHERE marketplace_batch.id = per_batch.batch_id
    RETURNING marketplace_batch.id
), per_project AS (
    SELECT b2.project_id,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM a.submitted_at - a.accepted_at)) AS median,
           count(*) AS n
    FROM tasks_assignment a JOIN marketplace_batch b2 ON b2.id = a.batch_id
    WHERE a.submitted_at IS NOT NULL
      AND b2.project_id IN (SELECT project_id FROM live)
    GROUP BY b2.project_id
)
UPDATE marketplace_project p
SET measured_median_seconds = round(per_project.median)::int, measured_count = per_project.n
FROM per_project WHERE p.id = per_project.project_id
"""


def measured_times_refresh() -> int:
    """Store the median work time (accepted → submitted) of handed-in assignments on
    each live batch and on the projects with live batches, for pages and task cards to
    read. Returns the number of projects updated. One statement; takes no row locks
    beyond the updated batch and project rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MEDIANS_SQL)
        return cursor.rowcount
