"""The statement and the staff money overview name ledger accounts as people say them,
never by their internal kinds (``batch_escrow``, "Requester available")."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from payouts import ledger
from tests.fixtures.users import RequesterFactory, UserFactory

pytestmark = pytest.mark.django_db

INTERNAL = (
    "requester_available",
    "batch_escrow",
    "worker_available",
    "platform_revenue",
    "stripe_clearing",
    "Requester available",
)


def test_the_statement_names_the_account_for_people(client):
    requester = RequesterFactory()
    ledger.deposit(key="d-1", user=requester, amount_cents=5_000)
    ledger.hold(key="hold-batch-7", user=requester, batch_id=7, amount_cents=3_600)
    client.force_login(requester)
    page = client.get("/payouts/statement/").content.decode()
    assert "Requester balance" in page
    assert not [name for name in INTERNAL if name in page]
    assert re.search(r'data-label="Amount" class="num bad">−\$36\.00<', page)


def test_the_money_overview_names_accounts_and_has_no_empty_header(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    TOTP.activate(staff, generate_totp_secret())
    requester = RequesterFactory()
    ledger.deposit(key="d-1", user=requester, amount_cents=5_000)
    ledger.hold(key="hold-batch-7", user=requester, batch_id=7, amount_cents=3_600)
    client.force_login(staff)
    page = client.get("/payouts/staff/money/").content.decode()
    assert "Batch escrow (held for published batches)" in page
    assert ">Requester balance<" in page
    visible = re.sub(r'href="[^"]*"', "", page)  # the filter links keep the kinds
    assert not [name for name in INTERNAL if name in visible]
    assert "<th></th>" not in page
