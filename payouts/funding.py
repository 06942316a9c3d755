"""Requester funding: Stripe Checkout top-ups credited by the webhook.

Flow: ``deposit_start`` records a pending Deposit, creates a Checkout Session (the
idempotency key is built from the deposit's id, so a retried call can never create two
sessions) and returns the hosted page's URL. The requester pays on Stripe's page. The
``checkout.session.completed`` event, verified and recorded once, credits the ledger
(``deposit-<session id>``) in the same database transaction. Returning to our success
page before the event arrives shows "processing", never a guessed balance.

The webhook trusts only Stripe. A valid signature proves the event came from whoever
holds the signing secret, which is not enough once the secret leaks or a bug signs the
wrong thing. So the event is only a hint: the Checkout Session is retrieved from
Stripe, and what is credited is what Stripe says, to the deposit whose *stored*
session id is the session's, owned by the user Stripe's copy names, in the platform's
currency, for the amount Stripe collected, with the processing fee Stripe's balance
transaction shows. Anything that does not match is recorded as a ``StripeAlert`` for
staff and answered 2xx (so Stripe stops retrying); nothing is credited for it.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError, require_transition
from core.money import format_cents
from payouts import fees, ledger, stripe_gateway
from payouts.models import (
    DEPOSIT_TRANSITIONS,
    Deposit,
    DepositEvent,
    StripeAlert,
    StripeEvent,
)

logger = logging.getLogger(__name__)

# Retrieving the session expands down to the payment's balance transaction, where
# Stripe states its fee and when the money becomes available (4 levels: Stripe's limit).
SESSION_EXPAND = ["payment_intent.latest_charge.balance_transaction"]

HANDLED_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.expired",
}


def validate_topup_amount(amount_cents: int) -> int:
    terms = fees.platform_settings()
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise ApplicationError(
            "Enter the amount in dollars and cents, e.g. 25.00.", code="invalid_amount"
        )
    if amount_cents < terms.topup_minimum_cents:
        raise ApplicationError(
            f"The minimum top-up is {format_cents(terms.topup_minimum_cents)}.",
            code="topup_too_small",
        )
    if amount_cents > terms.topup_maximum_cents:
        raise ApplicationError(
            f"The maximum top-up is {format_cents(terms.topup_maximum_cents)}.",
            code="topup_too_large",
        )
    return amount_cents


def deposit_transition(
    *,
    deposit: Deposit,
    to: str,
    actor=None,
    reason: str = "",
    stripe_event_id: str = "",
    update_fields: tuple[str, ...] = (),
) -> DepositEvent:
    """Move ``deposit`` to status ``to`` and record a ``DepositEvent`` (old, new, actor,
    reason, the Stripe event behind it). Saves ``status`` and ``update_fields`` in one
    UPDATE. The caller holds the deposit row lock inside ``transaction.atomic``. Raises
    ApplicationError (``illegal_transition``, 409) for a move not in
    ``DEPOSIT_TRANSITIONS``."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("deposit_transition must run inside transaction.atomic")
    old = deposit.status
    require_transition(
        DEPOSIT_TRANSITIONS,
        old,
        to,
        lambda: f"This top-up is {deposit.get_status_display().lower()} and cannot become {to}.",
    )
    deposit.status = to
    deposit.save(update_fields=["status", *update_fields])
    return DepositEvent.objects.create(
        deposit=deposit,
        old_status=old,
        new_status=to,
        actor=actor,
        reason=reason,
        stripe_event_id=stripe_event_id,
    )


def deposit_start(*, user, amount_cents: int, site_url: str) -> Deposit:
    """Create a pending deposit and its Checkout Session; returns the deposit with
    ``checkout_url`` set.

    Raises ApplicationError for an amount outside the platform's limits or when Stripe
    refuses or cannot be reached (nothing is credited in either case).
    """
    if not user.is_requester:
        raise ApplicationError("Only requesters can add funds.", code="not_requester", status=403)
    validate_topup_amount(amount_cents)
    with transaction.atomic():
        deposit = Deposit.objects.create(
            user=user, amount_cents=amount_cents, currency=settings.STRIPE_CURRENCY
        )
        DepositEvent.objects.create(
            deposit=deposit, new_status=deposit.status, actor=user, reason="top-up started"
        )
    return_url = site_url.rstrip("/") + reverse("payouts:funds_return")
    try:
        session = stripe_gateway.client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "client_reference_id": str(deposit.pk),
                "customer_email": user.email,
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": settings.STRIPE_CURRENCY,
                            "unit_amount": amount_cents,
                            "product_data": {"name": "Fairtask balance top-up"},
                        },
                    }
                ],
                "metadata": {"deposit_id": str(deposit.pk), "user_id": str(user.pk)},
                "success_url": return_url + "?session_id={CHECKOUT_SESSION_ID}",
                "cancel_url": return_url + f"?cancelled={deposit.pk}",
            },
            options={"idempotency_key": deposit.checkout_idempotency_key},
        )
    except stripe.StripeError as exc:
        logger.warning("checkout session for deposit %s failed: %s", deposit.pk, exc)
        raise ApplicationError(
            "The payment page could not be opened right now; nothing was charged. Please try again.",
            code="stripe_unavailable",
            status=502,
        ) from exc
    Deposit.objects.filter(pk=deposit.pk).update(
        checkout_session_id=session.id, checkout_url=session.url or ""
    )
    deposit.refresh_from_db()
    return deposit


