"""Withdrawals: a worker's money out through Stripe Connect (Express).

Flow (``docs/money.md``, Withdrawals, has the entries):

1. ``payout_account_link`` creates the worker's Express account (once; Stripe
   idempotency key ``connect-account-<user id>``) and an onboarding link.
   ``account.updated`` events at the Connect endpoint (and ``payout_account_refresh``)
   set ``payouts_enabled`` from Stripe's own account.
2. ``withdrawal_request`` checks the amount (minimum ``PlatformSettings``, at most the
   available balance), that the account can be paid and that no other withdrawal is in
   flight, then, in one transaction, writes the ``Withdrawal`` (key ``withdrawal-<id>``)
   and moves the money: ``withdrawal-request-<id>`` worker available → withdrawal in
   flight. The transfer job is enqueued on commit.
3. ``withdrawal_transfer`` (the job) creates the Stripe transfer with the idempotency
   key ``withdrawal-<id>`` (so a retry after a 500 or a lost response gets the same
   transfer) and moves the withdrawal to ``processing``. Stripe's available balance
   short (card funds still pending: ``balance_insufficient``) leaves it ``requested``
   for a later retry; any other refusal fails it.
4. ``transfer.*`` events and ``withdrawals_reconcile`` settle the state from Stripe's
   transfer (retrieved, never the event's copy): a transfer that exists and is not
   reversed → ``paid`` (``withdrawal-paid-<id>``: in flight → Stripe clearing); a reversed
   one, or a refusal → ``failed`` and the request is reversed
   (``withdrawal-return-<id>``), the money back on the worker's balance.

Every status move goes through ``withdrawal_transition`` (``WITHDRAWAL_TRANSITIONS``,
a ``WithdrawalEvent`` row each). The worker gets an email when it is paid or failed.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError, require_transition
from core.money import format_cents
from payouts import fees, ledger, stripe_gateway
from payouts.models import (
    WITHDRAWAL_TRANSITIONS,
    LedgerAccount,
    LedgerTransaction,
    PayoutAccount,
    Withdrawal,
    WithdrawalEvent,
)

logger = logging.getLogger(__name__)

Status = Withdrawal.Status
IN_FLIGHT = (Status.REQUESTED, Status.PROCESSING)
TRANSFER_EVENTS = frozenset(
    {"transfer.created", "transfer.updated", "transfer.reversed", "transfer.failed"}
)


def withdrawal_in_flight_account(user: Any) -> LedgerAccount:
    return ledger._account(kind=LedgerAccount.Kind.WITHDRAWAL_IN_FLIGHT, owner=user)


# --- Connecting a payout account ---------------------------------------------------------------


def payout_account_link(*, worker: Any, return_url: str, refresh_url: str) -> str:
    """The URL of a Stripe onboarding link for the worker's Express account, creating
    the account first if the worker has none. Raises ApplicationError ``not_worker``."""
    if not getattr(worker, "is_worker", False):
        raise ApplicationError(
            "Only workers connect a payout account.", code="not_worker", status=403
        )
    client = stripe_gateway.client()
    account = PayoutAccount.objects.filter(worker=worker).first()
    if account is None:
        params: Any = {
            "type": "express",
            "email": getattr(worker, "email", "") or None,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"fairtask_user_id": str(worker.pk)},
        }
        created = client.v1.accounts.create(
            params=params, options={"idempotency_key": f"connect-account-{worker.pk}"}
        )
        try:
            with transaction.atomic():
                account = PayoutAccount.objects.create(
                    worker=worker,
                    stripe_account_id=created.id,
                    payouts_enabled=bool(created.to_dict().get("payouts_enabled")),
                )
        except IntegrityError:  # a concurrent request created it (same Stripe account)
            account = PayoutAccount.objects.get(worker=worker)
    link = client.v1.account_links.create(
        params={
            "account": account.stripe_account_id,
            "type": "account_onboarding",
            "return_url": return_url,
            "refresh_url": refresh_url,
        }
    )
    return str(link.url)


def payout_account_refresh(*, worker: Any) -> PayoutAccount | None:
    """Read the worker's account from Stripe and store whether it can be paid."""
    account = PayoutAccount.objects.filter(worker=worker).first()
    if account is None:
        return None
    remote = stripe_gateway.client().v1.accounts.retrieve(account.stripe_account_id)
    return _set_enabled(account.stripe_account_id, bool(remote.to_dict().get("payouts_enabled")))


