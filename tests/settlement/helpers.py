"""Approved assignments with their payables, made through the services."""

from __future__ import annotations

from django.db import transaction

from marketplace.models import Batch
from payouts import settlement
from tasks import services
from tasks.models import Assignment
from tests.fixtures.assignments import make_assignment


def approve(assignment: Assignment) -> Assignment:
    """What the review service does on approval: the move and the payable, one transaction."""
    with transaction.atomic():
        locked = (
            Assignment.objects.select_for_update().select_related("batch").get(pk=assignment.pk)
        )
        services.transition(assignment=locked, to="approved", actor=None)
        settlement.payable_record(
            assignment_id=locked.pk,
            batch_id=locked.batch_id,
            requester=locked.batch.owner,
            worker=locked.worker,
            reward_cents=locked.reward_cents,
            fee_cents=locked.fee_cents,
        )
    return locked


def approved_many(batch: Batch, n: int) -> list[Assignment]:
    return [approve(make_assignment(batch, "submitted")) for _ in range(n)]
