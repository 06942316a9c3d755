from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class PlatformSettings(models.Model):
    """The platform's money terms, edited by admins. One row (pk=1); read it through
    ``payouts.fees.platform_settings()``."""

    fee_rate_bp = models.PositiveIntegerField(
        "fee rate (basis points)",
        default=2000,
        validators=[MaxValueValidator(10000)],
        help_text="Platform fee on each reward and bonus, in basis points: 2000 = 20%.",
    )
    fee_minimum_cents = models.PositiveIntegerField(
        default=1, help_text="Minimum fee per assignment and per bonus."
    )
    pay_floor_cents_per_hour = models.PositiveIntegerField(
        default=800,
        validators=[MinValueValidator(1)],
        help_text="Reward ÷ estimated time must reach this.",
    )
    withdrawal_minimum_cents = models.PositiveIntegerField(default=100)
    topup_minimum_cents = models.PositiveIntegerField(default=500)
    topup_maximum_cents = models.PositiveIntegerField(default=1_000_000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "platform settings"
        verbose_name_plural = "platform settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="platform_settings_singleton"),
            models.CheckConstraint(
                condition=models.Q(fee_rate_bp__lte=10000), name="platform_fee_rate_at_most_100pct"
            ),
            models.CheckConstraint(
                condition=models.Q(topup_minimum_cents__lte=models.F("topup_maximum_cents")),
                name="platform_topup_min_le_max",
            ),
        ]

    def __str__(self) -> str:
        return "Platform settings"


# --- The double-entry ledger ----------------------------------------------------------
#
# Append-only. Rows are written only by ``payouts.ledger``; the database refuses UPDATE and
# DELETE of transactions and entries, refuses a transaction whose entries do not sum to
# zero at COMMIT, and maintains ``LedgerAccount.balance_cents`` itself from the entries
# (see migration 0003_ledger_db_guarantees and docs/money.md).


class LedgerAccount(models.Model):
    """One balance. User-owned kinds have ``owner`` set and an empty ``ref``; a batch's
    escrow has no owner and ``ref = "batch:<id>"``; the platform's accounts have
    neither. ``balance_cents`` always equals the sum of the account's entries (a trigger
    adds each new entry under the row lock) and never goes below zero except on
    ``stripe_clearing``, which mirrors money held at Stripe as a negative number, and
    ``stripe_fees``, the processing fees Stripe kept (the platform's cost)."""

    class Kind(models.TextChoices):
        REQUESTER_AVAILABLE = "requester_available", "Requester available"
        BATCH_ESCROW = "batch_escrow", "Batch escrow"
        WORKER_AVAILABLE = "worker_available", "Worker available"
        PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
        STRIPE_CLEARING = "stripe_clearing", "Stripe clearing"
        STRIPE_FEES = "stripe_fees", "Stripe processing fees"
        WITHDRAWAL_IN_FLIGHT = "withdrawal_in_flight", "Withdrawal in flight"

    USER_KINDS = (Kind.REQUESTER_AVAILABLE, Kind.WORKER_AVAILABLE, Kind.WITHDRAWAL_IN_FLIGHT)
    PLATFORM_KINDS = (Kind.PLATFORM_REVENUE, Kind.STRIPE_CLEARING, Kind.STRIPE_FEES)
    # Mirrors of money at Stripe and the platform's cost there: the only kinds below zero.
    NEGATIVE_KINDS = (Kind.STRIPE_CLEARING, Kind.STRIPE_FEES)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    ref = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text='Owner that is not a user, e.g. "batch:12".',
    )
    currency = models.CharField(max_length=3, default="usd")
    balance_cents = models.BigIntegerField(default=0, editable=False)
    allow_negative = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            # One account per (kind, owner, ref); NULL owners compare equal so the
            # platform accounts are singletons and get_or_create is race-safe.
            models.UniqueConstraint(
                fields=["kind", "owner", "ref"],
                nulls_distinct=False,
                name="ledger_account_unique_kind_owner_ref",
            ),
            models.CheckConstraint(
                condition=models.Q(balance_cents__gte=0) | models.Q(allow_negative=True),
                name="ledger_account_balance_non_negative",
            ),
            # Name kept from when stripe_clearing was the only such kind.
            models.CheckConstraint(
                condition=models.Q(kind__in=["stripe_clearing", "stripe_fees"], allow_negative=True)
                | (
                    ~models.Q(kind__in=["stripe_clearing", "stripe_fees"])
                    & models.Q(allow_negative=False)
                ),
                name="ledger_account_only_clearing_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=["requester_available", "worker_available", "withdrawal_in_flight"],
                    owner__isnull=False,
                    ref="",
                )
                | models.Q(kind="batch_escrow", owner__isnull=True, ref__startswith="batch:")
                | models.Q(
                    kind__in=["platform_revenue", "stripe_clearing", "stripe_fees"],
                    owner__isnull=True,
                    ref="",
                )
                # Settlement's revenue shards (payouts.settlement): fees spread over a few
                # rows so that concurrent settlement chunks never queue on one.
                | models.Q(kind="platform_revenue", owner__isnull=True, ref__startswith="shard:"),
                name="ledger_account_owner_matches_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(currency="usd"), name="ledger_account_currency_usd"
            ),
        ]

    def __str__(self) -> str:
        if self.owner_id is not None:
            return f"{self.get_kind_display()} of user {self.owner_id}"
        if self.ref:
            return f"{self.get_kind_display()} {self.ref}"
        return self.get_kind_display()


