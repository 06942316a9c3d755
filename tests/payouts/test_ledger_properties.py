"""Random sequences of ledger operations on PostgreSQL keep every invariant.

A Hypothesis state machine runs deposits, holds, releases, settlements, withdrawals,
transfers and reversals, retries earlier calls with their idempotency keys and reuses
keys for different calls, and after every step checks the ledger against a model (a
dict of expected balances) and against ``ledger_violations()`` plus the database's own
deferred checks. Each example runs in a savepoint that is rolled back at its end. A
fixed sequence of the same steps shows, deterministically, that every kind of step
happens and overdrafts are refused; the random exploration asserts only invariants.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from payouts import ledger
from payouts.ledger import AlreadyReversed, IdempotencyConflict, InsufficientFunds
from payouts.models import LedgerAccount, LedgerTransaction
from payouts.withdrawals import withdrawal_in_flight_account
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.payouts.ledger_helpers import balances, nonzero_balances, run_deferred_checks

REQUESTERS = 2
WORKERS = 2
BATCHES = (1, 2)
cents = st.integers(min_value=1, max_value=3000)
# Percent of the paying account's balance: mostly affordable, sometimes (> 100) not.
shares = st.integers(min_value=1, max_value=120)


@dataclass
class Posted:
    """One successful call: how to make it again, and what it wrote."""

    op: str
    kwargs: dict
    txn_id: int
    lines: list[tuple[int, int]] = field(default_factory=list)  # (account pk, cents)


class LedgerMachine(RuleBasedStateMachine):
    requesters: list = []
    workers: list = []
    # What happened across all examples, so the test can tell it was not vacuous.
    tally: Counter[str] = Counter()

    posted = Bundle("posted")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.expected: Counter[int] = Counter()
        self.transactions = 0
        self.reversed: set[int] = set()
        self.serial = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------

    def key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def attempt(self, op: str, lines: list[tuple[LedgerAccount, int]], label: str = "", **kwargs):
        """Call ``ledger.<op>`` and check the outcome the model predicts."""
        deltas: Counter[int] = Counter()
        for account, amount in lines:
            deltas[account.pk] += amount
        accounts = {account.pk: account for account, _ in lines}
        overdraws = any(
            self.expected[pk] + d < 0 and not accounts[pk].allow_negative
            for pk, d in deltas.items()
        )
        before = nonzero_balances()
        if overdraws:
            with pytest.raises(InsufficientFunds):
                getattr(ledger, op)(**kwargs)
            assert nonzero_balances() == before
            self.tally[f"{label or op} refused"] += 1
            return multiple()
        txn = getattr(ledger, op)(**kwargs)
        self.tally[label or op] += 1
        self.expected.update(deltas)
        self.transactions += 1
        return Posted(op, kwargs, txn.pk, [(a.pk, c) for a, c in lines])

    # --- rules ------------------------------------------------------------------------------

    @initialize(target=posted, amount=st.integers(100, 3000), share=st.integers(10, 100))
    def fund_publish_and_pay(self, amount, share):
        # Money in every requester balance, escrow and worker balance from the first
        # step, so later holds, releases, settlements and withdrawals are not all refused.
        done = []
        for i in range(REQUESTERS):
            done.append(self.deposit(r=i, amount=amount))
            done.append(self.hold(r=i, batch=BATCHES[i % len(BATCHES)], share=share))
        for i in range(WORKERS):
            done.append(
                self.settle(batch=BATCHES[i % len(BATCHES)], w=i, share=share, fee_share=20)
            )
        return multiple(*(p for p in done if isinstance(p, Posted)))

    @rule(target=posted, r=st.integers(0, REQUESTERS - 1), amount=cents)
    def deposit(self, r, amount):
        user = self.requesters[r]
        lines = [
            (ledger.stripe_clearing_account(), -amount),
            (ledger.requester_account(user), amount),
        ]
        key = self.key("deposit-cs")
        return self.attempt(
            "deposit", lines, key=key, user=user, amount_cents=amount, external_ref=key[8:]
        )

    def share_of(self, account: LedgerAccount, share: int) -> int:
        """``share`` percent of what the model says the account holds, at least 1¢; a
        share above 100 asks for more than is there."""
        return max(1, self.expected[account.pk] * share // 100)

    @rule(
        target=posted,
        r=st.integers(0, REQUESTERS - 1),
        batch=st.sampled_from(BATCHES),
        share=shares,
    )
    def hold(self, r, batch, share):
        user = self.requesters[r]
        source = ledger.requester_account(user)
        amount = self.share_of(source, share)
        lines = [(source, -amount), (ledger.batch_escrow_account(batch), amount)]
        return self.attempt(
            "hold",
            lines,
            key=self.key(f"hold-batch-{batch}"),
            user=user,
            batch_id=batch,
            amount_cents=amount,
        )

    @rule(
        target=posted,
        r=st.integers(0, REQUESTERS - 1),
        batch=st.sampled_from(BATCHES),
        share=shares,
    )
    def release(self, r, batch, share):
        user = self.requesters[r]
        escrow = ledger.batch_escrow_account(batch)
        amount = self.share_of(escrow, share)
        lines = [(escrow, -amount), (ledger.requester_account(user), amount)]
        key = self.key(f"release-batch-{batch}-cancel")
        return self.attempt(
            "release", lines, key=key, user=user, batch_id=batch, amount_cents=amount
        )

    @rule(
        target=posted,
        batch=st.sampled_from(BATCHES),
        w=st.integers(0, WORKERS - 1),
        share=shares,
        fee_share=st.sampled_from([0, 0, 10, 20, 50]),
    )
    def settle(self, batch, w, share, fee_share):
        worker = self.workers[w]
        escrow = ledger.batch_escrow_account(batch)
        total = self.share_of(escrow, share)
        fee = total * fee_share // 100
        reward = total - fee
        lines = [(escrow, -total), (ledger.worker_account(worker), reward)]
        if fee:
            lines.append((ledger.platform_revenue_account(), fee))
        return self.attempt(
            "settle",
            lines,
            key=self.key("settle"),
            batch_id=batch,
            worker=worker,
            reward_cents=reward,
            fee_cents=fee,
        )

    @rule(w=st.integers(0, WORKERS - 1), share=shares)
    def withdraw(self, w, share):
        """The two legs ``payouts.withdrawals`` posts: the request (balance → in flight)
        and, once Stripe's transfer is made, the payment (in flight → Stripe clearing).
        Not offered for reversal: a failed withdrawal reverses its request before any
        payment, which the withdrawal tests cover with their ``Withdrawal`` rows."""
        source = ledger.worker_account(self.workers[w])
        in_flight = withdrawal_in_flight_account(self.workers[w])
        clearing = ledger.stripe_clearing_account()
        amount = self.share_of(source, share)
        key = self.key("withdrawal")
        requested = self.attempt(
            "transfer",
            [(source, -amount), (in_flight, amount)],
            label="withdrawal",
            key=key,
            source=source,
            destination=in_flight,
            amount_cents=amount,
            kind="withdrawal",
        )
        if isinstance(requested, Posted):
            self.attempt(
                "transfer",
                [(in_flight, -amount), (clearing, amount)],
                label="withdrawal paid",
                key=f"{key}-paid",
                source=in_flight,
                destination=clearing,
                amount_cents=amount,
                kind="withdrawal",
            )

    @rule(target=posted, share=shares, backwards=st.booleans())
    def transfer_between_requesters(self, share, backwards):
        a, b = (ledger.requester_account(u) for u in self.requesters[:2])
        source, destination = (b, a) if backwards else (a, b)
        amount = self.share_of(source, share)
        lines = [(source, -amount), (destination, amount)]
        return self.attempt(
            "transfer",
            lines,
            key=self.key("transfer"),
            source=source,
            destination=destination,
            amount_cents=amount,
        )

    @rule(target=posted, original=posted)
    def reverse(self, original):
        txn = LedgerTransaction.objects.get(pk=original.txn_id)
        key = self.key("reverse")
        if original.txn_id in self.reversed:
            with pytest.raises(AlreadyReversed):
                ledger.reverse(key=key, transaction=txn)
            self.tally["reverse refused"] += 1
            return multiple()
        accounts = {
            a.pk: a for a in LedgerAccount.objects.filter(pk__in=[pk for pk, _ in original.lines])
        }
        lines = [(accounts[pk], -c) for pk, c in original.lines]
        result = self.attempt("reverse", lines, key=key, transaction=txn)
        if isinstance(result, Posted):
            self.reversed.add(original.txn_id)
            assert LedgerTransaction.objects.get(pk=result.txn_id).reverses_id == original.txn_id
        return result

    @rule(previous=posted)
    def retry_with_the_same_key(self, previous):
        before = nonzero_balances()
        again = getattr(ledger, previous.op)(**previous.kwargs)
        assert again.pk == previous.txn_id
        assert nonzero_balances() == before
        self.tally["retry"] += 1

    @rule(previous=posted, r=st.integers(0, REQUESTERS - 1), amount=cents)
    def reuse_a_key_for_another_deposit(self, previous, r, amount):
        if (
            previous.op == "deposit"
            and previous.kwargs["amount_cents"] == amount
            and previous.kwargs["user"] == self.requesters[r]
        ):
            amount += 1
        before = nonzero_balances()
        with pytest.raises(IdempotencyConflict):
            ledger.deposit(
                key=previous.kwargs["key"],
                user=self.requesters[r],
                amount_cents=amount,
                external_ref=previous.kwargs.get("external_ref", ""),
            )
        assert nonzero_balances() == before
        self.tally["conflict"] += 1

    @rule(previous=consumes(posted))
    def forget(self, previous):
        """Drop one call from the pool, so reversals and retries pick among fewer."""

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def ledger_is_sound(self):
        # The same checks as manage.py ledger_check: balanced, ≥2 entries, balance ==
        # sum(entries), no forbidden negative, unique keys, reversals exact, total 0.
        assert ledger.ledger_violations() == []
        # The database's deferred balance triggers agree (they would raise here).
        run_deferred_checks()
        actual = balances()
        assert {pk: c for pk, c in actual.items() if c} == {
            pk: c for pk, c in self.expected.items() if c
        }
        assert sum(actual.values()) == 0
        negatives = LedgerAccount.objects.filter(balance_cents__lt=0).exclude(
            kind=LedgerAccount.Kind.STRIPE_CLEARING
        )
        assert not negatives.exists()
        assert LedgerTransaction.objects.count() == self.transactions


EVERY_KIND = {
    "deposit",
    "hold",
    "release",
    "settle",
    "withdrawal",
    "withdrawal paid",
    "transfer",
    "reverse",
    "retry",
    "conflict",
}


@pytest.fixture
def machine_users(db):
    LedgerMachine.requesters = [RequesterFactory() for _ in range(REQUESTERS)]
    LedgerMachine.workers = [WorkerFactory() for _ in range(WORKERS)]
    LedgerMachine.tally.clear()


def test_a_fixed_sequence_takes_every_kind_of_step(machine_users):
    """Every kind of step, and refused overdrafts, happen in this fixed sequence, with the
    invariants checked after each: the guarantee that the state machine is not vacuous
    does not depend on a random draw (the random exploration below asserts no coverage)."""
    m = LedgerMachine()
    try:

        def step(result):
            m.ledger_is_sound()
            return result

        step(m.fund_publish_and_pay(amount=1000, share=50))
        deposit = step(m.deposit(r=0, amount=300))
        hold = step(m.hold(r=0, batch=1, share=50))
        step(m.release(r=0, batch=1, share=10))
        step(m.settle(batch=1, w=0, share=10, fee_share=20))
        step(m.settle(batch=2, w=1, share=10, fee_share=0))
        step(m.withdraw(w=0, share=50))
        step(m.transfer_between_requesters(share=10, backwards=False))
        step(m.reverse(original=deposit))
        step(m.reverse(original=deposit))  # refused: reversed already
        step(m.retry_with_the_same_key(previous=hold))
        step(m.reuse_a_key_for_another_deposit(previous=deposit, r=1, amount=5))
        step(m.hold(r=1, batch=2, share=120))  # refused: more than the balance
        step(m.withdraw(w=1, share=120))  # refused
    finally:
        m.teardown()
    happened = {name for name, n in LedgerMachine.tally.items() if n}
    assert EVERY_KIND <= happened, LedgerMachine.tally
    assert LedgerMachine.tally["reverse refused"] == 1
    assert LedgerMachine.tally["hold refused"] == 1
    assert LedgerMachine.tally["withdrawal refused"] == 1


def test_random_operation_sequences_keep_the_ledger_sound(machine_users):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            database=None,  # no .hypothesis/ directory in the tree; failures print their seed
            # CI replays one fixed sequence; local runs keep exploring. Nothing here
            # asserts which steps the draw took (the fixed sequence above does), so no
            # draw can fail it by chance: only a broken invariant can.
            derandomize=bool(os.environ.get("CI")),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
