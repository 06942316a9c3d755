"""The double-entry ledger: the only code that writes ledger rows.

Every movement of money is one ``LedgerTransaction`` of two or more ``LedgerEntry`` rows
summing to zero. A positive amount adds to the account's balance, a negative one takes
from it. ``docs/money.md`` lists every account kind and every flow as its entries.

Concurrency. ``post()`` locks the accounts it touches with ``SELECT ... FOR UPDATE`` in
primary-key order (every caller takes them in the same order, so two posts cannot
deadlock each other), re-reads their balances under the lock, refuses an overdraft,
then inserts the transaction and its entries; database triggers stamp each entry's
``balance_after_cents`` and add each INSERT's entries to their accounts'
``balance_cents`` once per statement (migration ``0010_balance_once_per_statement``).
Entries must be inserted under their accounts' locks (the trigger refuses an entry
numbered before one posted while it waited). Callers that run
several posts inside one outer ``transaction.atomic`` hold all those locks until their
commit: keep such transactions short, and post in a consistent order.

Idempotency. Each transaction has a unique ``idempotency_key`` built from our own
records (``hold-batch-12``). Posting the same key again returns the first transaction
and writes nothing; the same key with different lines raises ``IdempotencyConflict``.
Two concurrent posts with one key produce one transaction: the loser either sees the
winner after waiting for the account locks, or hits the unique index inside a savepoint
and returns the winner. This relies on READ COMMITTED, Django's default isolation level.

Errors: ``InvalidAmount`` (bad amount from a caller), ``InsufficientFunds``,
``IdempotencyConflict``, ``AlreadyReversed`` are ``ApplicationError`` subclasses (a clear
4xx). Programming errors (unbalanced lines, unknown kind, unsaved account) raise
``ValueError``/``TypeError``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError
from django.db.models import F, QuerySet
from django.db.transaction import atomic

from core.errors import ApplicationError
from core.money import format_cents
from payouts import audit
from payouts.audit import Violation
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind

# Far above any real amount and far below bigint's 9.2e18, so no sum of a few lines
# can overflow a balance.
MAX_AMOUNT_CENTS = 10**15
MAX_KEY_LENGTH = 200  # LedgerTransaction.idempotency_key max_length


# --- Errors -------------------------------------------------------------------------


class InvalidAmount(ApplicationError, ValueError):
    """An amount that is not a positive whole number of cents."""

    def __init__(self, message: str):
        super().__init__(message, code="invalid_amount", status=400)


class InsufficientFunds(ApplicationError):
    def __init__(self, *, account: LedgerAccount, available_cents: int, needed_cents: int):
        super().__init__(
            f"Not enough money in {_describe(account)}: {format_cents(available_cents)} available, "
            f"{format_cents(needed_cents)} needed.",
            code="insufficient_funds",
            status=409,
            extra={
                "account_id": account.pk,
                "available_cents": available_cents,
                "needed_cents": needed_cents,
            },
        )
        self.account = account
        self.available_cents = available_cents
        self.needed_cents = needed_cents


class IdempotencyConflict(ApplicationError):
    def __init__(self, *, key: str):
        super().__init__(
            f"Idempotency key {key!r} was already used for a different ledger transaction.",
            code="idempotency_conflict",
            status=409,
            extra={"key": key},
        )
        self.key = key


class AlreadyReversed(ApplicationError):
    def __init__(self, *, transaction: LedgerTransaction):
        super().__init__(
            f"Ledger transaction {transaction.idempotency_key!r} has already been reversed.",
            code="already_reversed",
            status=409,
            extra={"transaction_id": transaction.pk},
        )


def _describe(account: LedgerAccount) -> str:
    names: dict[str, str] = {
        Kind.REQUESTER_AVAILABLE: "the requester's available balance",
        Kind.WORKER_AVAILABLE: "the worker's available balance",
        Kind.BATCH_ESCROW: f"the escrow of {account.ref.replace(':', ' ')}",
        Kind.PLATFORM_REVENUE: "platform revenue",
        Kind.STRIPE_CLEARING: "Stripe clearing",
        Kind.STRIPE_FEES: "Stripe processing fees",
    }
    return names.get(account.kind, str(account))


# --- Validation -------------------------------------------------------------------------


def validate_amount(
    amount_cents: object, *, name: str = "amount_cents", allow_zero: bool = False
) -> int:
    """A whole number of cents, > 0 (or >= 0 with ``allow_zero``), below ``MAX_AMOUNT_CENTS``.
    Raises ``InvalidAmount`` otherwise; booleans and floats are refused."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise InvalidAmount(
            f"{name} must be a whole number of cents, not {type(amount_cents).__name__} {amount_cents!r}."
        )
    if amount_cents < 0 or (amount_cents == 0 and not allow_zero):
        least = "0" if allow_zero else "1 cent"
        raise InvalidAmount(f"{name} must be at least {least}; got {amount_cents}.")
    if amount_cents > MAX_AMOUNT_CENTS:
        raise InvalidAmount(f"{name} must be at most {MAX_AMOUNT_CENTS} cents; got {amount_cents}.")
    return amount_cents


