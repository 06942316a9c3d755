"""The ledger under concurrent callers, on real PostgreSQL connections (one per thread)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable

import pytest

from payouts import ledger
from payouts.ledger import IdempotencyConflict, InsufficientFunds
from payouts.models import LedgerAccount, LedgerTransaction
from tests.fixtures.threads import at_once
from tests.fixtures.users import RequesterFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_threads(target: Callable[[int], object], n: int = THREADS) -> list[object]:
    """``target(i)`` for i in 0..n-1, in threads released together (``at_once``)."""
    return at_once([functools.partial(target, i) for i in range(n)])


def test_concurrent_holds_never_overdraw(requester):
    funds, amount, attempts = 2000, 70, 6
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=funds)

    def holds(i: int) -> Counter:
        outcome: Counter = Counter()
        for j in range(attempts):
            try:
                ledger.hold(
                    key=f"hold-{i}-{j}", user=requester, batch_id=1 + i % 3, amount_cents=amount
                )
                outcome["ok"] += 1
            except InsufficientFunds:
                outcome["refused"] += 1
        return outcome

    results = run_threads(holds)
    assert all(isinstance(r, Counter) for r in results), results
    total = sum(results, Counter())
    assert total == Counter(
        ok=funds // amount, refused=THREADS * attempts - funds // amount
    )  # 28 and 20
    req = ledger.requester_account(requester)
    assert ledger.balance_cents(req) == funds - (funds // amount) * amount == 40
    escrow = sum(ledger.balance_cents(ledger.batch_escrow_account(b)) for b in (1, 2, 3))
    assert escrow == (funds // amount) * amount
    assert LedgerTransaction.objects.filter(kind="hold").count() == funds // amount
    assert ledger.ledger_violations() == []  # no lost update: balance == sum of entries


def test_opposite_transfers_do_not_deadlock():
    a_user, b_user = RequesterFactory(), RequesterFactory()
    ledger.deposit(key="deposit-a", user=a_user, amount_cents=500)
    ledger.deposit(key="deposit-b", user=b_user, amount_cents=500)
    a, b = ledger.requester_account(a_user), ledger.requester_account(b_user)

    def shuffle(i: int) -> int:
        # Half the threads move a→b, half b→a; without the fixed lock order these
        # would deadlock and PostgreSQL would abort one of them.
        source, destination = (a, b) if i % 2 else (b, a)
        done = 0
        for j in range(15):
            try:
                ledger.transfer(
                    key=f"t-{i}-{j}", source=source, destination=destination, amount_cents=40
                )
                done += 1
            except InsufficientFunds:
                pass
        return done

    results = run_threads(shuffle)
    assert all(isinstance(r, int) for r in results), results
    assert ledger.balance_cents(a) + ledger.balance_cents(b) == 1000
    assert LedgerTransaction.objects.filter(kind="transfer").count() == sum(results)
    assert ledger.ledger_violations() == []


def test_concurrent_posts_with_one_key_make_one_transaction(requester):
    results = run_threads(
        lambda i: (
            ledger.deposit(
                key="deposit-cs_race", user=requester, amount_cents=2500, external_ref="cs_race"
            ).pk
        )
    )
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert LedgerTransaction.objects.count() == 1
    assert ledger.balance_cents(ledger.requester_account(requester)) == 2500


def test_a_retried_hold_that_spends_everything_is_not_an_overdraft(requester):
    # Eight retries of one hold of the whole balance: after the winner commits, the
    # others find its transaction rather than reporting insufficient funds.
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=1000)
    results = run_threads(
        lambda i: ledger.hold(key="hold-batch-4", user=requester, batch_id=4, amount_cents=1000).pk
    )
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert ledger.balance_cents(ledger.requester_account(requester)) == 0
    assert ledger.balance_cents(ledger.batch_escrow_account(4)) == 1000


def test_concurrent_posts_with_one_key_and_different_lines_one_wins():
    # Each thread holds from its own requester into its own batch: no account lock is
    # shared, so the losers meet the unique index on the key (inside a savepoint) and
    # must recognise the winner's transaction as a conflict.
    users = [RequesterFactory() for _ in range(THREADS)]
    for i, user in enumerate(users):
        ledger.deposit(key=f"deposit-{i}", user=user, amount_cents=100)
        ledger.batch_escrow_account(100 + i)

    def hold(i: int) -> int:
        return ledger.hold(
            key="hold-shared", user=users[i], batch_id=100 + i, amount_cents=10 + i
        ).pk

    results = run_threads(hold)
    won = [r for r in results if isinstance(r, int)]
    assert len(won) == 1, results
    assert all(isinstance(r, IdempotencyConflict) for r in results if not isinstance(r, int)), (
        results
    )
    assert LedgerTransaction.objects.filter(kind="hold").count() == 1
    winner = results.index(won[0])
    held = {i: ledger.balance_cents(ledger.batch_escrow_account(100 + i)) for i in range(THREADS)}
    assert held == {i: (10 + i if i == winner else 0) for i in range(THREADS)}
    assert ledger.ledger_violations() == []


def test_concurrent_account_creation_gives_one_account(requester):
    results = run_threads(
        lambda i: (
            ledger.requester_account(requester).pk,
            ledger.platform_revenue_account().pk,
            ledger.batch_escrow_account(9).pk,
        )
    )
    assert len(set(results)) == 1, results
    assert LedgerAccount.objects.count() == 3


def test_concurrent_reversals_reverse_once(requester):
    deposit = ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=800)
    results = run_threads(lambda i: ledger.reverse(key=f"reverse-{i}", transaction=deposit).pk)
    won = [r for r in results if isinstance(r, int)]
    assert len(won) == 1, results
    assert all(isinstance(r, ledger.AlreadyReversed) for r in results if not isinstance(r, int)), (
        results
    )
    assert ledger.balance_cents(ledger.requester_account(requester)) == 0
