"""Pytest fixtures for the Stripe simulator; register with
``pytest_plugins = ["payouts.stripe_sim.pytest_plugin"]``.

``stripe_sim``
    a fresh :class:`StripeSimulator` on a free loopback port for each test,
    with short webhook retry delays, stopped afterwards. It has no webhook URL;
    a test that wants deliveries calls ``stripe_sim.set_webhook(url, secret)``
    (e.g. with pytest-django's ``live_server.url``) or uses
    ``stripe_webhook_receiver``.
``stripe_webhook_receiver``
    a recording HTTP endpoint already wired to ``stripe_sim`` with
    :data:`WEBHOOK_SECRET`.
``stripe_sim_client``
    ``stripe.StripeClient`` pointed at the simulator, without automatic
    retries, so injected faults reach the test.

None of these touches the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .simulator import StripeSimulator
from .testing import API_KEY, WEBHOOK_SECRET, WebhookReceiver

if TYPE_CHECKING:
    import stripe

__all__ = [
    "API_KEY",
    "WEBHOOK_SECRET",
    "stripe_sim",
    "stripe_sim_client",
    "stripe_webhook_receiver",
]


@pytest.fixture
def stripe_sim() -> Iterator[StripeSimulator]:
    sim = StripeSimulator(
        webhook_secret=WEBHOOK_SECRET,
        webhook_backoff=0.05,
        webhook_max_backoff=0.5,
        webhook_max_attempts=5,
        webhook_timeout=5.0,
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def stripe_webhook_receiver(stripe_sim: StripeSimulator) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    stripe_sim.set_webhook(receiver.url, WEBHOOK_SECRET)
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def stripe_sim_client(stripe_sim: StripeSimulator) -> stripe.StripeClient:
    import stripe

    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": stripe_sim.base_url, "connect": stripe_sim.base_url},
        max_network_retries=0,
    )