def _validate_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValueError("an idempotency key is a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key has at most {MAX_KEY_LENGTH} characters")
    return key


def _validate_batch_id(batch_id: object) -> int:
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or batch_id <= 0:
        raise ValueError(f"batch_id must be a positive integer, not {batch_id!r}")
    return batch_id


# --- Accounts ------------------------------------------------------------------------------


def _account(*, kind: str, owner: AbstractBaseUser | None = None, ref: str = "") -> LedgerAccount:
    # get_or_create is race-safe here: the unique (kind, owner, ref) constraint treats NULL
    # owners as equal, so a concurrent creator's insert fails inside get_or_create's
    # savepoint and it returns the winner's row.
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind,
        owner=owner,
        ref=ref,
        defaults={"allow_negative": kind in LedgerAccount.NEGATIVE_KINDS},
    )
    return account


def requester_account(user: AbstractBaseUser) -> LedgerAccount:
    """The requester's prepaid available balance. Creates it on first use; takes no lock."""
    return _account(kind=Kind.REQUESTER_AVAILABLE, owner=_saved_user(user))


def worker_account(user: AbstractBaseUser) -> LedgerAccount:
    """The worker's available (withdrawable) balance. Creates it on first use; no lock."""
    return _account(kind=Kind.WORKER_AVAILABLE, owner=_saved_user(user))


def batch_escrow_account(batch_id: int) -> LedgerAccount:
    """The escrow of one batch (``ref = "batch:<id>"``). Creates it on first use; no lock."""
    return _account(kind=Kind.BATCH_ESCROW, ref=f"batch:{_validate_batch_id(batch_id)}")


def platform_revenue_account() -> LedgerAccount:
    """Where fees go. A singleton; creates it on first use; no lock."""
    return _account(kind=Kind.PLATFORM_REVENUE)


def stripe_clearing_account() -> LedgerAccount:
    """Mirror of the money at Stripe: deposits take from it, withdrawals give to it, so it
    is negative by the amount Stripe holds for us. The only account allowed below zero."""
    return _account(kind=Kind.STRIPE_CLEARING)


def stripe_fees_account() -> LedgerAccount:
    """Stripe's processing fees on payments in: the platform's cost, so it goes negative
    by what Stripe kept. A singleton; creates it on first use; no lock."""
    return _account(kind=Kind.STRIPE_FEES)


def find_account(*, kind: str, owner: AbstractBaseUser) -> LedgerAccount | None:
    """A user's account of ``kind`` if it exists; never creates one (for read paths:
    a GET must not write)."""
    return LedgerAccount.objects.filter(kind=kind, owner_id=_saved_user(owner).pk, ref="").first()


def _saved_user(user: AbstractBaseUser | None) -> AbstractBaseUser:
    if user is None or getattr(user, "pk", None) is None:
        raise ValueError("a ledger account belongs to a saved user")
    return user


# --- Posting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    account_id: int
    amount_cents: int


