"""Compare our deposits with what Stripe says was paid (``manage.py reconcile_stripe``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from payouts import stripe_gateway
from payouts.models import Deposit, LedgerTransaction

if TYPE_CHECKING:
    from stripe.params.checkout import SessionListParams


@dataclass(frozen=True)
class Difference:
    kind: str
    reference: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.reference}: {self.detail}"


def reconcile_deposits(*, since: datetime | None = None) -> tuple[int, list[Difference]]:
    """Returns (sessions checked, differences).

    Differences named: ``paid_not_credited`` (Stripe collected, we credited nothing),
    ``amount_mismatch``, ``credited_not_paid`` (a completed deposit whose session Stripe
    does not show as paid), ``ledger_missing`` (deposit completed without its ledger
    transaction ``deposit-<session id>``).
    """
    params: SessionListParams = {"limit": 100}
    if since is not None:
        params["created"] = {"gte": int(since.timestamp())}
    paid: dict[str, int] = {}
    checked = 0
    for session in (
        stripe_gateway.client().v1.checkout.sessions.list(params=params).auto_paging_iter()
    ):
        checked += 1
        if session.payment_status == "paid" and session.status == "complete":
            paid[session.id] = int(session.amount_total or 0)

    differences: list[Difference] = []
    deposits = Deposit.objects.exclude(checkout_session_id=None)
    if since is not None:
        deposits = deposits.filter(created_at__gte=since)
    # The exclude above already drops deposits without a session; the test here narrows the type.
    ours = {d.checkout_session_id: d for d in deposits if d.checkout_session_id is not None}
    keys = set(
        LedgerTransaction.objects.filter(
            idempotency_key__in=[f"deposit-{sid}" for sid in ours]
        ).values_list("idempotency_key", flat=True)
    )
    for session_id, amount in paid.items():
        deposit = ours.get(session_id)
        if deposit is None or deposit.status != Deposit.Status.COMPLETED:
            differences.append(
                Difference("paid_not_credited", session_id, f"Stripe collected {amount}¢")
            )
        elif deposit.credited_cents != amount:
            differences.append(
                Difference(
                    "amount_mismatch",
                    session_id,
                    f"Stripe collected {amount}¢, credited {deposit.credited_cents}¢",
                )
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
        if f"deposit-{session_id}" not in keys:
            differences.append(
                Difference(
                    "ledger_missing", session_id, f"deposit {deposit.pk} has no ledger credit"
                )
            )
    return checked, differences