def _set_enabled(stripe_account_id: str, enabled: bool) -> PayoutAccount | None:
    account = PayoutAccount.objects.filter(stripe_account_id=stripe_account_id).first()
    if account is not None and account.payouts_enabled != enabled:
        account.payouts_enabled = enabled
        account.updated_at = timezone.now()
        account.save(update_fields=["payouts_enabled", "updated_at"])
    return account


# --- Requesting ----------------------------------------------------------------------------------


def withdrawal_request(*, worker: Any, amount_cents: int) -> Withdrawal:
    """Take ``amount_cents`` off the worker's available balance into a new withdrawal
    and enqueue its transfer. Errors (nothing written, nothing moved):
    ``not_connected`` (no payout account, or onboarding not finished),
    ``below_minimum``, ``invalid_amount``, ``insufficient_funds``,
    ``withdrawal_in_flight`` (one is already requested or processing)."""
    amount_cents = ledger.validate_amount(amount_cents)
    account = PayoutAccount.objects.filter(worker=worker).first()
    if account is None or not account.payouts_enabled:
        raise ApplicationError(
            "Connect a payout account (and finish Stripe's onboarding) before withdrawing.",
            code="not_connected",
            status=409,
        )
    minimum = fees.platform_settings().withdrawal_minimum_cents
    if amount_cents < minimum:
        raise ApplicationError(
            f"The minimum withdrawal is {format_cents(minimum)}.",
            code="below_minimum",
            field="amount",
            status=400,
            extra={"minimum_cents": minimum},
        )
    try:
        with transaction.atomic():
            if Withdrawal.objects.filter(worker=worker, status__in=IN_FLIGHT).exists():
                raise _in_flight()
            withdrawal = Withdrawal.objects.create(
                worker=worker,
                amount_cents=amount_cents,
                stripe_account_id=account.stripe_account_id,
            )
            withdrawal.idempotency_key = f"withdrawal-{withdrawal.pk}"
            withdrawal.save(update_fields=["idempotency_key"])
            WithdrawalEvent.objects.create(
                withdrawal=withdrawal, old_status="", new_status=Status.REQUESTED
            )
            ledger.post(
                key=f"withdrawal-request-{withdrawal.pk}",
                kind=LedgerTransaction.Kind.WITHDRAWAL,
                lines=[
                    (ledger.worker_account(worker), -amount_cents),
                    (withdrawal_in_flight_account(worker), amount_cents),
                ],
                memo=f"Withdrawal {withdrawal.pk} requested",
            )
            transaction.on_commit(lambda: _enqueue(withdrawal.pk))
    except IntegrityError as exc:
        if "withdrawal_one_in_flight" in str(exc):
            raise _in_flight() from exc
        raise
    return withdrawal


def _in_flight() -> ApplicationError:
    return ApplicationError(
        "You already have a withdrawal in progress; wait until it is paid or failed.",
        code="withdrawal_in_flight",
        status=409,
    )


def _enqueue(withdrawal_id: int) -> None:
    from payouts.jobs import withdrawal_transfer

    withdrawal_transfer.delay(withdrawal_id)


# --- Status moves ------------------------------------------------------------------------------


def withdrawal_transition(
    *, withdrawal: Withdrawal, to: str, reason: str = "", stripe_event_id: str = ""
) -> WithdrawalEvent:
    """Move a locked, re-read withdrawal to ``to`` if ``WITHDRAWAL_TRANSITIONS``
    allows it, with its money: paid posts ``withdrawal-paid-<id>``, failed reverses the
    request (``withdrawal-return-<id>``). Emails the worker on paid/failed after commit.
    Raises ApplicationError ``illegal_transition``."""
    old = withdrawal.status
    require_transition(
        WITHDRAWAL_TRANSITIONS, old, to, lambda: f"A {old} withdrawal cannot become {to}."
    )
    if to == Status.PAID:
        ledger.post(
            key=f"withdrawal-paid-{withdrawal.pk}",
            kind=LedgerTransaction.Kind.WITHDRAWAL,
            lines=[
                (withdrawal_in_flight_account(withdrawal.worker), -withdrawal.amount_cents),
                (ledger.stripe_clearing_account(), withdrawal.amount_cents),
            ],
            memo=f"Withdrawal {withdrawal.pk} paid",
            external_ref=withdrawal.stripe_transfer_id or "",
        )
    elif to == Status.FAILED:
        request = LedgerTransaction.objects.get(
            idempotency_key=f"withdrawal-request-{withdrawal.pk}"
        )
        ledger.reverse(
            key=f"withdrawal-return-{withdrawal.pk}",
            transaction=request,
            memo=f"Withdrawal {withdrawal.pk} failed: money returned",
        )
        withdrawal.failure_reason = reason[:2000]
    withdrawal.status = to
    withdrawal.updated_at = timezone.now()
    withdrawal.save(update_fields=["status", "failure_reason", "stripe_transfer_id", "updated_at"])
    if to in (Status.PAID, Status.FAILED):
        transaction.on_commit(lambda: _email(withdrawal.pk))
    return WithdrawalEvent.objects.create(
        withdrawal=withdrawal,
        old_status=old,
        new_status=to,
        reason=reason,
        stripe_event_id=stripe_event_id,
    )


