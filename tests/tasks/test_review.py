"""Review services: approve, reject, reverse, bonus, block, auto-approval and the final
release of rejections, on PostgreSQL, with the ledger audited after each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.errors import ApplicationError
from marketplace import counters
from payouts import audit, fees, ledger, settlement
from payouts.models import LedgerTransaction, Payable
from tasks import jobs, review, services
from tasks.models import Assignment, AssignmentEvent, Bonus, WorkerBlock
from tasks.selectors import projects_visible_to
from tests.fixtures.assignments import make_assignment, open_task
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.conftest import balance, escrow
from tests.tasks.conftest import published

pytestmark = pytest.mark.django_db


def worker_balance(user) -> int:
    return ledger.balance_cents(ledger.worker_account(user))


# The fixtures fund requesters with bare ledger deposits (no Checkout ``Deposit`` rows),
# so the checks comparing deposits with Stripe records are left out; every other check
# of the audit (the ledger's own and escrow against batches and assignments) runs.
DEPOSIT_RECORD_CHECKS = {
    "deposit_not_backed",
    "completed_deposit_not_credited",
    "clearing_vs_deposits",
}


def assert_audit_clean() -> None:
    result = audit.run()
    violations = [v for v in result.violations if v.name not in DEPOSIT_RECORD_CHECKS]
    assert violations == [], violations


def money_snapshot(batch, requester, workers) -> tuple:
    return (
        balance(requester),
        escrow(batch),
        tuple(worker_balance(w) for w in workers),
        LedgerTransaction.objects.count(),
        Payable.objects.count(),
        Bonus.objects.count(),
    )


def submitted(batch, n: int, **kw) -> list[Assignment]:
    return [
        make_assignment(batch, "submitted", answers={"label": "Question"}, **kw) for _ in range(n)
    ]


def test_bulk_approve_moves_state_events_counters_and_payables_then_settlement_pays(
    requester, batch
):
    items = submitted(batch, 4)
    result = review.assignments_approve(requester=requester, assignment_ids=[a.pk for a in items])
    assert sorted(result.ids) == sorted(a.pk for a in items)
    assert set(Assignment.objects.filter(pk__in=result.ids).values_list("status", flat=True)) == {
        "approved"
    }
    assert AssignmentEvent.objects.filter(new_status="approved", actor=requester).count() == 4
    sums = counters.counter_sums([batch.pk])[batch.pk]
    assert sums["approved"] == 4 and sums["submitted"] == 0
    assert sums["spend_cents"] == 4 * (batch.reward_cents + batch.fee_cents)
    assert Payable.objects.filter(assignment_id__in=result.ids).count() == 4
    assert all(worker_balance(a.worker) == 0 for a in items)  # pending until settled
    assert settlement.settle_pending() == 4
    assert all(worker_balance(a.worker) == batch.reward_cents for a in items)
    assert Assignment.objects.filter(pk__in=result.ids, settled_at__isnull=False).count() == 4
    assert_audit_clean()


def test_approve_twice_is_a_conflict_and_moves_no_money(requester, batch):
    a = submitted(batch, 1)[0]
    review.assignments_approve(requester=requester, assignment_ids=[a.pk])
    before = money_snapshot(batch, requester, [a.worker])
    with pytest.raises(ApplicationError) as exc:
        review.assignments_approve(requester=requester, assignment_ids=[a.pk])
    assert exc.value.code == "illegal_transition" and exc.value.status == 409
    assert "already approved" in exc.value.message
    assert money_snapshot(batch, requester, [a.worker]) == before


def test_reject_twice_and_approve_after_reject_are_conflicts(requester, batch):
    a = submitted(batch, 1)[0]
    review.assignments_reject(requester=requester, assignment_ids=[a.pk], reason="wrong_answer")
    for call in (
        lambda: review.assignments_reject(
            requester=requester, assignment_ids=[a.pk], reason="wrong_answer"
        ),
        lambda: review.assignments_approve(requester=requester, assignment_ids=[a.pk]),
    ):
        with pytest.raises(ApplicationError) as exc:
            call()
        assert exc.value.code == "illegal_transition"
    assert Assignment.objects.get(pk=a.pk).status == "rejected"


def test_approving_a_returned_assignment_is_refused_and_the_rest_stays_undecided(requester, batch):
    ok = submitted(batch, 2)
    returned = make_assignment(batch, "returned")
    before = money_snapshot(batch, requester, [a.worker for a in ok])
    with pytest.raises(ApplicationError) as exc:
        review.assignments_approve(
            requester=requester, assignment_ids=[*(a.pk for a in ok), returned.pk]
        )
    assert exc.value.code == "illegal_transition"
    assert exc.value.extra["ids"] == [returned.pk]
    assert "returned by the worker" in exc.value.message
    assert set(
        Assignment.objects.filter(pk__in=[a.pk for a in ok]).values_list("status", flat=True)
    ) == {"submitted"}
    assert money_snapshot(batch, requester, [a.worker for a in ok]) == before


def test_another_requesters_assignment_ids_are_not_found_and_nothing_changes(requester, batch):
    mine = submitted(batch, 1)[0]
    other = RequesterFactory()
    theirs = submitted(published(other, tasks=2), 1)[0]
    before = money_snapshot(batch, requester, [mine.worker])
    for call in (
        lambda: review.assignments_approve(
            requester=requester, assignment_ids=[mine.pk, theirs.pk]
        ),
        lambda: review.assignments_reject(
            requester=requester, assignment_ids=[theirs.pk], reason="spam"
        ),
        lambda: review.assignment_bonus(
            requester=requester, assignment_id=theirs.pk, amount_cents=10, reason="x"
        ),
        lambda: review.worker_block(requester=requester, assignment_id=theirs.pk, reason="x"),
    ):
        with pytest.raises(ApplicationError) as exc:
            call()
        assert exc.value.code == "not_found" and exc.value.status == 404
    assert Assignment.objects.get(pk=mine.pk).status == "submitted"
    assert Assignment.objects.get(pk=theirs.pk).status == "submitted"
    assert money_snapshot(batch, requester, [mine.worker]) == before
    assert not WorkerBlock.objects.exists()


@pytest.mark.parametrize(
    ("reason", "note", "code"),
    [
        ("", "", "invalid_reason"),
        ("because", "", "invalid_reason"),
        ("other", "  ", "note_required"),
        ("spam", "x" * 2001, "note_too_long"),
    ],
)
def test_rejecting_needs_a_reason_from_the_list(requester, batch, reason, note, code):
    a = submitted(batch, 1)[0]
    with pytest.raises(ApplicationError) as exc:
        review.assignments_reject(
            requester=requester, assignment_ids=[a.pk], reason=reason, note=note
        )
    assert exc.value.code == code
    assert Assignment.objects.get(pk=a.pk).status == "submitted"


def test_bad_id_lists(requester, batch):
    for ids, code in (
        ([], "no_assignments"),
        (["x"], "invalid_ids"),
        ([-1], "invalid_ids"),
        (range(1, review.MAX_BULK + 2), "too_many"),
    ):
        with pytest.raises(ApplicationError) as exc:
            review.assignments_approve(requester=requester, assignment_ids=ids)
        assert exc.value.code == code


def test_reject_keeps_money_in_escrow_until_the_dispute_window_then_returns_it(requester, batch):
    a = submitted(batch, 1)[0]
    escrow_before, balance_before = escrow(batch), balance(requester)
    review.assignments_reject(
        requester=requester, assignment_ids=[a.pk], reason="other", note="Answered at random"
    )
    a.refresh_from_db()
    assert (a.reject_reason, a.reject_note) == ("other", "Answered at random")
    assert escrow(batch) == escrow_before
    assert review.rejections_release(now=timezone.now() + timedelta(days=6)) == 0
    later = timezone.now() + timedelta(days=7, minutes=1)
    assert review.rejections_release(now=later) == 1
    assert review.rejections_release(now=later) == 0  # once
    cost = a.reward_cents + a.fee_cents
    assert escrow(batch) == escrow_before - cost
    assert balance(requester) == balance_before + cost
    assert Assignment.objects.get(pk=a.pk).settled_at is not None
    assert (
        counters.counter_sums([batch.pk])[batch.pk]["owed_cents"]
        == counters.counter_sums([batch.pk])[batch.pk]["owed_cents"]
    )
    assert_audit_clean()


def test_reverse_rejection_within_the_window_pays_the_worker_through_settlement(requester, batch):
    a = submitted(batch, 1)[0]
    review.assignments_reject(requester=requester, assignment_ids=[a.pk], reason="wrong_answer")
    review.assignment_reverse_rejection(requester=requester, assignment_id=a.pk)
    assert Assignment.objects.get(pk=a.pk).status == "approved"
    settlement.settle_pending()
    assert worker_balance(a.worker) == a.reward_cents
    assert_audit_clean()
    with pytest.raises(ApplicationError) as exc:
        review.assignment_reverse_rejection(requester=requester, assignment_id=a.pk)
    assert exc.value.code == "not_rejected"


def test_reverse_after_the_release_pays_from_the_requesters_balance(requester, batch):
    a = submitted(batch, 1)[0]
    review.assignments_reject(requester=requester, assignment_ids=[a.pk], reason="spam")
    review.rejections_release(now=timezone.now() + timedelta(days=8))
    before = balance(requester)
    review.assignment_reverse_rejection(
        requester=requester, assignment_id=a.pk, now=timezone.now() + timedelta(days=9)
    )
    assert worker_balance(a.worker) == a.reward_cents
    assert balance(requester) == before - a.reward_cents - a.fee_cents
    assert_audit_clean()


def test_reverse_after_30_days_is_refused(requester, batch):
    a = submitted(batch, 1)[0]
    review.assignments_reject(requester=requester, assignment_ids=[a.pk], reason="spam")
    with pytest.raises(ApplicationError) as exc:
        review.assignment_reverse_rejection(
            requester=requester, assignment_id=a.pk, now=timezone.now() + timedelta(days=31)
        )
    assert exc.value.code == "reversal_window_closed"
    assert Assignment.objects.get(pk=a.pk).status == "rejected"


def test_bonus_pays_the_worker_with_the_fee_from_the_available_balance(requester, batch):
    a = submitted(batch, 1)[0]
    before = balance(requester)
    bonus = review.assignment_bonus(
        requester=requester, assignment_id=a.pk, amount_cents=125, reason="Great notes"
    )
    assert bonus.fee_cents == fees.bonus_fee_cents(125) == 25
    assert worker_balance(a.worker) == 125
    assert balance(requester) == before - 150
    assert LedgerTransaction.objects.get(idempotency_key=f"bonus-{bonus.pk}").kind == "bonus"
    assert_audit_clean()


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, "invalid_amount"),
        (-5, "invalid_amount"),
        (True, "invalid_amount"),
        (review.MAX_BONUS_CENTS + 1, "invalid_amount"),
    ],
)
def test_bad_bonus_amounts_move_no_money(requester, batch, amount, code):
    a = submitted(batch, 1)[0]
    before = money_snapshot(batch, requester, [a.worker])
    with pytest.raises(ApplicationError) as exc:
        review.assignment_bonus(
            requester=requester, assignment_id=a.pk, amount_cents=amount, reason="x"
        )
    assert exc.value.code == code
    assert money_snapshot(batch, requester, [a.worker]) == before


def test_bonus_above_the_balance_or_without_reason_moves_no_money(batch):
    requester = batch.owner
    a = submitted(batch, 1)[0]
    before = money_snapshot(batch, requester, [a.worker])
    available = balance(requester)
    too_much = min(available, review.MAX_BONUS_CENTS)  # + fee is above the balance
    if too_much < available:
        # Spend down to below the maximum bonus so the balance is what refuses it.
        ledger.transfer(
            key="spend-down",
            source=ledger.requester_account(requester),
            destination=ledger.requester_account(RequesterFactory()),
            amount_cents=available - 1000,
        )
        too_much = 1000
        before = money_snapshot(batch, requester, [a.worker])
    with pytest.raises(ApplicationError) as exc:
        review.assignment_bonus(
            requester=requester, assignment_id=a.pk, amount_cents=too_much, reason="thanks"
        )
    assert exc.value.code == "insufficient_funds" and exc.value.status == 409
    with pytest.raises(ApplicationError) as exc:
        review.assignment_bonus(requester=requester, assignment_id=a.pk, amount_cents=5, reason=" ")
    assert exc.value.code == "reason_required"
    assert money_snapshot(batch, requester, [a.worker]) == before


def test_blocked_worker_cannot_see_or_claim_the_requesters_projects(requester, batch):
    a = submitted(batch, 1)[0]
    assert batch.project in projects_visible_to(a.worker)
    review.worker_block(requester=requester, assignment_id=a.pk, reason="Copies answers")
    assert WorkerBlock.objects.get(worker=a.worker).reason == "Copies answers"
    assert batch.project not in projects_visible_to(a.worker)
    with pytest.raises(ApplicationError) as exc:
        services.assignment_claim_task(worker=a.worker, task=open_task(batch, a.worker))
    assert exc.value.code == "blocked"
    with pytest.raises(ApplicationError) as exc:
        review.worker_block(requester=requester, assignment_id=a.pk, reason="")
    assert exc.value.code == "reason_required"
    # Another worker is not affected.
    make_assignment(batch, "accepted", worker=WorkerFactory())


def test_auto_approval_approves_only_what_is_past_its_frozen_time(requester, batch):
    due, fresh = submitted(batch, 2)
    Assignment.objects.filter(pk=due.pk).update(
        auto_approve_at=timezone.now() - timedelta(seconds=1)
    )
    Assignment.objects.filter(pk=fresh.pk).update(
        auto_approve_at=timezone.now() + timedelta(days=1)
    )
    assert review.assignments_auto_approve() == 1
    assert Assignment.objects.get(pk=due.pk).status == "approved"
    assert Assignment.objects.get(pk=fresh.pk).status == "submitted"
    event = AssignmentEvent.objects.get(assignment_id=due.pk, new_status="approved")
    assert event.actor is None and "automatically" in event.reason
    assert Payable.objects.filter(assignment_id=due.pk).exists()
    assert review.assignments_auto_approve() == 0
    settlement.settle_pending()
    assert worker_balance(due.worker) == due.reward_cents
    assert_audit_clean()


def test_notifications_for_approved_rejected_bonus_and_batch_complete(requester):
    batch = published(requester, tasks=2, assignments_per_task=1)
    a, b = submitted(batch, 2)
    review.assignments_approve(requester=requester, assignment_ids=[a.pk])
    review.assignments_reject(
        requester=requester, assignment_ids=[b.pk], reason="other", note="Blank answers"
    )
    bonus = review.assignment_bonus(
        requester=requester, assignment_id=a.pk, amount_cents=50, reason="Fast"
    )
    mail.outbox.clear()
    jobs.notify_reviewed("approved", [a.pk])
    jobs.notify_reviewed("rejected", [b.pk])
    jobs.notify_reviewed("bonus", [bonus.pk])
    subjects = [m.subject for m in mail.outbox]
    assert any("approved" in s for s in subjects)
    rejected = next(m for m in mail.outbox if "rejected" in m.subject)
    assert rejected.to == [b.worker.email] and "Blank answers" in rejected.body
    assert any("bonus of $0.50" in s for s in subjects)
    complete = [m for m in mail.outbox if "complete" in m.subject]
    assert len(complete) == 1 and complete[0].to == [requester.email]
