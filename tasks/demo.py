"""Demo review data for ``seed_demo`` (through ``manage.py seed_review_demo``, which the
marketplace's command calls by name: marketplace never imports tasks): on the first
requester's text-classification batch, demo workers do six tasks; the requester
approves three, rejects one with a reason, leaves two waiting for review, and bonuses
one worker; settlement then pays the approvals, so the demo shows approved, rejected,
pending-review and bonused money. Safe to run again: a batch that already has work is
left alone."""

from __future__ import annotations

from django.db.models import Q

from marketplace.models import Batch, BatchStatus, User
from payouts import settlement
from tasks import review, services
from tasks.models import Assignment


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
        a = services.assignment_claim_task(worker=worker, task=task)
        made.append(
            services.assignment_submit(
                token=a.submit_token, answers={"label": labels[i % 2 % len(labels)]}
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
    return (
        f"batch {batch.pk}: {len(made)} submitted, 3 approved ({settled} settled), 1 rejected, "
        "1 bonus of $0.50"
    )