def _email(withdrawal_id: int) -> None:
    w = Withdrawal.objects.select_related("worker").get(pk=withdrawal_id)
    if not w.worker.email:
        return
    if w.status == Status.PAID:
        subject = f"Your withdrawal of {format_cents(w.amount_cents)} is on its way"
        body = (
            f"Stripe has accepted the transfer of {format_cents(w.amount_cents)} to your payout "
            "account; it reaches your bank on Stripe's payout schedule."
        )
    else:
        subject = f"Your withdrawal of {format_cents(w.amount_cents)} failed"
        body = (
            f"The withdrawal failed ({w.failure_reason or 'refused by Stripe'}). The money is "
            "back on your Fairtask balance; check your payout account and try again."
        )
    send_mail(
        subject=f"[Fairtask] {subject}",
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[w.worker.email],
    )


# --- The transfer job ----------------------------------------------------------------------------


class StripeBalancePending(Exception):
    """Stripe's available balance is short (funds still pending): retry later."""


def withdrawal_transfer(*, withdrawal_id: int) -> str:
    """Make the Stripe transfer of a requested withdrawal (idempotency key
    ``withdrawal-<id>``) and move it to processing; then try to confirm it paid.
    Returns the status. Raises ``StripeBalancePending`` (the job retries later) or a
    Stripe connection/API error (the job retries; the same key gets the same transfer)."""
    w = Withdrawal.objects.get(pk=withdrawal_id)
    if w.status != Status.REQUESTED:
        return w.status
    Withdrawal.objects.filter(pk=w.pk).update(attempts=w.attempts + 1)
    client = stripe_gateway.client(max_network_retries=0)
    available = _stripe_available_cents(client)
    if available < w.amount_cents:
        # Asked first: Stripe keeps a refusal under the idempotency key, so a transfer
        # tried too early would keep failing with that key for a day.
        raise StripeBalancePending(
            f"Stripe has {available} cents available, the withdrawal needs {w.amount_cents}"
        )
    try:
        transfer = client.v1.transfers.create(
            params={
                "amount": w.amount_cents,
                "currency": settings.STRIPE_CURRENCY,
                "destination": w.stripe_account_id,
                "transfer_group": f"withdrawal-{w.pk}",
                "metadata": {"withdrawal_id": str(w.pk)},
            },
            options={"idempotency_key": w.idempotency_key or f"withdrawal-{w.pk}"},
        )
    except stripe.InvalidRequestError as exc:
        if exc.code == "balance_insufficient":
            # A refusal: no transfer exists. Stripe keeps it under this key, so the
            # next attempt needs a new one (stored, so every retry of it is the same).
            Withdrawal.objects.filter(pk=w.pk, status=Status.REQUESTED).update(
                idempotency_key=f"withdrawal-{w.pk}-retry-{w.attempts + 1}"
            )
            raise StripeBalancePending(str(exc.user_message or exc)) from exc
        with transaction.atomic():
            locked = Withdrawal.objects.select_for_update().get(pk=w.pk)
            if locked.status == Status.REQUESTED:
                withdrawal_transition(
                    withdrawal=locked,
                    to=Status.FAILED,
                    reason=str(exc.user_message or exc.code or "refused by Stripe"),
                )
        return Status.FAILED
    return _apply_transfer(withdrawal_id=w.pk, transfer=transfer.to_dict())