def post(
    *,
    key: str,
    kind: str,
    lines: list[tuple[LedgerAccount, int]],
    memo: str = "",
    external_ref: str = "",
) -> LedgerTransaction:
    """Write one balanced transaction: ``lines`` are (account, signed cents) pairs, at
    least two, each non-zero, summing to zero. An account may appear more than once.

    Locks: ``SELECT ... FOR UPDATE`` on every account in ``lines``, in primary-key order,
    until the enclosing transaction commits.

    Idempotent on ``key``: if a transaction with this key exists (committed before, or by
    a concurrent caller), returns it and writes nothing, provided its kind, external_ref
    and lines are the same (memo is not compared); otherwise raises
    ``IdempotencyConflict``.

    Raises ``InsufficientFunds`` (nothing written) if an account other than
    ``stripe_clearing`` would end below zero; ``InvalidAmount`` for a bad amount;
    ``ValueError``/``TypeError`` for unbalanced or malformed lines or an unknown kind.

    The in-memory ``balance_cents`` of the accounts passed in is refreshed on success.
    """
    return _post(
        key=key, kind=kind, lines=lines, memo=memo, external_ref=external_ref, reverses=None
    )


def _post(
    *,
    key: str,
    kind: str,
    lines: list[tuple[LedgerAccount, int]],
    memo: str,
    external_ref: str,
    reverses: LedgerTransaction | None,
) -> LedgerTransaction:
    _validate_key(key)
    if kind not in TxnKind.values:
        raise ValueError(
            f"unknown ledger transaction kind {kind!r}; one of {', '.join(TxnKind.values)}"
        )
    wanted = _check_lines(lines)

    with atomic():
        existing = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return _replay(existing, key=key, kind=kind, wanted=wanted, external_ref=external_ref)

        deltas: Counter[int] = Counter()
        for line in wanted:
            deltas[line.account_id] += line.amount_cents
        # Fixed order: every post locks accounts by ascending pk, so no deadlock cycle.
        locked = {
            a.pk: a
            for a in LedgerAccount.objects.select_for_update().filter(pk__in=deltas).order_by("pk")
        }
        if len(locked) != len(deltas):
            raise ValueError(f"unknown ledger account(s): {sorted(set(deltas) - set(locked))}")

        # A concurrent post with this key may have committed while we waited for the
        # locks (it locked the same accounts): under READ COMMITTED this new statement
        # sees it. Checked before funds, so the loser does not report a false overdraft.
        existing = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return _replay(existing, key=key, kind=kind, wanted=wanted, external_ref=external_ref)

        for account_id in sorted(deltas):
            account = locked[account_id]
            after = account.balance_cents + deltas[account_id]
            if after < 0 and not account.allow_negative:
                raise InsufficientFunds(
                    account=account,
                    available_cents=account.balance_cents,
                    needed_cents=-deltas[account_id],
                )
        currencies = {a.currency for a in locked.values()}
        if len(currencies) != 1:
            raise ValueError(f"one transaction cannot mix currencies: {sorted(currencies)}")

        try:
            # A savepoint: a unique-key race lost to a concurrent post (on other accounts)
            # rolls back only this insert, leaving the caller's transaction usable.
            with atomic():
                txn = LedgerTransaction.objects.create(
                    idempotency_key=key,
                    kind=kind,
                    memo=memo,
                    external_ref=external_ref,
                    reverses=reverses,
                )
        except IntegrityError:
            winner = LedgerTransaction.objects.filter(idempotency_key=key).first()
            if winner is None:
                if (
                    reverses is not None
                    and LedgerTransaction.objects.filter(reverses=reverses).exists()
                ):
                    raise AlreadyReversed(transaction=reverses) from None
                raise
            return _replay(winner, key=key, kind=kind, wanted=wanted, external_ref=external_ref)

        # Credits first: an account listed with both signs never dips below its final
        # balance between rows, so the per-row CHECK cannot fire on a valid transaction.
        ordered = sorted(wanted, key=lambda line: -line.amount_cents)
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    transaction=txn, account_id=line.account_id, amount_cents=line.amount_cents
                )
                for line in ordered
            ]
        )

    for account, _amount in lines:
        account.balance_cents = locked[account.pk].balance_cents + deltas[account.pk]
    return txn