def process_event(event: dict[str, Any] | stripe.Event) -> bool:
    """Apply one verified Stripe event exactly once. Returns False for a duplicate.

    The event row (unique ``event_id``) and its effects (a credit, a status move, or an
    alert) commit together: a crash in between leaves neither, so Stripe's retry
    applies it then. Checkout events are checked against Stripe (see the module
    docstring); a Stripe error other than "no such session" propagates, so the webhook
    answers 500 and Stripe retries later. Locks: the Deposit row
    (``select_for_update``) and, through the ledger, the accounts.
    """
    data = event if isinstance(event, dict) else event.to_dict()
    event_id, event_type = data["id"], data["type"]
    claimed: dict[str, Any] = {}
    stripe_session: dict[str, Any] | None = None
    # Connected accounts' events are recorded only (the withdrawal flow handles them);
    # Checkout events of the platform itself move money.
    handled = event_type in HANDLED_EVENTS and not data.get("account")
    if StripeEvent.objects.filter(event_id=event_id).exists():
        return False  # seen before: no need to ask Stripe (the insert below is the real guard)
    if handled:
        claimed = data.get("data", {}).get("object", {}) or {}
        # Asked before the transaction: no row lock is held while Stripe answers.
        stripe_session = _retrieve_session(str(claimed.get("id") or ""))
    from payouts import withdrawals

    withdrawal_remote = withdrawals.prefetch_event(data)
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(
                    event_id=event_id,
                    type=event_type,
                    livemode=bool(data.get("livemode")),
                    payload=data,
                )
        except IntegrityError:
            return False  # already applied: a duplicate or retried delivery
        if handled:
            _apply_checkout_event(
                event_id=event_id, event_type=event_type, claimed=claimed, session=stripe_session
            )
        if withdrawal_remote is not None:
            withdrawals.apply_event(data=data, remote=withdrawal_remote)
    return True


def _retrieve_session(session_id: str) -> dict[str, Any] | None:
    """Stripe's own copy of the session (None if Stripe does not know it)."""
    if not session_id:
        return None
    try:
        session = stripe_gateway.client().v1.checkout.sessions.retrieve(
            session_id, params={"expand": SESSION_EXPAND}
        )
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing" or exc.http_status == 404:
            return None
        raise
    return session.to_dict()


class _Where(NamedTuple):
    event_id: str
    event_type: str
    session_id: str


def _alert(
    kind: str,
    message: str,
    where: _Where,
    *,
    deposit: Deposit | None = None,
    details: dict[str, Any] | None = None,
) -> StripeAlert:
    logger.error("Stripe alert %s (event %s): %s", kind, where.event_id, message)
    return StripeAlert.objects.create(
        kind=kind,
        stripe_event_id=where.event_id,
        event_type=where.event_type,
        session_id=where.session_id[:255],
        deposit=deposit,
        message=message,
        details=details or {},
    )


def _deposit_for(session: dict[str, Any]) -> Deposit | None:
    """The deposit whose stored session id is this session's; or, when the event beat
    ``deposit_start`` to storing the id, the deposit Stripe's own copy names
    (``client_reference_id``, set by us with our key) that has no session yet."""
    query = Deposit.objects.select_for_update()
    deposit = query.filter(checkout_session_id=session["id"]).first()
    if deposit is not None:
        return deposit
    reference = str(session.get("client_reference_id") or "")
    if reference.isdigit():
        return query.filter(pk=int(reference), checkout_session_id=None).first()
    return None


def _balance_transaction(session: dict[str, Any]) -> dict[str, Any] | None:
    intent = session.get("payment_intent")
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    bt = charge.get("balance_transaction") if isinstance(charge, dict) else None
    return bt if isinstance(bt, dict) else None