def _stripe_available_cents(client: stripe.StripeClient) -> int:
    balance = client.v1.balance.retrieve().to_dict()
    return sum(
        int(b.get("amount") or 0)
        for b in balance.get("available", [])
        if b.get("currency") == settings.STRIPE_CURRENCY
    )


def _apply_transfer(*, withdrawal_id: int, transfer: dict[str, Any], event_id: str = "") -> str:
    """Bring the withdrawal in line with Stripe's transfer (as Stripe returned it)."""
    with transaction.atomic():
        w = Withdrawal.objects.select_for_update().select_related("worker").get(pk=withdrawal_id)
        if w.status in (Status.PAID, Status.FAILED):
            return w.status
        if (
            int(transfer.get("amount") or 0) != w.amount_cents
            or transfer.get("destination") != w.stripe_account_id
        ):
            logger.error(
                "withdrawal %s: Stripe transfer %s does not match", w.pk, transfer.get("id")
            )
            return w.status
        if w.stripe_transfer_id is None:
            w.stripe_transfer_id = str(transfer["id"])
        reversed_ = bool(transfer.get("reversed")) or int(transfer.get("amount_reversed") or 0) > 0
        if w.status == Status.REQUESTED:
            withdrawal_transition(withdrawal=w, to=Status.PROCESSING, stripe_event_id=event_id)
        if reversed_:
            withdrawal_transition(
                withdrawal=w,
                to=Status.FAILED,
                reason="the transfer was reversed",
                stripe_event_id=event_id,
            )
        else:
            withdrawal_transition(withdrawal=w, to=Status.PAID, stripe_event_id=event_id)
        return w.status


# --- Webhooks and reconciliation ------------------------------------------------------------------


def prefetch_event(data: dict[str, Any]) -> dict[str, Any] | None:
    """Before the event's transaction: Stripe's own copy of the object a withdrawal
    event is about (a transfer, or a connected account), or None if not ours."""
    event_type = data.get("type", "")
    obj = (data.get("data") or {}).get("object") or {}
    if not obj.get("id") or (event_type not in TRANSFER_EVENTS and event_type != "account.updated"):
        return None
    client = stripe_gateway.client()
    try:
        if event_type in TRANSFER_EVENTS:
            return client.v1.transfers.retrieve(str(obj["id"])).to_dict()
        return client.v1.accounts.retrieve(str(obj["id"])).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            logger.error(
                "Stripe event %s names %s, which Stripe does not know", data.get("id"), obj["id"]
            )
            return None  # recorded, nothing applied (a forged or foreign event)
        raise


def apply_event(*, data: dict[str, Any], remote: dict[str, Any]) -> None:
    """Inside the event's transaction (after its ``StripeEvent`` row): apply it."""
    if data.get("type") == "account.updated":
        _set_enabled(str(remote["id"]), bool(remote.get("payouts_enabled")))
        return
    withdrawal_id = str((remote.get("metadata") or {}).get("withdrawal_id") or "")
    if not withdrawal_id.isdigit():
        return
    if not Withdrawal.objects.filter(pk=int(withdrawal_id)).exists():
        return
    _apply_transfer(withdrawal_id=int(withdrawal_id), transfer=remote, event_id=str(data["id"]))


def withdrawals_reconcile(*, limit: int = 500) -> int:
    """For each withdrawal still in flight: look for its transfer at Stripe (by
    ``transfer_group``) and apply what Stripe says; a requested one with no transfer is
    re-enqueued. Returns how many changed state."""
    changed = 0
    client = stripe_gateway.client()
    for w in Withdrawal.objects.filter(status__in=IN_FLIGHT).order_by("id")[:limit]:
        found = client.v1.transfers.list(
            params={"transfer_group": f"withdrawal-{w.pk}", "limit": 1}
        )
        if found.data:
            before = w.status
            if _apply_transfer(withdrawal_id=w.pk, transfer=found.data[0].to_dict()) != before:
                changed += 1
        elif w.status == Status.REQUESTED:
            _enqueue(w.pk)
    return changed


# --- Reads ---------------------------------------------------------------------------------------


def withdrawals_for(worker: Any, *, limit: int = 50) -> list[Withdrawal]:
    return list(Withdrawal.objects.filter(worker=worker).order_by("-id")[:limit])