def _check_lines(lines: list[tuple[LedgerAccount, int]]) -> list[_Line]:
    if not isinstance(lines, list | tuple) or len(lines) < 2:
        raise ValueError("a ledger transaction needs at least two lines")
    wanted = []
    for line in lines:
        if not isinstance(line, tuple) or len(line) != 2:
            raise TypeError(f"a ledger line is an (account, amount_cents) pair, not {line!r}")
        account, amount = line
        if not isinstance(account, LedgerAccount) or account.pk is None:
            raise TypeError(f"a ledger line needs a saved LedgerAccount, not {account!r}")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidAmount(
                f"amounts are whole numbers of cents, not {type(amount).__name__} {amount!r}."
            )
        if amount == 0:
            raise InvalidAmount("a ledger line cannot be 0 cents.")
        if abs(amount) > MAX_AMOUNT_CENTS:
            raise InvalidAmount(f"a ledger line is at most {MAX_AMOUNT_CENTS} cents; got {amount}.")
        wanted.append(_Line(account.pk, amount))
    total = sum(line.amount_cents for line in wanted)
    if total != 0:
        raise ValueError(f"ledger lines must sum to 0 cents; these sum to {total}")
    return wanted


def _replay(
    existing: LedgerTransaction, *, key: str, kind: str, wanted: list[_Line], external_ref: str
) -> LedgerTransaction:
    stored = [_Line(a, c) for a, c in existing.entries.values_list("account_id", "amount_cents")]
    same = (
        existing.kind == kind
        and existing.external_ref == external_ref
        and Counter(stored) == Counter(wanted)
    )
    if not same:
        raise IdempotencyConflict(key=key)
    return existing


# --- Flows --------------------------------------------------------------------------------


def deposit(
    *,
    key: str,
    user: AbstractBaseUser,
    amount_cents: int,
    fee_cents: int = 0,
    external_ref: str = "",
    memo: str = "",
) -> LedgerTransaction:
    """Money paid in by a requester (Stripe Checkout). The requester is credited what
    they paid; Stripe holds that minus its processing fee, and the fee is the
    platform's cost in ``stripe_fees``:
    requester available +amount, stripe_clearing −(amount − fee), stripe_fees −fee
    (no fee entry when the fee is 0). ``fee_cents`` comes from Stripe (the payment's
    balance transaction). Key: ``deposit-<checkout session id>``. Locks the accounts
    (see ``post``). Raises ``InvalidAmount`` (also for a fee above the amount),
    ``IdempotencyConflict``."""
    amount_cents = validate_amount(amount_cents)
    fee_cents = validate_amount(fee_cents, name="fee_cents", allow_zero=True)
    if fee_cents > amount_cents:
        raise InvalidAmount(f"fee_cents ({fee_cents}) cannot exceed amount_cents ({amount_cents}).")
    lines = [(requester_account(user), amount_cents)]
    if fee_cents < amount_cents:
        lines.append((stripe_clearing_account(), -(amount_cents - fee_cents)))
    if fee_cents:
        lines.append((stripe_fees_account(), -fee_cents))
    return post(
        key=key,
        kind=TxnKind.DEPOSIT,
        lines=lines,
        memo=memo,
        external_ref=external_ref,
    )


def hold(
    *, key: str, user: AbstractBaseUser, batch_id: int, amount_cents: int, memo: str = ""
) -> LedgerTransaction:
    """Move rewards + fees into a batch's escrow when it is published: requester
    available → batch escrow. Key: ``hold-batch-<id>``. Locks both accounts. Raises
    ``InsufficientFunds`` (nothing written), ``InvalidAmount``, ``IdempotencyConflict``."""
    amount_cents = validate_amount(amount_cents)
    return post(
        key=key,
        kind=TxnKind.HOLD,
        lines=[
            (requester_account(user), -amount_cents),
            (batch_escrow_account(batch_id), amount_cents),
        ],
        memo=memo,
    )


