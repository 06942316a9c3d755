"""Requester funding: Stripe Checkout top-ups credited by the webhook.

Flow: ``deposit_start`` records a pending Deposit, creates a Checkout Session (the
idempotency key is built from the deposit's id, so a retried call can never create two
sessions) and returns the hosted page's URL. The requester pays on Stripe's page. The
``checkout.session.completed`` event, verified and recorded once, credits the ledger
(``deposit-<session id>``) in the same database transaction. Returning to our success
page before the event arrives shows "processing", never a guessed balance.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError
from core.money import format_cents
from payouts import fees, ledger, stripe_gateway
from payouts.models import Deposit, StripeEvent

logger = logging.getLogger(__name__)

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


def deposit_start(*, user, amount_cents: int, site_url: str) -> Deposit:
    """Create a pending deposit and its Checkout Session; returns the deposit with
    ``checkout_url`` set.

    Raises ApplicationError for an amount outside the platform's limits or when Stripe
    refuses or cannot be reached (nothing is credited in either case).
    """
    if not user.is_requester:
        raise ApplicationError("Only requesters can add funds.", code="not_requester", status=403)
    validate_topup_amount(amount_cents)
    deposit = Deposit.objects.create(
        user=user, amount_cents=amount_cents, currency=settings.STRIPE_CURRENCY
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

    The event row (unique ``event_id``) and its effects commit together: a crash in
    between leaves neither, so Stripe's retry applies it then. Locks: the Deposit row
    (``select_for_update``) and, through the ledger, the accounts.
    """
    data = event if isinstance(event, dict) else event.to_dict()
    event_id, event_type = data["id"], data["type"]
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
        if event_type in HANDLED_EVENTS:
            _apply_checkout_event(event_type, data["data"]["object"])
    return True


def _deposit_for_session(session: dict[str, Any]) -> Deposit | None:
    deposit_id = (session.get("metadata") or {}).get("deposit_id") or session.get(
        "client_reference_id"
    )
    query = Deposit.objects.select_for_update()
    # By our own id first: the event can arrive before we stored the session id.
    if deposit_id and str(deposit_id).isdigit():
        deposit = query.filter(pk=int(deposit_id)).first()
        if deposit is not None:
            return deposit
    return query.filter(checkout_session_id=session["id"]).first()


def _apply_checkout_event(event_type: str, session: dict[str, Any]) -> None:
    deposit = _deposit_for_session(session)
    if deposit is None:
        logger.error("Stripe checkout session %s matches no deposit", session.get("id"))
        return
    if deposit.checkout_session_id is None:
        deposit.checkout_session_id = session["id"]
    if deposit.status == Deposit.Status.COMPLETED:
        return  # a later 'expired' or a replayed 'completed' changes nothing once paid
    if event_type == "checkout.session.expired":
        deposit.status = Deposit.Status.EXPIRED
        deposit.save(update_fields=["status", "checkout_session_id"])
        return
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        deposit.save(update_fields=["checkout_session_id"])
        return  # completed but paid later (async methods): async_payment_succeeded follows
    amount = int(session.get("amount_total") or 0)
    if amount <= 0:
        logger.error("checkout session %s completed with amount %s", session["id"], amount)
        return
    if amount != deposit.amount_cents:
        # Credit what Stripe actually collected; the difference is visible on the deposit.
        logger.warning(
            "deposit %s: asked %s¢, Stripe collected %s¢", deposit.pk, deposit.amount_cents, amount
        )
    txn = ledger.deposit(
        key=f"deposit-{session['id']}",
        user=deposit.user,
        amount_cents=amount,
        external_ref=session["id"],
        memo="Top-up via Stripe Checkout",
    )
    deposit.status = Deposit.Status.COMPLETED
    deposit.credited_cents = amount
    deposit.ledger_transaction = txn
    deposit.completed_at = timezone.now()
    deposit.save(
        update_fields=[
            "status",
            "credited_cents",
            "ledger_transaction",
            "completed_at",
            "checkout_session_id",
        ]
    )


def deposit_cancel(*, user, deposit_id: int) -> Deposit | None:
    """The requester came back from Checkout with "cancel": expire the session so it can
    no longer be paid, and mark the deposit cancelled (unless it was paid meanwhile)."""
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
            locked.status = Deposit.Status.CANCELLED
            locked.save(update_fields=["status"])
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