class LedgerTransaction(models.Model):
    """One balanced movement of money: two or more entries summing to zero, written in
    one database transaction. ``idempotency_key`` is built from our own records
    (``hold-batch-12``) so a retried call finds the first transaction instead of paying
    twice. A correction is a new transaction that ``reverses`` this one."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        HOLD = "hold", "Hold in escrow"
        RELEASE = "release", "Release from escrow"
        SETTLE = "settle", "Settle"
        BONUS = "bonus", "Bonus"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        REVERSE = "reverse", "Reversal"
        TRANSFER = "transfer", "Transfer"

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    memo = models.CharField(max_length=500, blank=True, default="")
    external_ref = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Stripe object id (checkout session, transfer, …).",
    )
    # One-to-one: the database itself refuses a second reversal of the same transaction.
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["external_ref"],
                name="ledger_txn_external_ref",
                condition=~models.Q(external_ref=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class LedgerEntry(models.Model):
    """One signed line of a transaction: a positive amount adds to the account's
    balance, a negative one takes from it."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    # The (account, id) index below serves both the FK and the running-balance statement.
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount_cents = models.BigIntegerField()
    # The account's balance just after this entry: set by the database as the entry is
    # inserted (trigger ledger_entry_apply, migration 0008), whatever the INSERT says, so
    # a statement reads it instead of summing the account's history.
    balance_after_cents = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_cents=0), name="ledger_entry_amount_non_zero"
            )
        ]
        indexes = [models.Index(fields=["account", "id"], name="ledger_entry_account_id")]

    def __str__(self) -> str:
        return f"{self.amount_cents:+d}¢ on account {self.account_id}"


# --- Requester funding through Stripe Checkout -----------------------------------------


