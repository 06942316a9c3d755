"""Names of ledger accounts for people (the statement, the money overview): the
account kinds are internal identifiers (``batch_escrow``) and their model labels read
like them ("Requester available")."""

from __future__ import annotations

from django import template

from payouts.models import LedgerAccount

register = template.Library()

Kind = LedgerAccount.Kind

ACCOUNT_NAMES: dict[str, str] = {
    Kind.REQUESTER_AVAILABLE: "Requester balance",
    Kind.BATCH_ESCROW: "Batch escrow (held for published batches)",
    Kind.WORKER_AVAILABLE: "Worker earnings",
    Kind.PLATFORM_REVENUE: "Platform revenue (fees)",
    Kind.STRIPE_CLEARING: "Money at Stripe (top-ups received)",
}


@register.filter
def account_name(kind: str) -> str:
    """``batch_escrow`` → "Batch escrow (held for published batches)"."""
    return ACCOUNT_NAMES.get(kind, str(kind).replace("_", " ").capitalize())
