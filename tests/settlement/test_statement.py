"""Each entry's balance after posting is set by the database (a forged value is
overwritten), and statements page by key on it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from payouts import ledger
from payouts.models import LedgerEntry
from tests.fixtures.users import RequesterFactory

pytestmark = pytest.mark.django_db


def test_balance_after_is_the_databases_and_cannot_be_changed():
    user = RequesterFactory()
    ledger.deposit(key="deposit-a", user=user, amount_cents=1000, external_ref="cs_a")
    ledger.deposit(key="deposit-b", user=user, amount_cents=250, external_ref="cs_b")
    account = ledger.requester_account(user)
    assert [e.balance_after_cents for e in ledger.statement(account)] == [1250, 1000]
    # A raw INSERT naming its own balance_after gets the database's value instead.
    clearing = ledger.stripe_clearing_account()
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)"
            " VALUES ('forged', 'deposit', '', 'cs_f', now()) RETURNING id"
        )
        (txn,) = c.fetchone()
        c.execute(
            "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents, created_at)"
            " VALUES (%s, %s, 5, 999999, now()), (%s, %s, -5, 0, now())",
            [txn, account.pk, txn, clearing.pk],
        )
    newest = ledger.statement(account).first()
    assert newest.balance_after_cents == 1255
    # The runtime role has no UPDATE on entries (and the append-only trigger refuses it).
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=newest.pk).update(balance_after_cents=1)
    assert ledger.ledger_violations() == []


def test_statement_pages_by_key():
    user = RequesterFactory()
    for i in range(7):
        ledger.deposit(key=f"deposit-{i}", user=user, amount_cents=100, external_ref=f"cs_{i}")
    account = ledger.requester_account(user)
    first = ledger.statement_page(account, size=3)
    assert [e.balance_after_cents for e in first.entries] == [700, 600, 500]
    second = ledger.statement_page(account, before_id=first.next_before_id, size=3)
    assert [e.balance_after_cents for e in second.entries] == [400, 300, 200]
    last = ledger.statement_page(account, before_id=second.next_before_id, size=3)
    assert [e.balance_after_cents for e in last.entries] == [100]
    assert last.next_before_id is None


def test_statement_page_view_uses_before_key(client):
    user = RequesterFactory()
    for i in range(55):
        ledger.deposit(key=f"deposit-v{i}", user=user, amount_cents=100, external_ref=f"cs_v{i}")
    client.force_login(user)
    page = client.get("/payouts/statement/")
    assert page.status_code == 200 and b"?before=" in page.content
    older = client.get(f"/payouts/statement/?before={page.context['page'].next_before_id}")
    assert [e.balance_after_cents for e in older.context["page"].entries] == [
        500,
        400,
        300,
        200,
        100,
    ]
    assert client.get("/payouts/statement/?before=junk").status_code == 200
