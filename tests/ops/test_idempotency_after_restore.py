"""After a restore rolls the deposit id sequence back, a new deposit can get the id of
one whose Checkout call Stripe has already seen. Its idempotency key must still be new:
the key carries the row's random token, so Stripe (here the simulator, which implements
Stripe's idempotency rules) creates a new session instead of refusing the call."""

from __future__ import annotations

import pytest

from payouts import funding
from payouts.stripe_sim.testing import WEBHOOK_SECRET
from tests.fixtures.users import RequesterFactory
from tests.payouts.ledger_helpers import owner_connection


@pytest.mark.django_db(transaction=True)
def test_reused_deposit_id_gets_a_new_idempotency_key(settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    requester = RequesterFactory()
    first = funding.deposit_start(user=requester, amount_cents=2_000, site_url="http://testserver")
    first_key, first_session = first.checkout_idempotency_key, first.checkout_session_id
    assert first_key == f"checkout-deposit-{first.pk}-{first.idempotency_token.hex}"

    # The restore of a backup taken before that deposit: the row is gone and the
    # sequence hands its id out again. (The application's role may not delete deposits
    # or move sequences; a restore is done by the owner.)
    with owner_connection() as conn:
        conn.execute("DELETE FROM payouts_depositevent WHERE deposit_id = %s", [first.pk])
        conn.execute("DELETE FROM payouts_deposit WHERE id = %s", [first.pk])
        conn.execute("SELECT setval('payouts_deposit_id_seq', %s, false)", [first.pk])

    second = funding.deposit_start(user=requester, amount_cents=3_000, site_url="http://testserver")
    assert second.pk == first.pk
    assert second.checkout_idempotency_key != first_key
    assert second.checkout_session_id != first_session
    assert stripe_sim.get(second.checkout_session_id)["amount_total"] == 3_000
