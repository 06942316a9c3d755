"""Review decisions racing each other and auto-approval on PostgreSQL threads: each
assignment is decided once, gets at most one payable, and settlement pays it once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from payouts import ledger, settlement
from payouts.models import LedgerTransaction, Payable
from tasks import review
from tasks.models import Assignment, AssignmentEvent
from tests.fixtures.assignments import make_assignment
from tests.fixtures.threads import at_once
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db(transaction=True)


def test_approve_reject_and_auto_approval_racing_decide_each_assignment_once(requester):
    batch = published(requester, tasks=40, assignments_per_task=1)
    items = [make_assignment(batch, "submitted", answers={"label": "Question"}) for _ in range(30)]
    ids = [a.pk for a in items]
    Assignment.objects.filter(pk__in=ids).update(
        auto_approve_at=timezone.now() - timedelta(seconds=1)
    )

    def approve():
        return review.assignments_approve(requester=requester, assignment_ids=ids)

    def reject():
        return review.assignments_reject(requester=requester, assignment_ids=ids, reason="spam")

    def auto():
        return review.assignments_auto_approve()

    results = at_once([approve, reject, auto, approve])
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, ApplicationError)
    ]
    assert unexpected == []
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert all(r.code == "illegal_transition" for r in refused)
    # A refused bulk call changes nothing (all or nothing), so some may still wait for
    # review here; the next auto-approval run decides them.
    review.assignments_auto_approve()
    statuses = set(Assignment.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses <= {"approved", "rejected"}
    # Every assignment decided exactly once, by exactly one event.
    decided = AssignmentEvent.objects.filter(assignment_id__in=ids, old_status="submitted")
    assert decided.count() == 30
    assert decided.values("assignment_id").distinct().count() == 30
    approved = list(
        Assignment.objects.filter(pk__in=ids, status="approved").values_list("pk", flat=True)
    )
    assert Payable.objects.filter(assignment_id__in=ids).count() == len(approved)
    # Two settlement runs at once pay each approved assignment once.
    at_once([settlement.settle_pending, settlement.settle_pending])
    assert LedgerTransaction.objects.filter(kind="settle").count() == len(approved)
    paid = sum(ledger.balance_cents(ledger.worker_account(a.worker)) for a in items)
    assert paid == sum(a.reward_cents for a in items if a.pk in approved)
