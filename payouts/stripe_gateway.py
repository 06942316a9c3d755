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


def webhook_secrets(*, connect: bool = False) -> list[str]:
    """The signing secrets of the account (or Connect) endpoint: a comma-separated
    setting, so during a rotation both the old and the new secret verify."""
    value = settings.STRIPE_CONNECT_WEBHOOK_SECRET if connect else settings.STRIPE_WEBHOOK_SECRET
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def construct_event(payload: bytes, signature: str, *, connect: bool = False) -> stripe.Event:
    """Verify a webhook's signature on the raw body against the endpoint's secrets and
    parse it.

    Raises ``stripe.SignatureVerificationError`` or ``ValueError`` on a bad one.
    """
    secrets = webhook_secrets(connect=connect)
    if not secrets:
        raise stripe.SignatureVerificationError("no webhook signing secret configured", signature)
    error: stripe.SignatureVerificationError | None = None
    for secret in secrets:
        try:
            return stripe.Webhook.construct_event(payload, signature, secret)
        except stripe.SignatureVerificationError as exc:
            error = exc
    assert error is not None
    raise error
