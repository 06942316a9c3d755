"""Requester funding through Stripe Checkout (the simulator), credited by webhook."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.errors import ApplicationError
from payouts import funding, ledger
from payouts.models import Deposit, LedgerTransaction, StripeEvent
from payouts.stripe_sim.testing import WEBHOOK_SECRET
from tests.fixtures.users import RequesterFactory, WorkerFactory

WEBHOOK = "/payouts/stripe/webhook/"


@pytest.fixture
def stripe_settings(settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return stripe_sim


def _sign(payload: bytes, secret: str = WEBHOOK_SECRET) -> str:
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _balance(user) -> int:
    return ledger.requester_account(user).balance_cents


def _pay(sim, deposit: Deposit) -> dict:
    """Pay on the simulator's hosted page as the requester's browser would."""
    return sim.complete_checkout(deposit.checkout_session_id)


def _completed_event(sim, session_id: str) -> dict:
    return next(
        e
        for e in sim.events()
        if e["type"] == "checkout.session.completed" and e["data"]["object"]["id"] == session_id
    )


@pytest.mark.django_db
def test_deposit_start_creates_a_checkout_session_with_our_idempotency_key(stripe_settings):
    requester = RequesterFactory()
    deposit = funding.deposit_start(user=requester, amount_cents=2500, site_url="http://testserver")
    assert deposit.status == Deposit.Status.PENDING
    session = stripe_settings.get(deposit.checkout_session_id)
    assert session["amount_total"] == 2500
    assert session["client_reference_id"] == str(deposit.pk)
    assert session["metadata"]["deposit_id"] == str(deposit.pk)
    assert deposit.checkout_url.startswith(stripe_settings.base_url)
    assert (
        session["success_url"]
        == "http://testserver/payouts/funds/return/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert _balance(requester) == 0  # nothing is credited before Stripe says it was paid


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (499, "The minimum top-up is $5.00."),
        (1_000_001, "The maximum top-up is $10,000.00."),
    ],
)
def test_topup_limits(stripe_settings, amount, message):
    requester = RequesterFactory()
    with pytest.raises(ApplicationError, match=message.replace("$", r"\$").replace(".", r"\.")):
        funding.deposit_start(user=requester, amount_cents=amount, site_url="http://testserver")
    assert not Deposit.objects.exists()
    assert stripe_settings.objects("checkout.session") == []


@pytest.mark.django_db
def test_workers_cannot_add_funds(stripe_settings):
    with pytest.raises(ApplicationError, match="Only requesters can add funds"):
        funding.deposit_start(user=WorkerFactory(), amount_cents=1000, site_url="http://testserver")


@pytest.mark.django_db
def test_stripe_failure_is_a_clear_error_and_credits_nothing(stripe_settings):
    stripe_settings.inject_fault("POST", "/v1/checkout/sessions", "server_error", count=5)
    requester = RequesterFactory()
    with pytest.raises(
        ApplicationError, match="could not be opened right now; nothing was charged"
    ):
        funding.deposit_start(user=requester, amount_cents=1000, site_url="http://testserver")
    assert _balance(requester) == 0


@pytest.mark.django_db
def test_bad_signature_is_refused_and_changes_nothing(client, stripe_settings):
    requester = RequesterFactory()
    deposit = funding.deposit_start(user=requester, amount_cents=1000, site_url="http://testserver")
    _pay(stripe_settings, deposit)
    payload = json.dumps(_completed_event(stripe_settings, deposit.checkout_session_id)).encode()
    for signature in ("", "t=1,v1=deadbeef", _sign(payload, secret="whsec_wrong")):
        response = client.post(
            WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert _balance(requester) == 0
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.PENDING


@pytest.mark.django_db
def test_duplicate_event_credits_once(client, stripe_settings):
    requester = RequesterFactory()
    deposit = funding.deposit_start(user=requester, amount_cents=1234, site_url="http://testserver")
    _pay(stripe_settings, deposit)
    payload = json.dumps(_completed_event(stripe_settings, deposit.checkout_session_id)).encode()
    for _ in range(3):
        response = client.post(
            WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(payload)
        )
        assert response.status_code == 200
    assert _balance(requester) == 1234
    assert StripeEvent.objects.count() == 1
    assert (
        LedgerTransaction.objects.filter(
            idempotency_key=f"deposit-{deposit.checkout_session_id}"
        ).count()
        == 1
    )
    deposit.refresh_from_db()
    assert (deposit.status, deposit.credited_cents) == (Deposit.Status.COMPLETED, 1234)


@pytest.mark.django_db
def test_events_out_of_order(stripe_settings):
    """An 'expired' arriving after 'completed' changes nothing; a 'completed' arriving
    before we stored the session id still finds the deposit by our own id."""
    requester = RequesterFactory()
    deposit = funding.deposit_start(user=requester, amount_cents=800, site_url="http://testserver")
    _pay(stripe_settings, deposit)
    completed = _completed_event(stripe_settings, deposit.checkout_session_id)
    Deposit.objects.filter(pk=deposit.pk).update(checkout_session_id=None)  # the race: event first
    assert funding.process_event(completed) is True
    expired = {**completed, "id": "evt_late_expired", "type": "checkout.session.expired"}
    assert funding.process_event(expired) is True
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.COMPLETED
    assert deposit.checkout_session_id == completed["data"]["object"]["id"]
    assert _balance(requester) == 800


@pytest.mark.django_db
def test_expired_session_marks_the_deposit_and_credits_nothing(stripe_settings):
    requester = RequesterFactory()
    deposit = funding.deposit_start(user=requester, amount_cents=800, site_url="http://testserver")
    funding.deposit_cancel(user=requester, deposit_id=deposit.pk)
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.CANCELLED
    assert stripe_settings.get(deposit.checkout_session_id)["status"] == "expired"
    expired = next(e for e in stripe_settings.events() if e["type"] == "checkout.session.expired")
    funding.process_event(expired)
    assert _balance(requester) == 0


@pytest.mark.django_db(transaction=True)
def test_webhook_delivered_live_and_a_500_retried_credits_once(
    live_server, stripe_settings, monkeypatch
):
    stripe_settings.set_webhook(live_server.url + WEBHOOK, WEBHOOK_SECRET)
    requester = RequesterFactory()
    deposit = funding.deposit_start(user=requester, amount_cents=5000, site_url=live_server.url)

    # Our handler fails once after writing the event row: the whole transaction rolls
    # back, we answer 500, and Stripe (the simulator) retries.
    real_apply = funding._apply_checkout_event
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        real_apply(**kwargs)
        if calls["n"] == 1:
            raise RuntimeError("crash after the credit, before commit")

    monkeypatch.setattr(funding, "_apply_checkout_event", flaky)
    _pay(stripe_settings, deposit)
    ok = stripe_settings.wait_for_deliveries(1, event_type="checkout.session.completed", timeout=15)
    attempts = [
        d for d in stripe_settings.deliveries if d.event_type == "checkout.session.completed"
    ]
    assert [d.status for d in attempts] == [500, 200]
    assert ok[0].attempt == 2
    assert _balance(requester) == 5000
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1
    call_command("ledger_check")


@pytest.mark.django_db
def test_return_page_shows_processing_until_the_webhook_arrives(client, stripe_settings):
    requester = RequesterFactory()
    client.force_login(requester)
    deposit = funding.deposit_start(user=requester, amount_cents=2000, site_url="http://testserver")
    _pay(stripe_settings, deposit)  # paid at Stripe, but no webhook has reached us yet
    url = reverse("payouts:funds_return") + f"?session_id={deposit.checkout_session_id}"
    page = client.get(url)
    assert b"Processing your payment of $20.00" in page.content
    assert b"$20.00 added" not in page.content
    funding.process_event(_completed_event(stripe_settings, deposit.checkout_session_id))
    page = client.get(url, HTTP_HX_REQUEST="true")
    assert b"$20.00 added to your balance." in page.content
    assert b"hx-trigger" not in page.content  # polling stops


@pytest.mark.django_db
def test_other_requesters_cannot_see_a_deposit(client, stripe_settings):
    owner, other = RequesterFactory(), RequesterFactory()
    deposit = funding.deposit_start(user=owner, amount_cents=2000, site_url="http://testserver")
    client.force_login(other)
    url = reverse("payouts:funds_return") + f"?session_id={deposit.checkout_session_id}"
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_statement_and_csv(client, stripe_settings):
    requester = RequesterFactory()
    for amount in (1000, 2550):
        deposit = funding.deposit_start(
            user=requester, amount_cents=amount, site_url="http://testserver"
        )
        _pay(stripe_settings, deposit)
        funding.process_event(_completed_event(stripe_settings, deposit.checkout_session_id))
    client.force_login(requester)
    page = client.get(reverse("payouts:statement")).content.decode()
    assert "$35.50" in page and "$25.50" in page and "$10.00" in page
    csv_text = b"".join(client.get(reverse("payouts:statement_csv")).streaming_content).decode()
    lines = csv_text.strip().splitlines()
    assert lines[0] == "date,transaction,kind,description,amount,balance"
    assert lines[1].endswith(",25.50,35.50") and lines[2].endswith(",10.00,10.00")


@pytest.mark.django_db
def test_reconcile_finds_paid_but_not_credited(stripe_settings):
    requester = RequesterFactory()
    credited = funding.deposit_start(
        user=requester, amount_cents=1000, site_url="http://testserver"
    )
    _pay(stripe_settings, credited)
    funding.process_event(_completed_event(stripe_settings, credited.checkout_session_id))
    call_command("reconcile_stripe")  # all in agreement

    missed = funding.deposit_start(user=requester, amount_cents=700, site_url="http://testserver")
    _pay(stripe_settings, missed)  # the webhook never reached us
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 difference"):
        call_command("reconcile_stripe", stdout=out)
    # Stripe holds 700 − (20 + 30) = 650¢ more than the ledger's clearing mirrors.
    assert out.getvalue().splitlines() == [
        f"paid_not_credited: {missed.checkout_session_id}: Stripe collected 700 usd",
        "clearing_mismatch: stripe_clearing: Stripe holds 1591¢ (available + pending), "
        "the ledger's Stripe clearing mirrors 941¢",
    ]
    # Catching up from Stripe's event list applies it through the same handler.
    assert funding.sync_events() == 1
    call_command("reconcile_stripe")
    assert _balance(requester) == 1700


@pytest.mark.django_db
def test_money_overview_is_staff_only(client):
    client.force_login(RequesterFactory())
    assert client.get(reverse("payouts:money_overview")).status_code == 302
