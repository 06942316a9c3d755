"""The one place that builds the Stripe client.

With real keys (``STRIPE_SECRET_KEY``) it talks to Stripe; in development and tests it
talks to the simulator at ``STRIPE_API_BASE``. Only the API base differs: every call
site is the same code with the official ``stripe`` library.
"""

from __future__ import annotations

import stripe
from django.conf import settings


def client(*, max_network_retries: int = 2) -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        # Inline so that mypy checks the literal against stripe's BaseAddresses TypedDict.
        base_addresses={"api": base, "connect": base} if base else None,
        max_network_retries=max_network_retries,
    )


def construct_event(payload: bytes, signature: str) -> stripe.Event:
    """Verify a webhook's signature on the raw body and parse it.

    Raises ``stripe.SignatureVerificationError`` or ``ValueError`` on a bad one.
    """
    return stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
