"""Random lifecycles on PostgreSQL: fund, publish, claim, submit, return, expire,
approve, reject, reverse, bonus, auto-approve, cancel, settle, release rejections, with
retries of settlement and of the sweeps. After every step: money is conserved (what was
deposited = requester balances + escrow + worker balances + platform revenue), the
model of what each worker earned matches the ledger, and every audit check holds.

Each example runs in a savepoint rolled back at its end. CI replays one fixed sequence
(``derandomize`` when ``CI`` is set, as ``tests/payouts/test_ledger_properties.py``);
local runs keep exploring. Only invariants are asserted, so no draw can fail by chance.
"""

from __future__ import annotations

import itertools
import os
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from core.errors import ApplicationError
from marketplace import services as batch_services
from payouts import audit, ledger, settlement
from payouts.models import LedgerAccount
from tasks import review, services
from tasks.models import Assignment, Bonus
from tests.fixtures.assignments import open_task
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.conftest import make_project, upload

DEPOSIT_RECORD_CHECKS = {
    "deposit_not_backed",
    "completed_deposit_not_credited",
    "clearing_vs_deposits",
}
_serial = itertools.count(1)


class Lifecycle(RuleBasedStateMachine):
    users: tuple = ()

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        cache.clear()
        self.requester, *self.workers = self.users
        self.deposited = 5_000
        ledger.deposit(
            key=f"life-{next(_serial)}", user=self.requester, amount_cents=self.deposited
        )
        project = make_project(self.requester, assignments_per_task=2)
        self.batch = batch_services.batch_publish(
            batch=upload(project, self.requester, "text\none\ntwo\nthree\nfour\n"),
            user=self.requester,
        )
        self.clock = timezone.now()
        self.outcomes: set[str] = set()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def ids(self, status: str) -> list[int]:
        return list(
            Assignment.objects.filter(batch=self.batch, status=status)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def attempt(self, name: str, call) -> None:
        try:
            with transaction.atomic():
                call()
            self.outcomes.add(name)
        except ApplicationError as exc:
            self.outcomes.add(f"{name}:{exc.code}")

    @rule(w=st.integers(0, 2))
    def claim(self, w):
        worker = self.workers[w]
        task = open_task(self.batch, worker)
        if task is not None:
            self.attempt(
                "claim",
                lambda: services.assignment_claim_task(worker=worker, task=task, now=self.clock),
            )

    @rule(i=st.integers(0, 20), label=st.sampled_from(["Question", "Complaint"]))
    def submit(self, i, label):
        ids = self.ids("accepted")
        if ids:
            a = Assignment.objects.get(pk=ids[i % len(ids)])
            self.attempt(
                "submit",
                lambda: services.assignment_submit(
                    token=a.submit_token, answers={"label": label}, now=self.clock
                ),
            )

    @rule(i=st.integers(0, 20))
    def give_back(self, i):
        ids = self.ids("accepted")
        if ids:
            a = Assignment.objects.get(pk=ids[i % len(ids)])
            self.attempt(
                "return",
                lambda: services.assignment_return(
                    worker=a.worker, assignment_id=a.pk, now=self.clock
                ),
            )

    @rule()
    def expire(self):
        self.attempt(
            "expire", lambda: services.assignments_expire(now=self.clock + timedelta(days=2))
        )

    @rule(n=st.integers(1, 3), also_bad=st.booleans())
    def approve(self, n, also_bad):
        ids = self.ids("submitted")[:n]
        if also_bad:
            ids += self.ids("approved")[:1] or self.ids("returned")[:1]
        self.attempt(
            "approve",
            lambda: review.assignments_approve(requester=self.requester, assignment_ids=ids or [1]),
        )

    @rule(n=st.integers(1, 2))
    def reject(self, n):
        ids = self.ids("submitted")[:n]
        self.attempt(
            "reject",
            lambda: review.assignments_reject(
                requester=self.requester, assignment_ids=ids or [1], reason="wrong_answer"
            ),
        )

    @rule(i=st.integers(0, 20))
    def reverse(self, i):
        ids = self.ids("rejected")
        if ids:
            self.attempt(
                "reverse",
                lambda: review.assignment_reverse_rejection(
                    requester=self.requester, assignment_id=ids[i % len(ids)], now=self.clock
                ),
            )

    @rule(i=st.integers(0, 20), cents=st.sampled_from([0, 1, 37, 400, 9_000]))
    def bonus(self, i, cents):
        ids = self.ids("submitted") + self.ids("approved") + self.ids("rejected")
        if ids:
            self.attempt(
                "bonus",
                lambda: review.assignment_bonus(
                    requester=self.requester,
                    assignment_id=ids[i % len(ids)],
                    amount_cents=cents,
                    reason="thanks",
                ),
            )

    @rule()
    def auto_approve(self):
        self.attempt(
            "auto", lambda: review.assignments_auto_approve(now=self.clock + timedelta(days=40))
        )

    @rule()
    def settle(self):
        # Twice: a retried job finds nothing left to do.
        self.attempt("settle", settlement.settle_pending)
        self.attempt("settle", settlement.settle_pending)

    @rule()
    def dispute_window_closes(self):
        self.clock += timedelta(days=8)
        self.attempt("release", lambda: review.rejections_release(now=self.clock))
        self.attempt("release", lambda: review.rejections_release(now=self.clock))

    @rule()
    def cancel(self):
        self.attempt(
            "cancel",
            lambda: batch_services.batch_cancel(
                batch=self.batch, user=self.requester, reason="done"
            ),
        )

    @invariant()
    def money_is_conserved_and_audited(self):
        total = sum(
            LedgerAccount.objects.exclude(kind__in=["stripe_clearing", "stripe_fees"]).values_list(
                "balance_cents", flat=True
            )
        )
        assert total == self.deposited
        # Workers hold exactly what settled approvals and bonuses paid them.
        for worker in self.workers:
            settled = sum(
                Assignment.objects.filter(
                    worker=worker, status="approved", settled_at__isnull=False
                ).values_list("reward_cents", flat=True)
            )
            bonuses = sum(
                Bonus.objects.filter(worker=worker).values_list("amount_cents", flat=True)
            )
            account = ledger.find_account(kind="worker_available", owner=worker)
            assert (account.balance_cents if account else 0) == settled + bonuses
        violations = [v for v in audit.run().violations if v.name not in DEPOSIT_RECORD_CHECKS]
        assert violations == []


@pytest.mark.django_db
def test_random_review_lifecycles_conserve_money_and_keep_every_invariant():
    Lifecycle.users = (RequesterFactory(), WorkerFactory(), WorkerFactory(), WorkerFactory())
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            database=None,
            derandomize=bool(os.environ.get("CI")),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.django_db
def test_a_fixed_lifecycle_takes_every_step_and_refuses_the_bad_ones():
    """The same steps in a fixed order, so that every kind of step is known to happen
    (the random runs above assert only invariants)."""
    Lifecycle.users = (RequesterFactory(), WorkerFactory(), WorkerFactory(), WorkerFactory())
    m = Lifecycle()
    try:
        steps = [
            lambda: m.claim(0),
            lambda: m.claim(1),
            lambda: m.claim(2),
            lambda: m.submit(0, "Question"),
            lambda: m.submit(0, "Complaint"),
            lambda: m.give_back(0),
            lambda: m.claim(0),
            lambda: m.claim(1),
            lambda: m.submit(0, "Question"),
            lambda: m.approve(1, False),
            lambda: m.approve(1, True),
            lambda: m.reject(1),
            lambda: m.reverse(0),
            lambda: m.bonus(0, 37),
            lambda: m.bonus(0, 0),
            lambda: m.bonus(0, 9_000),
            lambda: m.claim(2),
            lambda: m.expire(),
            lambda: m.claim(0),
            lambda: m.submit(0, "Question"),
            lambda: m.reject(1),
            lambda: m.settle(),
            lambda: m.dispute_window_closes(),
            lambda: m.claim(1),
            lambda: m.submit(0, "Other"),
            lambda: m.auto_approve(),
            lambda: m.cancel(),
            lambda: m.claim(2),
            lambda: m.settle(),
        ]
        for step in steps:
            step()
            m.money_is_conserved_and_audited()
    finally:
        m.teardown()
    expected = {
        "claim",
        "submit",
        "return",
        "expire",
        "approve",
        "approve:illegal_transition",
        "reject",
        "reverse",
        "bonus",
        "bonus:invalid_amount",
        "bonus:insufficient_funds",
        "settle",
        "release",
        "auto",
        "cancel",
        "claim:batch_cancelled",
    }
    assert expected <= m.outcomes, expected - m.outcomes
