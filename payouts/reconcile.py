"""Compare our deposits and ledger with what Stripe says (``manage.py reconcile_stripe``).

Stripe is asked for every Checkout Session with its payment's balance transaction
(``payment_intent.latest_charge.balance_transaction``), so amounts are compared, not
only ids: what Stripe collected, the fee it kept and the currency, against the Deposit
row and against the ledger transaction ``deposit-<session id>``. Finally the ledger's
Stripe clearing account must mirror Stripe's balance (available + pending).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from payouts import stripe_gateway
from payouts.models import Deposit, LedgerAccount, LedgerEntry, LedgerTransaction

if TYPE_CHECKING:
    from stripe.params.checkout import SessionListParams

Kind = LedgerAccount.Kind


@dataclass(frozen=True)
class Difference:
    kind: str
    reference: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.reference}: {self.detail}"


@dataclass(frozen=True)
class _Paid:
    amount: int
    currency: str
    fee: int | None
    fee_currency: str | None


def _paid_sessions(since: datetime | None) -> tuple[int, dict[str, _Paid]]:
    params: SessionListParams = {
        "limit": 100,
        "expand": ["data.payment_intent.latest_charge.balance_transaction"],
    }
    if since is not None:
        params["created"] = {"gte": int(since.timestamp())}
    paid: dict[str, _Paid] = {}
    checked = 0
    for session in (
        stripe_gateway.client().v1.checkout.sessions.list(params=params).auto_paging_iter()
    ):
        checked += 1
        if session.payment_status != "paid" or session.status != "complete":
            continue
        data: dict[str, Any] = session.to_dict()
        bt = ((data.get("payment_intent") or {}).get("latest_charge") or {}).get(
            "balance_transaction"
        )
        paid[session.id] = _Paid(
            amount=int(session.amount_total or 0),
            currency=str(session.currency or ""),
            fee=int(bt["fee"]) if isinstance(bt, dict) else None,
            fee_currency=str(bt["currency"]) if isinstance(bt, dict) else None,
        )
    return checked, paid


def _ledger_lines(keys: list[str]) -> dict[str, dict[str, int]]:
    """Per deposit key: the signed amount on each account kind."""
    lines: dict[str, dict[str, int]] = {}
    for key, kind, amount in LedgerEntry.objects.filter(
        transaction__idempotency_key__in=keys
    ).values_list("transaction__idempotency_key", "account__kind", "amount_cents"):
        lines.setdefault(key, {}).setdefault(kind, 0)
        lines[key][kind] += amount
    return lines


def reconcile_deposits(*, since: datetime | None = None) -> tuple[int, list[Difference]]:
    """Returns (sessions checked, differences), each named:

    - ``paid_not_credited``: Stripe collected, we credited nothing;
    - ``credited_not_paid``: a completed deposit whose session Stripe does not show paid;
    - ``amount_mismatch``: the amount credited (Deposit or ledger) is not what Stripe
      collected;
    - ``fee_mismatch``: the fee recorded (Deposit or the ledger's ``stripe_fees``
      entry) is not the fee on Stripe's balance transaction;
    - ``currency_mismatch``: Stripe collected in another currency than the deposit's;
    - ``ledger_missing``: a completed deposit without its ledger transaction;
    - ``clearing_mismatch``: the Stripe clearing account does not mirror Stripe's
      balance (available + pending); only checked over all time (no ``since``).
    """
    checked, paid = _paid_sessions(since)
    differences: list[Difference] = []
    deposits = Deposit.objects.exclude(checkout_session_id=None)
    if since is not None:
        deposits = deposits.filter(created_at__gte=since)
    # The exclude above already drops deposits without a session; the test here narrows the type.
    ours = {d.checkout_session_id: d for d in deposits if d.checkout_session_id is not None}
    keys = [f"deposit-{sid}" for sid in ours]
    existing = set(
        LedgerTransaction.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    lines = _ledger_lines(keys)

    for session_id, stripe_paid in paid.items():
        deposit = ours.get(session_id)
        if deposit is None or deposit.status != Deposit.Status.COMPLETED:
            differences.append(
                Difference(
                    "paid_not_credited",
                    session_id,
                    f"Stripe collected {stripe_paid.amount} {stripe_paid.currency}",
                )
            )
            continue
        differences += _compare(
            session_id, deposit, stripe_paid, lines.get(f"deposit-{session_id}")
        )
    for session_id, deposit in ours.items():
        if deposit.status != Deposit.Status.COMPLETED:
            continue
        if session_id not in paid:
            differences.append(
                Difference(
                    "credited_not_paid",
                    session_id,
                    f"deposit {deposit.pk} credited "
                    f"{deposit.credited_cents}¢ but Stripe shows no payment",
                )
            )
        if f"deposit-{session_id}" not in existing:
            differences.append(
                Difference(
                    "ledger_missing", session_id, f"deposit {deposit.pk} has no ledger credit"
                )
            )
    if since is None:
        differences += _compare_clearing()
    return checked, differences


def _compare(
    session_id: str, deposit: Deposit, stripe_paid: _Paid, ledger: dict[str, int] | None
) -> list[Difference]:
    found: list[Difference] = []
    if stripe_paid.currency != deposit.currency:
        found.append(
            Difference(
                "currency_mismatch",
                session_id,
                f"Stripe collected in {stripe_paid.currency}, deposit {deposit.pk} is in "
                f"{deposit.currency}",
            )
        )
    if deposit.credited_cents != stripe_paid.amount:
        found.append(
            Difference(
                "amount_mismatch",
                session_id,
                f"Stripe collected {stripe_paid.amount}¢, deposit {deposit.pk} credited "
                f"{deposit.credited_cents}¢",
            )
        )
    if stripe_paid.fee is not None and deposit.fee_cents != stripe_paid.fee:
        found.append(
            Difference(
                "fee_mismatch",
                session_id,
                f"Stripe's fee is {stripe_paid.fee}¢, deposit {deposit.pk} records "
                f"{deposit.fee_cents}¢",
            )
        )
    if ledger is not None:
        credited = ledger.get(Kind.REQUESTER_AVAILABLE, 0)
        if credited != stripe_paid.amount:
            found.append(
                Difference(
                    "amount_mismatch",
                    session_id,
                    f"Stripe collected {stripe_paid.amount}¢, the ledger credited {credited}¢",
                )
            )
        booked_fee = -ledger.get(Kind.STRIPE_FEES, 0)
        if stripe_paid.fee is not None and booked_fee != stripe_paid.fee:
            found.append(
                Difference(
                    "fee_mismatch",
                    session_id,
                    f"Stripe's fee is {stripe_paid.fee}¢, the ledger booked {booked_fee}¢ "
                    "on stripe_fees",
                )
            )
    return found


def _compare_clearing() -> list[Difference]:
    balance: dict[str, Any] = stripe_gateway.client().v1.balance.retrieve().to_dict()
    currency = settings.STRIPE_CURRENCY
    at_stripe = sum(
        int(part["amount"])
        for part in [*balance["available"], *balance["pending"]]
        if part["currency"] == currency
    )
    clearing = (
        LedgerAccount.objects.filter(kind=Kind.STRIPE_CLEARING)
        .values_list("balance_cents", flat=True)
        .first()
    ) or 0
    if -clearing != at_stripe:
        return [
            Difference(
                "clearing_mismatch",
                "stripe_clearing",
                f"Stripe holds {at_stripe}¢ (available + pending), the ledger's Stripe clearing "
                f"mirrors {-clearing}¢",
            )
        ]
    return []