class Deposit(models.Model):
    """A requester's top-up through a Stripe Checkout Session.

    Created (pending) before Stripe is called, so the Checkout call carries an
    idempotency key built from our own row (``checkout-deposit-<id>-<token>``). The
    random ``idempotency_token`` is what keeps the key unique for good: after a restore
    from a backup rolls the id sequence back, a new deposit can get an id already used
    in a key Stripe has seen, never the same token. Completed only
    when Stripe itself (the session retrieved from Stripe, not the event's copy) says
    the session is paid; the ledger credit ``deposit-<session id>`` is written in the
    same transaction as recording the event. Status moves are listed in
    ``DEPOSIT_TRANSITIONS`` and made only by ``funding.deposit_transition``, which
    writes a ``DepositEvent``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for payment"
        COMPLETED = "completed", "Completed"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deposits"
    )
    amount_cents = models.BigIntegerField()
    credited_cents = models.BigIntegerField(null=True, blank=True)
    fee_cents = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Stripe's processing fee on the payment (from its balance transaction).",
    )
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    ledger_transaction = models.OneToOneField(
        "payouts.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deposit",
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # db_default gives every row that existed before this column its own random value.
    idempotency_token = models.UUIDField(
        default=uuid.uuid4, db_default=RandomUUID(), unique=True, editable=False
    )

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0), name="deposit_amount_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="completed")
                | models.Q(ledger_transaction__isnull=False),
                name="deposit_completed_has_ledger_transaction",
            ),
            models.CheckConstraint(
                condition=models.Q(fee_cents__isnull=True) | models.Q(fee_cents__gte=0),
                name="deposit_fee_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Deposit {self.pk} of {self.amount_cents}¢ ({self.status})"

    @property
    def checkout_idempotency_key(self) -> str:
        return f"checkout-deposit-{self.pk}-{self.idempotency_token.hex}"


# Allowed status moves of a deposit. A session Stripe reports paid is credited even if
# we had marked the deposit expired or cancelled (the money was received: it must be
# credited); nothing leaves ``completed``.
DEPOSIT_TRANSITIONS: dict[str, frozenset[str]] = {
    Deposit.Status.PENDING: frozenset(
        {Deposit.Status.COMPLETED, Deposit.Status.EXPIRED, Deposit.Status.CANCELLED}
    ),
    Deposit.Status.EXPIRED: frozenset({Deposit.Status.COMPLETED}),
    Deposit.Status.CANCELLED: frozenset({Deposit.Status.COMPLETED, Deposit.Status.EXPIRED}),
    Deposit.Status.COMPLETED: frozenset(),
}


class DepositEvent(models.Model):
    """One status move of a deposit (append-only), written by ``deposit_transition``.
    ``old_status`` is empty for the creation row; ``stripe_event_id`` names the Stripe
    event that caused the move, if one did."""

    deposit = models.ForeignKey(Deposit, on_delete=models.PROTECT, related_name="events")
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    stripe_event_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"deposit {self.deposit_id}: {self.old_status or '-'} → {self.new_status}"


class StripeAlert(models.Model):
    """Something a verified Stripe event claimed that Stripe itself does not confirm
    (or that does not match our records): recorded for staff instead of crediting, and
    answered 2xx so Stripe stops retrying. Shown on the staff money overview."""

    class Kind(models.TextChoices):
        SESSION_UNKNOWN = "session_unknown", "Stripe does not know the session"
        NO_DEPOSIT = "no_deposit", "No deposit has this session"
        OWNER_MISMATCH = "owner_mismatch", "Session belongs to another deposit or user"
        NOT_PAID = "not_paid", "Event says paid, Stripe says not paid"
        CURRENCY_MISMATCH = "currency_mismatch", "Currency is not the platform's"
        AMOUNT_DIFFERS = "amount_differs", "Stripe collected another amount than asked"
        STATUS_MISMATCH = "status_mismatch", "Event status differs from Stripe's"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    stripe_event_id = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    session_id = models.CharField(max_length=255, blank=True)
    deposit = models.ForeignKey(
        Deposit, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at"], name="stripe_alert_recent")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class StripeEvent(models.Model):
    """Every Stripe event we accepted, once: the unique ``event_id`` makes a duplicate
    delivery a no-op, and the row is written in the same transaction as its effects."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"


class LedgerCheckRun(models.Model):
    """One run of the ledger audit (``payouts.audit``): by the scheduled
    ``ledger_audit`` job or ``manage.py ledger_check --record``. Written once; the
    runtime database role may not change or delete it."""

    class Source(models.TextChoices):
        SCHEDULE = "schedule", "Scheduled job"
        COMMAND = "command", "ledger_check --record"

    source = models.CharField(max_length=16, choices=Source.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    check_count = models.PositiveIntegerField()
    violation_count = models.PositiveIntegerField()
    # At most 500, each {"check": name, "detail": text}; violation_count has the total.
    violations = models.JSONField(default=list, blank=True)
    accounts = models.BigIntegerField()
    transactions = models.BigIntegerField()
    entries = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["-started_at"], name="ledger_check_run_recent")]

    def __str__(self) -> str:
        return (
            f"Ledger audit {self.pk} ({'ok' if self.ok else f'{self.violation_count} violations'})"
        )


