"""Fixtures for the payouts tests."""

from __future__ import annotations

import pytest

from payouts import ledger


@pytest.fixture
def funded_requester(requester):
    """A requester with $50.00 deposited."""
    ledger.deposit(
        key="deposit-cs_fixture", user=requester, amount_cents=5000, external_ref="cs_fixture"
    )
    return requester
