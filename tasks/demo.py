"""Demo history of the worker side: ``seed_demo`` gives each demo worker two weeks of
past work, so that the dashboard's charts, rates and the cards' measured times show
real figures from the first login.

Everything goes through the services a real worker's work goes through: the
requester publishes a "past work" batch (``project_create``, ``batch_upload``,
``batch_publish``, paid from the requester's funded balance), each worker claims
(``assignment_claim``) and submits (``assignment_submit``) with times set in the past,
and older work is approved or rejected through the review service (``tasks.review``);
approved work is settled at the end, so "available" shows real money.

``seed_review_demo`` (through ``manage.py seed_review_demo``, which the marketplace's
command calls by name: marketplace never imports tasks) adds review data on the first
requester's text-classification batch: demo workers do six tasks; the requester
approves three, rejects one with a reason, leaves two waiting for review, and bonuses
one worker; settlement then pays the approvals. Safe to run again: a batch that
already has work is left alone.

Idempotent: a worker who already has assignments gets nothing more; the project is
found by owner and title.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from core.errors import ApplicationError
from marketplace import services as requester_services
from marketplace.models import Batch, BatchStatus, Project, User
from payouts import settlement
from tasks import review, services
from tasks.models import Assignment, AssignmentStatus, RejectReason

PAST_WORK_TITLE = "Demo: past work, sort customer messages"
PAST_WORK_ROWS = 90
DAYS = 13
LABELS = ["Question", "Complaint", "Praise"]
MESSAGES = [
    "Where is my parcel? It was due on Monday.",
    "Thank you, the replacement works perfectly.",
    "Do you ship to Norway?",
    "The handle broke on the first day.",
    "Your app keeps logging me out.",
    "Lovely service, will order again.",
]


def _past_work_project(requester: User) -> Project | None:
    project = Project.objects.filter(owner=requester, title=PAST_WORK_TITLE).first()
    if project is None:
        project = requester_services.project_create(
            owner=requester,
            title=PAST_WORK_TITLE,
            description="Read a customer message and say what kind of message it is.",
            keywords="demo, text, classification",
            instructions="Pick Question, Complaint or Praise.",
            template_kind="text_classification",
            template_config={"labels": LABELS},
            reward_cents=9,
            estimated_seconds=30,
            assignments_per_task=1,
        )
    batch = project.batches.order_by("pk").first()
    if batch is None:
        rows = "text,message_id\n" + "".join(
            f'"{MESSAGES[i % len(MESSAGES)]}",M-{i:03d}\n' for i in range(PAST_WORK_ROWS)
        )
        batch = requester_services.batch_upload(
            project=project,
            user=requester,
            fileobj=io.BytesIO(rows.encode()),
            filename="past-work.csv",
            name="Past work",
        )
    if batch.status == BatchStatus.DRAFT:
        try:
            batch = requester_services.batch_publish(batch=batch, user=requester)
        except ApplicationError:
            return None  # not funded (no Stripe simulator): no history then
    return project if batch.status == BatchStatus.PUBLISHED else None


def _review(assignment: Assignment, *, to: str, actor: User, now: datetime) -> None:
    """The requester's decision, through the review service a real one goes through
    (event, counters, the payable settlement pays, the worker's email)."""
    if to == AssignmentStatus.APPROVED:
        review.assignments_approve(requester=actor, assignment_ids=[assignment.pk], now=now)
    else:
        review.assignments_reject(
            requester=actor,
            assignment_ids=[assignment.pk],
            reason=RejectReason.WRONG,
            note="Demo: the label does not match the message.",
            now=now,
        )


def seed_worker_history(
    *, workers: Iterable[User], requesters: Iterable[User], now: datetime | None = None
) -> int:
    """Past work for each worker without any: a few tasks on most of the last
    ``DAYS`` days, each submitted 18–42 s after it was claimed (a 30 s estimate); work older than three
    days is reviewed (about one in twelve rejected). Returns the assignments made."""
    now = now or timezone.now()
    projects = [p for p in (_past_work_project(r) for r in requesters if r.is_requester) if p]
    if not projects:
        return 0
    made = 0
    for w, worker in enumerate(workers):
        if not worker.is_worker or Assignment.objects.filter(worker=worker).exists():
            continue
        for day in range(DAYS, -1, -1):
            per_day = (w + day) % 4  # 0..3 tasks: some days off
            for k in range(per_day):
                project = projects[(w + day + k) % len(projects)]
                if project.owner_id == worker.pk:
                    continue
                accepted = now - timedelta(days=day, hours=2 + w, minutes=7 * k)
                seconds = 18 + ((w * 7 + day * 5 + k * 11) % 25)
                try:
                    a = services.assignment_claim(worker=worker, project=project, now=accepted)
                except ApplicationError:
                    continue  # nothing left for this worker in that project
                a = services.assignment_submit(
                    token=a.submit_token,
                    answers={"label": LABELS[(day + k) % len(LABELS)]},
                    now=accepted + timedelta(seconds=seconds),
                )
                made += 1
                if day >= 3:
                    rejected = (w + day + k) % 12 == 0
                    _review(
                        a,
                        to=AssignmentStatus.REJECTED if rejected else AssignmentStatus.APPROVED,
                        actor=project.owner,
                        now=accepted + timedelta(days=1),
                    )
    settlement.settle_pending()
    services.measured_times_refresh()
    requester_services.listing_refresh()
    return made


def seed_review_demo() -> str:
    requester = User.objects.filter(is_requester=True, email__startswith="requester1@").first()
    workers = list(
        User.objects.filter(
            is_worker=True, is_requester=False, email__startswith="worker"
        ).order_by("email")[:3]
    )
    if requester is None or not workers:
        return "no demo requester or workers"
    batch = (
        Batch.objects.filter(
            owner=requester,
            status=BatchStatus.PUBLISHED,
            project__template_kind="text_classification",
        )
        .select_related("project")
        .order_by("pk")
        .first()
    )
    if batch is None:
        return "no published text-classification batch (fund the demo requester first)"
    if Assignment.objects.filter(batch=batch).exists():
        return f"batch {batch.pk} already has work"
    labels = list(batch.project.template_config.get("labels") or ["A", "B"])
    made: list[Assignment] = []
    # Claimed over the last hour and submitted 20-40 s later, as a person would: work
    # submitted the instant it was claimed made the card's measured time 0 s and its
    # measured hourly rate $288/h, the first thing a demo worker saw.
    start = timezone.now() - timedelta(hours=1)
    for i in range(6):
        worker = workers[i % len(workers)]
        task = (
            batch.tasks.exclude(assignments__worker=worker)
            .filter(~Q(assignments_taken__gte=batch.assignments_per_task))
            .order_by("row_number")
            .first()
        )
        if task is None:
            break
        accepted = start + timedelta(minutes=7 * i)
        a = services.assignment_claim_task(worker=worker, task=task, now=accepted)
        made.append(
            services.assignment_submit(
                token=a.submit_token,
                answers={"label": labels[i % 2 % len(labels)]},
                now=accepted + timedelta(seconds=20 + 4 * i),
            )
        )
    if len(made) < 4:
        return "not enough open tasks for the review demo"
    review.assignments_approve(requester=requester, assignment_ids=[a.pk for a in made[:3]])
    review.assignments_reject(
        requester=requester,
        assignment_ids=[made[3].pk],
        reason="instructions_ignored",
        note="The ticket is a complaint about delivery, not a question.",
    )
    review.assignment_bonus(
        requester=requester,
        assignment_id=made[0].pk,
        amount_cents=50,
        reason="Careful work on a tricky ticket.",
    )
    settled = settlement.settle_pending()
    services.measured_times_refresh()  # the cards show this work's time at once
    requester_services.listing_refresh()
    return (
        f"batch {batch.pk}: {len(made)} submitted, 3 approved ({settled} settled), 1 rejected, "
        "1 bonus of $0.50"
    )