class CheckRun(models.Model):
    """One run of ``reconcile_stripe``, by beat or by hand: what /metrics reports as its
    last run and outcome. (Ledger audit runs have their own, richer ``LedgerCheckRun``.)"""

    name = models.CharField(max_length=50)
    finished_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    problems = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["name", "-finished_at"], name="checkrun_name_finished_idx")]

    def __str__(self) -> str:
        return f"{self.name} at {self.finished_at:%Y-%m-%d %H:%M} ({'ok' if self.ok else 'failed'})"


# --- Settlement of approved work ------------------------------------------------------------


class Payable(models.Model):
    """Money owed for one approved assignment: recorded in the approving transaction
    (``payouts.settlement.payable_record``), settled by the ``settle_payables`` job
    (escrow → worker reward + platform fee, ledger key ``settle-<assignment id>``), which
    sets ``settled_at`` in the same transaction. ``assignment_id`` and ``batch_id`` are
    plain integers: payouts is the bottom app and does not import ``tasks``."""

    assignment_id = models.BigIntegerField(unique=True)
    batch_id = models.BigIntegerField()
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reward_cents = models.BigIntegerField()
    fee_cents = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reward_cents__gt=0), name="payable_reward_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(fee_cents__gte=0), name="payable_fee_not_negative"
            ),
        ]
        indexes = [
            models.Index(
                fields=["id"],
                name="payable_unsettled",
                condition=models.Q(settled_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        state = "settled" if self.settled_at else "unsettled"
        return f"Payable for assignment {self.assignment_id} ({state})"


# --- Withdrawals through Stripe Connect ------------------------------------------------------


class PayoutAccount(models.Model):
    """A worker's Stripe Connect Express account (one per worker). ``payouts_enabled``
    mirrors Stripe's account (onboarding finished), updated from ``account.updated``
    Connect events and when the worker returns from the onboarding link."""

    worker = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.stripe_account_id} of user {self.worker_id}"


class Withdrawal(models.Model):
    """A worker's withdrawal. The money leaves the worker's balance at request time
    (ledger ``withdrawal-request-<id>``: worker available → withdrawal in flight); the
    ``withdrawal_transfer`` job makes the Stripe transfer with ``idempotency_key``
    (``withdrawal-<id>``); paid moves in flight → Stripe clearing
    (``withdrawal-paid-<id>``), failed reverses the request
    (``withdrawal-return-<id>``). Status moves are listed in ``WITHDRAWAL_TRANSITIONS``
    and made only by ``payouts.withdrawals.withdrawal_transition``."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals"
    )
    amount_cents = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    stripe_account_id = models.CharField(max_length=255)
    idempotency_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    stripe_transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["worker", "-id"], name="withdrawal_worker_recent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0), name="withdrawal_amount_positive"
            ),
            # One withdrawal in flight per worker, held by the database itself.
            models.UniqueConstraint(
                fields=["worker"],
                condition=models.Q(status__in=["requested", "processing"]),
                name="withdrawal_one_in_flight",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="paid") | models.Q(stripe_transfer_id__isnull=False),
                name="withdrawal_paid_has_transfer",
            ),
        ]

    def __str__(self) -> str:
        return f"Withdrawal {self.pk} of {self.amount_cents}¢ ({self.status})"


WITHDRAWAL_TRANSITIONS: dict[str, frozenset[str]] = {
    Withdrawal.Status.REQUESTED: frozenset(
        {Withdrawal.Status.PROCESSING, Withdrawal.Status.FAILED}
    ),
    Withdrawal.Status.PROCESSING: frozenset({Withdrawal.Status.PAID, Withdrawal.Status.FAILED}),
    Withdrawal.Status.PAID: frozenset(),
    Withdrawal.Status.FAILED: frozenset(),
}


class WithdrawalEvent(models.Model):
    """One status move of a withdrawal (append-only)."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="events")
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    stripe_event_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"withdrawal {self.withdrawal_id}: {self.old_status or '-'} → {self.new_status}"