def _apply_checkout_event(
    *, event_id: str, event_type: str, claimed: dict[str, Any], session: dict[str, Any] | None
) -> None:
    claimed_id = str(claimed.get("id") or "")
    where = _Where(event_id, event_type, claimed_id)
    if session is None:
        _alert(
            StripeAlert.Kind.SESSION_UNKNOWN,
            f"Stripe has no Checkout Session {claimed_id!r}; nothing credited.",
            where,
        )
        return
    deposit = _deposit_for(session)
    if deposit is None:
        _alert(
            StripeAlert.Kind.NO_DEPOSIT,
            f"No deposit has Checkout Session {session['id']}; nothing credited.",
            where,
            details={"client_reference_id": session.get("client_reference_id")},
        )
        return
    metadata = session.get("metadata") or {}
    if str(session.get("client_reference_id") or "") != str(deposit.pk) or str(
        metadata.get("user_id") or ""
    ) != str(deposit.user_id):
        _alert(
            StripeAlert.Kind.OWNER_MISMATCH,
            f"Checkout Session {session['id']} names deposit "
            f"{session.get('client_reference_id')!r} of user {metadata.get('user_id')!r}, "
            f"but it is stored on deposit {deposit.pk} of user {deposit.user_id}; nothing credited.",
            where,
            deposit=deposit,
        )
        return
    if deposit.checkout_session_id is None:
        deposit.checkout_session_id = session["id"]
        deposit.save(update_fields=["checkout_session_id"])
    if deposit.status == Deposit.Status.COMPLETED:
        return  # a later 'expired' or a replayed 'completed' changes nothing once paid

    paid = session.get("status") == "complete" and session.get("payment_status") == "paid"
    if not paid:
        if session.get("status") == "expired":
            if deposit.status == Deposit.Status.PENDING:
                deposit_transition(
                    deposit=deposit,
                    to=Deposit.Status.EXPIRED,
                    reason="Stripe expired the Checkout Session",
                    stripe_event_id=event_id,
                )
            return
        if claimed.get("payment_status") == "paid" or event_type.endswith("succeeded"):
            _alert(
                StripeAlert.Kind.NOT_PAID,
                f"The event says Checkout Session {session['id']} was paid; Stripe says "
                f"status={session.get('status')}, payment_status={session.get('payment_status')}. "
                "Nothing credited.",
                where,
                deposit=deposit,
            )
        return  # completed but paid later (async methods): async_payment_succeeded follows

    currency = str(session.get("currency") or "")
    if currency != settings.STRIPE_CURRENCY or deposit.currency != settings.STRIPE_CURRENCY:
        _alert(
            StripeAlert.Kind.CURRENCY_MISMATCH,
            f"Checkout Session {session['id']} was paid in {currency.upper() or '?'}, not "
            f"{settings.STRIPE_CURRENCY.upper()}; nothing credited.",
            where,
            deposit=deposit,
            details={"amount_total": session.get("amount_total"), "currency": currency},
        )
        return
    amount = int(session.get("amount_total") or 0)
    bt = _balance_transaction(session)
    if amount <= 0 or bt is None or bt.get("currency") != settings.STRIPE_CURRENCY:
        # Stripe states the fee on the payment's balance transaction; without it we cannot
        # book what Stripe holds. Raise: the webhook answers 500 and Stripe retries.
        raise RuntimeError(
            f"Checkout Session {session['id']}: paid but no {settings.STRIPE_CURRENCY} "
            f"balance transaction (amount {amount})"
        )
    fee = int(bt.get("fee") or 0)
    if amount != deposit.amount_cents:
        _alert(
            StripeAlert.Kind.AMOUNT_DIFFERS,
            f"Deposit {deposit.pk} asked {format_cents(deposit.amount_cents)}, Stripe collected "
            f"{format_cents(amount)}; credited what Stripe collected.",
            where,
            deposit=deposit,
        )
    txn = ledger.deposit(
        key=f"deposit-{session['id']}",
        user=deposit.user,
        amount_cents=amount,
        fee_cents=fee,
        external_ref=session["id"],
        memo="Top-up via Stripe Checkout",
    )
    deposit.credited_cents = amount
    deposit.fee_cents = fee
    deposit.ledger_transaction = txn
    deposit.completed_at = timezone.now()
    deposit_transition(
        deposit=deposit,
        to=Deposit.Status.COMPLETED,
        reason=f"Stripe: paid {format_cents(amount)}, processing fee {format_cents(fee)}",
        stripe_event_id=event_id,
        update_fields=("credited_cents", "fee_cents", "ledger_transaction", "completed_at"),
    )


def deposit_cancel(*, user, deposit_id: int) -> Deposit | None:
    """The requester gave up on a pending top-up (a POST from the return page): expire
    the session at Stripe so it can no longer be paid, then mark the deposit cancelled
    (unless it was paid meanwhile). Returns None if it is not this user's deposit."""
    deposit = Deposit.objects.filter(pk=deposit_id, user=user).first()
    if deposit is None or deposit.status != Deposit.Status.PENDING:
        return deposit
    if deposit.checkout_session_id:
        try:
            stripe_gateway.client().v1.checkout.sessions.expire(deposit.checkout_session_id)
        except stripe.StripeError as exc:
            # A session that was paid meanwhile cannot be expired; the webhook credits it.
            logger.info("could not expire %s: %s", deposit.checkout_session_id, exc)
            return deposit
    with transaction.atomic():
        locked = Deposit.objects.select_for_update().get(pk=deposit.pk)
        if locked.status == Deposit.Status.PENDING:
            deposit_transition(
                deposit=locked,
                to=Deposit.Status.CANCELLED,
                actor=user,
                reason="cancelled by the requester",
            )
    deposit.refresh_from_db()
    return deposit


def sync_events(*, limit: int = 100) -> int:
    """Fetch recent events from Stripe and apply the ones we have not seen (catch-up
    after downtime; the same ``process_event`` as the webhook). Returns how many new
    funding events were applied."""
    applied = 0
    page = stripe_gateway.client().v1.events.list(params={"limit": limit})
    for event in reversed(list(page.data)):  # oldest first
        if process_event(event) and event.type in HANDLED_EVENTS:
            applied += 1
    return applied
