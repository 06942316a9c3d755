"""Settlement: payables recorded on approval become exactly one ledger transaction
each, with the worker's balance, revenue and the assignment's settled_at right."""

from __future__ import annotations

import pytest
from django.db import transaction

from payouts import ledger, settlement
from payouts.models import LedgerAccount, LedgerTransaction, Payable
from tasks.models import Assignment
from tests.settlement.helpers import approve, approved_many
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db(transaction=True)


def _revenue_cents() -> int:
    return sum(
        LedgerAccount.objects.filter(kind="platform_revenue").values_list(
            "balance_cents", flat=True
        )
    )


def test_settle_pays_each_assignment_once(requester):
    batch = published(requester, tasks=6, assignments_per_task=1)
    done = approved_many(batch, 5)
    assert Payable.objects.filter(settled_at__isnull=True).count() == 5
    escrow_before = ledger.batch_escrow_account(batch.pk).balance_cents

    assert settlement.settle_pending(chunk=2) == 5
    assert settlement.settle_pending() == 0  # a second run finds nothing

    for a in done:
        txn = LedgerTransaction.objects.get(idempotency_key=f"settle-{a.pk}")
        assert txn.kind == "settle"
        assert ledger.worker_account(a.worker).balance_cents == a.reward_cents
        assert Assignment.objects.get(pk=a.pk).settled_at is not None
    cost = sum(a.reward_cents + a.fee_cents for a in done)
    assert ledger.batch_escrow_account(batch.pk).balance_cents == escrow_before - cost
    assert _revenue_cents() == sum(a.fee_cents for a in done)
    assert not Payable.objects.filter(settled_at__isnull=True).exists()
    assert ledger.ledger_violations() == []


def test_payable_twice_is_refused_and_records_nothing(requester):
    batch = published(requester, tasks=2, assignments_per_task=1)
    (a,) = approved_many(batch, 1)
    with pytest.raises(settlement.AlreadyPayable), transaction.atomic():
        settlement.payable_record(
            assignment_id=a.pk,
            batch_id=a.batch_id,
            requester=requester,
            worker=a.worker,
            reward_cents=a.reward_cents,
            fee_cents=a.fee_cents,
        )
    assert Payable.objects.count() == 1


def test_bonus_moves_from_requester_with_fee(requester):
    batch = published(requester, tasks=2, assignments_per_task=1)
    (a,) = approved_many(batch, 1)
    before = ledger.requester_account(requester).balance_cents
    ledger.bonus(
        key="bonus-1", requester=requester, worker=a.worker, amount_cents=100, fee_cents=20
    )
    assert ledger.requester_account(requester).balance_cents == before - 120
    assert ledger.worker_account(a.worker).balance_cents == 100
    with pytest.raises(ledger.InsufficientFunds):
        ledger.bonus(
            key="bonus-2", requester=requester, worker=a.worker, amount_cents=before, fee_cents=0
        )
    with pytest.raises(ledger.InvalidAmount):
        ledger.bonus(
            key="bonus-3", requester=requester, worker=a.worker, amount_cents=0, fee_cents=0
        )
    assert ledger.ledger_violations() == []


def test_approve_helper_is_the_service_shape(requester):
    batch = published(requester, tasks=2, assignments_per_task=1)
    (a,) = approved_many(batch, 1)
    assert Payable.objects.get(assignment_id=a.pk).worker_id == a.worker_id
    _ = approve  # used by other tests