def release(
    *, key: str, user: AbstractBaseUser, batch_id: int, amount_cents: int, memo: str = ""
) -> LedgerTransaction:
    """Return unused escrow to the requester (cancel, expiry, dispute decided for the
    requester): batch escrow → requester available. Key:
    ``release-batch-<id>-<reason>``. Locks both accounts. Raises ``InsufficientFunds``
    if the escrow holds less, ``InvalidAmount``, ``IdempotencyConflict``."""
    amount_cents = validate_amount(amount_cents)
    return post(
        key=key,
        kind=TxnKind.RELEASE,
        lines=[
            (batch_escrow_account(batch_id), -amount_cents),
            (requester_account(user), amount_cents),
        ],
        memo=memo,
    )


def settle(
    *,
    key: str,
    batch_id: int,
    worker: AbstractBaseUser,
    reward_cents: int,
    fee_cents: int,
    memo: str = "",
) -> LedgerTransaction:
    """Pay an approved assignment: batch escrow → worker available (reward) and platform
    revenue (fee), in one transaction. A fee of 0 (rate and minimum set to 0) writes no
    revenue entry. Key: ``settle-<assignment id>``. Locks the three accounts. Raises
    ``InsufficientFunds`` if the escrow holds less than reward + fee, ``InvalidAmount``,
    ``IdempotencyConflict``."""
    reward_cents = validate_amount(reward_cents, name="reward_cents")
    fee_cents = validate_amount(fee_cents, name="fee_cents", allow_zero=True)
    lines = [
        (batch_escrow_account(batch_id), -(reward_cents + fee_cents)),
        (worker_account(worker), reward_cents),
    ]
    if fee_cents:
        lines.append((platform_revenue_account(), fee_cents))
    return post(key=key, kind=TxnKind.SETTLE, lines=lines, memo=memo)


def bonus(
    *,
    key: str,
    requester: AbstractBaseUser,
    worker: AbstractBaseUser,
    amount_cents: int,
    fee_cents: int,
    memo: str = "",
) -> LedgerTransaction:
    """A requester's bonus to a worker, from the requester's available balance:
    requester available −(amount + fee), worker available +amount, platform revenue
    +fee (no revenue entry when the fee is 0). Key: ``bonus-<id of the caller's bonus
    record>``. Locks the three accounts. Raises ``InsufficientFunds`` (nothing written)
    if the requester has less than amount + fee, ``InvalidAmount`` (an amount of 0),
    ``IdempotencyConflict``."""
    amount_cents = validate_amount(amount_cents)
    fee_cents = validate_amount(fee_cents, name="fee_cents", allow_zero=True)
    lines = [
        (requester_account(requester), -(amount_cents + fee_cents)),
        (worker_account(worker), amount_cents),
    ]
    if fee_cents:
        lines.append((platform_revenue_account(), fee_cents))
    return post(key=key, kind=TxnKind.BONUS, lines=lines, memo=memo)


def transfer(
    *,
    key: str,
    source: LedgerAccount,
    destination: LedgerAccount,
    amount_cents: int,
    kind: str = TxnKind.TRANSFER,
    memo: str = "",
) -> LedgerTransaction:
    """Move ``amount_cents`` from ``source`` to ``destination`` (e.g. a withdrawal:
    worker available → withdrawal in flight, kind ``withdrawal``). Locks both accounts. Raises
    ``InsufficientFunds``, ``InvalidAmount``, ``IdempotencyConflict``; ``ValueError`` if
    source and destination are the same account."""
    amount_cents = validate_amount(amount_cents)
    if source.pk is not None and source.pk == destination.pk:
        raise ValueError("a transfer needs two different accounts")
    return post(
        key=key, kind=kind, lines=[(source, -amount_cents), (destination, amount_cents)], memo=memo
    )


def reverse(*, key: str, transaction: LedgerTransaction, memo: str = "") -> LedgerTransaction:
    """Undo ``transaction`` with a new one whose entries are its entries negated, with
    ``reverses`` set. A reversal can itself be reversed (re-applying the original).

    Locks: the original transaction row (``FOR UPDATE``, so two reversals of it queue up),
    then its accounts as in ``post``. Idempotent on ``key`` like ``post``. Raises
    ``AlreadyReversed`` if it was reversed under another key (the database also refuses
    a second reversal: ``reverses`` is unique), ``InsufficientFunds`` if an account no
    longer holds what the reversal takes back (e.g. a deposit already spent)."""
    original = transaction
    _validate_key(key)
    with atomic():
        original = LedgerTransaction.objects.select_for_update().get(pk=original.pk)
        entries = list(original.entries.select_related("account").order_by("id"))
        lines = [(entry.account, -entry.amount_cents) for entry in entries]
        existing = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            if existing.reverses_id != original.pk:
                raise IdempotencyConflict(key=key)
            return existing
        if LedgerTransaction.objects.filter(reverses=original).exists():
            raise AlreadyReversed(transaction=original)
        return _post(
            key=key,
            kind=TxnKind.REVERSE,
            lines=lines,
            memo=memo or f"reversal of {original.idempotency_key}",
            external_ref="",
            reverses=original,
        )


# --- Selectors ----------------------------------------------------------------------------


def requester_balance_cents(user: AbstractBaseUser) -> int:
    """The requester's available balance; 0 for one who has no account yet. A read: it
    creates nothing (unlike ``requester_account``, which is for postings)."""
    return _balance_or_zero(kind=Kind.REQUESTER_AVAILABLE, owner_id=_saved_user(user).pk)


def worker_balance_cents(user: AbstractBaseUser) -> int:
    """The worker's available (withdrawable) balance; 0 for one who has no account yet.
    A read: it creates nothing (unlike ``worker_account``, which is for postings)."""
    return _balance_or_zero(kind=Kind.WORKER_AVAILABLE, owner_id=_saved_user(user).pk)


def batch_escrow_balance_cents(batch_id: int) -> int:
    """The escrow balance of one batch; 0 before anything was held. Creates nothing."""
    return _balance_or_zero(
        kind=Kind.BATCH_ESCROW, owner_id=None, ref=f"batch:{_validate_batch_id(batch_id)}"
    )


def _balance_or_zero(*, kind: str, owner_id: int | None, ref: str = "") -> int:
    balance = (
        LedgerAccount.objects.filter(kind=kind, owner_id=owner_id, ref=ref)
        .values_list("balance_cents", flat=True)
        .first()
    )
    return int(balance or 0)


def balance_cents(account: LedgerAccount) -> int:
    """The committed balance (equal to the sum of the account's entries; the database
    maintains it). Takes no lock: read-your-writes inside the caller's transaction."""
    return LedgerAccount.objects.values_list("balance_cents", flat=True).get(pk=account.pk)


def statement(account: LedgerAccount, *, before_id: int | None = None) -> QuerySet[LedgerEntry]:
    """The account's entries, newest first, with their transaction joined, each with
    ``balance_after_cents`` (the balance just after it, stored by the database when the
    entry was posted; also as ``running_balance_cents`` for older callers). Page by key:
    pass ``before_id`` (the last id seen) and slice; the (account, id) index serves
    every page in the same time however deep, with no running sums and no COUNT."""
    qs = LedgerEntry.objects.filter(account=account)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return (
        qs.select_related("transaction")
        .annotate(running_balance_cents=F("balance_after_cents"))
        .order_by("-id")
    )


@dataclass(frozen=True)
class StatementPage:
    entries: list[LedgerEntry]
    # Pass as ``before_id`` for the next (older) page; None on the last page.
    next_before_id: int | None


def statement_page(
    account: LedgerAccount, *, before_id: int | None = None, size: int = 50
) -> StatementPage:
    """One page of ``statement``: ``size`` entries older than ``before_id`` (newest
    first), and the key of the next page. Two index range reads, whatever the depth."""
    if account.pk is None:
        return StatementPage(entries=[], next_before_id=None)
    rows = list(statement(account, before_id=before_id)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return StatementPage(entries=rows, next_before_id=rows[-1].pk if more and rows else None)


def ledger_violations() -> list[Violation]:
    """Every broken invariant of the ledger's own tables (the ``ledger``-scope checks of
    ``payouts.audit``: balanced, balances, shapes, reversals, triggers), by check name;
    empty when all hold. ``manage.py ledger_check`` also runs the checks against other
    records (deposits, batches). Read-only; takes no locks."""
    return audit.run(scope="ledger").violations
