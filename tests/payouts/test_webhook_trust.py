"""The webhook trusts only Stripe (issue 14, attacks 8–11).

Each forged event below carries a *valid* signature (the secret leaked, or a bug signed
the wrong thing): the second line of defence is that the credit follows Stripe's own
copy of the Checkout Session, retrieved from Stripe (the simulator), never the event.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time

import pytest
import stripe
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.errors import ApplicationError
from payouts import funding, ledger
from payouts.models import (
    Deposit,
    DepositEvent,
    LedgerEntry,
    LedgerTransaction,
    StripeAlert,
    StripeEvent,
)
from payouts.stripe_sim.testing import API_KEY, WEBHOOK_SECRET
from tests.fixtures.users import RequesterFactory, UserFactory, WorkerFactory

WEBHOOK = "/payouts/stripe/webhook/"
CONNECT_WEBHOOK = "/payouts/stripe/connect-webhook/"
CONNECT_SECRET = "whsec_fairtask_simulator_tests_connect"  # noqa: S105 - test-only


@pytest.fixture
def sim(settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = CONNECT_SECRET
    return stripe_sim


def _sign(payload: bytes, secret: str = WEBHOOK_SECRET) -> str:
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _deliver(client, event: dict, *, url: str = WEBHOOK, secret: str = WEBHOOK_SECRET):
    payload = json.dumps(event).encode()
    return client.post(
        url, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(payload, secret)
    )


def _forged_completed(session: dict, **changes) -> dict:
    """A checkout.session.completed event around (a copy of) ``session``."""
    obj = copy.deepcopy(session)
    obj.update(changes)
    return {
        "id": f"evt_forged_{obj['id'][-10:]}_{len(str(changes))}",
        "object": "event",
        "type": "checkout.session.completed",
        "livemode": False,
        "data": {"object": obj},
    }


def _start(user, amount: int) -> Deposit:
    return funding.deposit_start(user=user, amount_cents=amount, site_url="http://testserver")


def _completed_event(sim, session_id: str) -> dict:
    return next(
        e
        for e in sim.events("checkout.session.completed")
        if e["data"]["object"]["id"] == session_id
    )


def _balance(user) -> int:
    return ledger.requester_account(user).balance_cents


# --- Attack 8: "paid" in the event, not at Stripe -------------------------------------


@pytest.mark.django_db
def test_a_paid_event_for_an_unpaid_session_credits_nothing_and_alerts(client, sim):
    requester = RequesterFactory()
    deposit = _start(requester, 5000)
    session = sim.get(deposit.checkout_session_id)
    event = _forged_completed(session, status="complete", payment_status="paid")

    response = _deliver(client, event)

    assert response.status_code == 200  # Stripe (or the forger) stops retrying
    assert _balance(requester) == 0
    assert not LedgerTransaction.objects.exists()
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.PENDING
    [alert] = StripeAlert.objects.all()
    assert (alert.kind, alert.deposit_id, alert.stripe_event_id) == (
        StripeAlert.Kind.NOT_PAID,
        deposit.pk,
        event["id"],
    )
    assert "Stripe says status=open, payment_status=unpaid" in alert.message
    assert StripeEvent.objects.filter(event_id=event["id"]).exists()

    # Paid for real afterwards: the real event credits it, and the forged one replayed
    # changes nothing.
    sim.complete_checkout(deposit.checkout_session_id)
    assert _deliver(client, _completed_event(sim, deposit.checkout_session_id)).status_code == 200
    assert _deliver(client, event).status_code == 200
    assert _balance(requester) == 5000
    assert StripeAlert.objects.count() == 1


@pytest.mark.django_db
def test_a_session_stripe_does_not_know_is_an_alert(client, sim):
    requester = RequesterFactory()
    deposit = _start(requester, 1000)
    session = sim.get(deposit.checkout_session_id)
    event = _forged_completed(
        session, id="cs_test_forged", status="complete", payment_status="paid"
    )
    assert _deliver(client, event).status_code == 200
    [alert] = StripeAlert.objects.all()
    assert alert.kind == StripeAlert.Kind.SESSION_UNKNOWN
    assert alert.session_id == "cs_test_forged"
    assert _balance(requester) == 0


# --- Attack 9: the event names another requester's deposit ----------------------------


@pytest.mark.django_db
def test_metadata_cannot_steer_a_credit_to_another_deposit(client, sim):
    attacker, victim = RequesterFactory(), RequesterFactory()
    attackers = _start(attacker, 2000)
    victims = _start(victim, 7500)
    # The victim's session, relabelled as the attacker's deposit, claimed paid.
    session = sim.get(victims.checkout_session_id)
    forged = _forged_completed(
        session,
        status="complete",
        payment_status="paid",
        client_reference_id=str(attackers.pk),
        metadata={"deposit_id": str(attackers.pk), "user_id": str(attacker.pk)},
    )
    assert _deliver(client, forged).status_code == 200
    assert (_balance(attacker), _balance(victim)) == (0, 0)
    assert StripeAlert.objects.get().kind == StripeAlert.Kind.NOT_PAID

    # The victim really pays: every delivery is answered 200 and the victim, only the
    # victim, is credited (before, every retry answered 500 with IdempotencyConflict).
    sim.set_webhook(None)
    sim.complete_checkout(victims.checkout_session_id)
    real = _completed_event(sim, victims.checkout_session_id)
    for _ in range(2):
        assert _deliver(client, real).status_code == 200
    assert (_balance(attacker), _balance(victim)) == (0, 7500)
    victims.refresh_from_db()
    attackers.refresh_from_db()
    assert (victims.status, attackers.status) == (Deposit.Status.COMPLETED, Deposit.Status.PENDING)

    # Replaying the forged event now that the session is paid still credits the
    # deposit the session belongs to (already done: nothing new), never the attacker.
    forged_again = {**forged, "id": "evt_forged_after_payment"}
    assert _deliver(client, forged_again).status_code == 200
    assert (_balance(attacker), _balance(victim)) == (0, 7500)
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1


@pytest.mark.django_db
def test_a_session_stored_on_another_users_deposit_is_an_alert(client, sim):
    """Stripe's copy names deposit A of user A, but our row with that session id belongs
    to user B (a bug or a tampered row): nothing is credited to anyone."""
    owner, other = RequesterFactory(), RequesterFactory()
    deposit = _start(owner, 3000)
    sim.complete_checkout(deposit.checkout_session_id)
    Deposit.objects.filter(pk=deposit.pk).update(user=other)
    assert _deliver(client, _completed_event(sim, deposit.checkout_session_id)).status_code == 200
    assert StripeAlert.objects.get().kind == StripeAlert.Kind.OWNER_MISMATCH
    assert (_balance(owner), _balance(other)) == (0, 0)


# --- Attack 10: another currency ------------------------------------------------------


@pytest.mark.django_db
def test_a_jpy_session_is_never_credited_as_cents(client, sim):
    requester = RequesterFactory()
    deposit = _start(requester, 5000)
    # A bug opens the Checkout in yen for this deposit (with our key, so Stripe knows it).
    jpy = stripe.StripeClient(
        API_KEY, base_addresses={"api": sim.base_url}, max_network_retries=0
    ).v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "client_reference_id": str(deposit.pk),
            "metadata": {"deposit_id": str(deposit.pk), "user_id": str(requester.pk)},
            "success_url": "http://testserver/ok",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": 5000,
                        "product_data": {"name": "top-up"},
                    },
                }
            ],
        }
    )
    Deposit.objects.filter(pk=deposit.pk).update(checkout_session_id=jpy.id)
    sim.complete_checkout(jpy.id)

    assert _deliver(client, _completed_event(sim, jpy.id)).status_code == 200

    assert _balance(requester) == 0
    [alert] = StripeAlert.objects.all()
    assert alert.kind == StripeAlert.Kind.CURRENCY_MISMATCH
    assert "paid in JPY, not USD" in alert.message
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.PENDING


@pytest.mark.django_db
def test_a_session_with_no_deposit_is_an_alert(client, sim):
    client_ = stripe.StripeClient(
        API_KEY, base_addresses={"api": sim.base_url}, max_network_retries=0
    )
    session = client_.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "http://testserver/ok",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 900,
                        "product_data": {"name": "x"},
                    },
                }
            ],
        }
    )
    sim.complete_checkout(session.id)
    assert _deliver(client, _completed_event(sim, session.id)).status_code == 200
    assert StripeAlert.objects.get().kind == StripeAlert.Kind.NO_DEPOSIT


@pytest.mark.django_db
def test_stripes_amount_is_credited_when_it_differs_and_staff_are_told(client, sim):
    requester = RequesterFactory()
    deposit = _start(requester, 1000)
    Deposit.objects.filter(pk=deposit.pk).update(amount_cents=999)  # our row drifted
    sim.complete_checkout(deposit.checkout_session_id)
    assert _deliver(client, _completed_event(sim, deposit.checkout_session_id)).status_code == 200
    assert _balance(requester) == 1000  # what Stripe collected
    alert = StripeAlert.objects.get()
    assert alert.kind == StripeAlert.Kind.AMOUNT_DIFFERS
    assert alert.message == (
        f"Deposit {deposit.pk} asked $9.99, Stripe collected $10.00; credited what Stripe collected."
    )


# --- The fee, and pending funds ---------------------------------------------------------


@pytest.mark.django_db
def test_deposit_books_stripes_fee_as_the_platforms_cost(client, sim):
    requester = RequesterFactory()
    deposit = _start(requester, 2000)
    sim.complete_checkout(deposit.checkout_session_id)
    # Stripe: 2.9% of $20.00 = 58¢, + 30¢ = 88¢; $19.12 is pending for two days.
    assert (sim.available(), sim.pending()) == (0, 1912)
    assert _deliver(client, _completed_event(sim, deposit.checkout_session_id)).status_code == 200

    deposit.refresh_from_db()
    assert (deposit.status, deposit.credited_cents, deposit.fee_cents) == ("completed", 2000, 88)
    entries = {
        e.account.kind: e.amount_cents
        for e in LedgerEntry.objects.filter(transaction=deposit.ledger_transaction).select_related(
            "account"
        )
    }
    assert entries == {"requester_available": 2000, "stripe_clearing": -1912, "stripe_fees": -88}
    assert _balance(requester) == 2000  # the requester gets what they paid
    # Clearing mirrors Stripe's balance, pending included.
    assert -ledger.stripe_clearing_account().balance_cents == sim.available() + sim.pending()
    call_command("reconcile_stripe")
    call_command("ledger_check")

    sim.advance_time(2 * 86400)
    assert (sim.available(), sim.pending()) == (1912, 0)
    call_command("reconcile_stripe")


def test_ledger_deposit_without_fee_has_no_fee_entry(db):
    requester = RequesterFactory()
    txn = ledger.deposit(key="deposit-cs_nofee", user=requester, amount_cents=500)
    assert sorted(txn.entries.values_list("account__kind", "amount_cents")) == [
        ("requester_available", 500),
        ("stripe_clearing", -500),
    ]
    with pytest.raises(ApplicationError, match="cannot exceed"):
        ledger.deposit(key="deposit-cs_bad", user=requester, amount_cents=500, fee_cents=501)


# --- reconcile compares amounts ----------------------------------------------------------


@pytest.mark.django_db
def test_reconcile_names_amount_fee_and_currency_differences(sim):
    requester = RequesterFactory()
    deposit = _start(requester, 1000)
    sim.complete_checkout(deposit.checkout_session_id)
    funding.process_event(_completed_event(sim, deposit.checkout_session_id))
    call_command("reconcile_stripe")
    sid = deposit.checkout_session_id
    # Our deposit row drifts from Stripe's (the ledger itself is append-only).
    Deposit.objects.filter(pk=deposit.pk).update(credited_cents=1100, fee_cents=0, currency="eur")
    out = __import__("io").StringIO()
    with pytest.raises(CommandError, match="3 difference"):
        call_command("reconcile_stripe", stdout=out)
    assert out.getvalue().splitlines() == [
        f"currency_mismatch: {sid}: Stripe collected in usd, deposit {deposit.pk} is in eur",
        f"amount_mismatch: {sid}: Stripe collected 1000¢, deposit {deposit.pk} credited 1100¢",
        f"fee_mismatch: {sid}: Stripe's fee is 59¢, deposit {deposit.pk} records 0¢",
    ]


@pytest.mark.django_db
def test_simulator_restart_keeps_reconcile_clean(settings, tmp_path, stripe_sim):
    from payouts.stripe_sim import StripeSimulator

    state = tmp_path / "stripe-sim.json"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    first = StripeSimulator(state_path=state).start()
    settings.STRIPE_API_BASE = first.base_url
    requester = RequesterFactory()
    deposit = _start(requester, 4200)
    first.complete_checkout(deposit.checkout_session_id)
    funding.process_event(_completed_event(first, deposit.checkout_session_id))
    call_command("reconcile_stripe")
    first.stop()

    # Without the saved state Stripe would have "forgotten" the payment: the check can fail.
    settings.STRIPE_API_BASE = stripe_sim.base_url
    with pytest.raises(CommandError):
        call_command("reconcile_stripe")

    again = StripeSimulator(state_path=state).start()
    try:
        settings.STRIPE_API_BASE = again.base_url
        call_command("reconcile_stripe")
        assert again.get(deposit.checkout_session_id)["payment_status"] == "paid"
        assert again.pending() == 4200 - 152  # 2.9% = 121.8 → 122, + 30
    finally:
        again.stop()


# --- Cancel is a POST; GETs of payouts pages change nothing ------------------------------


@pytest.mark.django_db
def test_cancel_by_get_changes_nothing_and_post_cancels(sim):
    from django.test import Client

    requester = RequesterFactory()
    deposit = _start(requester, 1500)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(requester)

    page = browser.get(reverse("payouts:funds_return") + f"?cancelled={deposit.pk}")
    assert page.status_code == 200
    assert b"Cancel this top-up" in page.content
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.PENDING
    assert sim.get(deposit.checkout_session_id)["status"] == "open"

    cancel_url = reverse("payouts:deposit_cancel", args=[deposit.pk])
    assert browser.get(cancel_url).status_code == 405
    assert browser.post(cancel_url).status_code == 403  # no CSRF token
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.PENDING

    token = browser.cookies["csrftoken"].value
    response = browser.post(cancel_url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.CANCELLED
    assert sim.get(deposit.checkout_session_id)["status"] == "expired"
    assert list(deposit.events.values_list("old_status", "new_status", "actor")) == [
        ("", "pending", requester.pk),
        ("pending", "cancelled", requester.pk),
    ]


@pytest.mark.django_db
def test_cancel_is_only_for_the_owner(client, sim):
    owner, other = RequesterFactory(), RequesterFactory()
    deposit = _start(owner, 1500)
    client.force_login(other)
    assert client.post(reverse("payouts:deposit_cancel", args=[deposit.pk])).status_code == 404
    assert (
        client.get(reverse("payouts:funds_return") + f"?cancelled={deposit.pk}").status_code == 404
    )
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.PENDING


def _payouts_get_urls(deposit: Deposit, account_id: int) -> dict[str, str]:
    """Every payouts URL pattern, filled in: a new pattern without a case fails the test."""
    from payouts.urls import urlpatterns

    filled = {
        "add_funds": reverse("payouts:add_funds"),
        "funds_return": reverse("payouts:funds_return")
        + f"?session_id={deposit.checkout_session_id}",
        "deposit_cancel": reverse("payouts:deposit_cancel", args=[deposit.pk]),
        "statement": reverse("payouts:statement"),
        "statement_csv": reverse("payouts:statement_csv"),
        "stripe_webhook": reverse("payouts:stripe_webhook"),
        "stripe_connect_webhook": reverse("payouts:stripe_connect_webhook"),
        "money_overview": reverse("payouts:money_overview"),
        "staff_sync_events": reverse("payouts:staff_sync_events"),
        "staff_account": reverse("payouts:staff_account", args=[account_id]) + "?format=csv",
        "withdraw": reverse("payouts:withdraw"),
        "payout_connect": reverse("payouts:payout_connect"),
        "payout_refresh": reverse("payouts:payout_refresh"),
    }
    assert {p.name for p in urlpatterns} == set(filled)
    extra = {
        "funds_return_cancelled": reverse("payouts:funds_return") + f"?cancelled={deposit.pk}",
        "staff_account_page": reverse("payouts:staff_account", args=[account_id]),
    }
    return filled | extra


def _state() -> dict:
    from django.apps import apps

    return {
        model.__name__: sorted(map(repr, model.objects.values_list()))
        for model in apps.get_app_config("payouts").get_models()
    }


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["requester", "new_requester", "staff", "worker"])
def test_no_get_of_a_payouts_page_changes_anything(client, sim, who):
    requester = RequesterFactory()
    deposit = _start(requester, 1000)  # pending, with an open session at Stripe
    account = ledger.stripe_clearing_account()
    user = {
        "requester": requester,
        "new_requester": RequesterFactory(),  # no ledger account yet: reads must not create one
        "staff": UserFactory(is_staff=True, is_superuser=True),
        "worker": WorkerFactory(),  # the withdraw page: no account, no Stripe call on GET
    }[who]
    if who == "staff":
        from allauth.mfa.models import Authenticator

        Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    client.force_login(user)
    before, stripe_before = _state(), sim.state()["objects"]
    for name, url in _payouts_get_urls(deposit, account.pk).items():
        response = client.get(url, HTTP_HX_REQUEST="true" if name == "funds_return" else "")
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        assert response.status_code < 500, name
        assert _state() == before, f"GET {url} changed the database"
    assert sim.state()["objects"] == stripe_before
    assert sim.get(deposit.checkout_session_id)["status"] == "open"


# --- Deposit statuses have a table ---------------------------------------------------------


@pytest.mark.django_db
def test_deposit_moves_follow_the_table_and_leave_events(client, sim):
    requester = RequesterFactory()
    deposit = _start(requester, 1000)
    sim.complete_checkout(deposit.checkout_session_id)
    event = _completed_event(sim, deposit.checkout_session_id)
    _deliver(client, event)
    deposit.refresh_from_db()
    assert list(deposit.events.values_list("old_status", "new_status", "stripe_event_id")) == [
        ("", "pending", ""),
        ("pending", "completed", event["id"]),
    ]
    from django.db import transaction

    with transaction.atomic(), pytest.raises(ApplicationError) as info:
        funding.deposit_transition(deposit=deposit, to=Deposit.Status.CANCELLED)
    assert info.value.code == "illegal_transition"
    assert DepositEvent.objects.filter(deposit=deposit).count() == 2


# --- Connect endpoint and secret rotation ---------------------------------------------------


@pytest.mark.django_db
def test_connect_events_are_verified_with_the_connect_secret(client, sim):
    event = {
        "id": "evt_connect_1",
        "object": "event",
        "type": "account.updated",
        "account": "acct_1",
        "data": {"object": {"id": "acct_1", "object": "account"}},
    }
    assert _deliver(client, event, url=CONNECT_WEBHOOK, secret=WEBHOOK_SECRET).status_code == 400
    assert _deliver(client, event, url=WEBHOOK, secret=CONNECT_SECRET).status_code == 400
    assert _deliver(client, event, url=CONNECT_WEBHOOK, secret=CONNECT_SECRET).status_code == 200
    assert StripeEvent.objects.filter(event_id="evt_connect_1").exists()


@pytest.mark.django_db
def test_webhook_secret_rotation_accepts_both_secrets(client, sim, settings):
    settings.STRIPE_WEBHOOK_SECRET = f"whsec_new_one, {WEBHOOK_SECRET}"
    requester = RequesterFactory()
    deposit = _start(requester, 1000)
    sim.complete_checkout(deposit.checkout_session_id)
    event = _completed_event(sim, deposit.checkout_session_id)
    assert _deliver(client, event, secret="whsec_new_one").status_code == 200
    assert _deliver(client, {**event, "id": "evt_x"}, secret="whsec_unknown").status_code == 400
    assert _balance(requester) == 1000


@pytest.mark.django_db(transaction=True)
def test_simulator_delivers_to_both_of_our_endpoints(live_server, sim):
    """As `make run` configures it: account events to /stripe/webhook/, connected
    accounts' events to /stripe/connect-webhook/, each signed with its own secret."""
    sim.set_webhook(live_server.url + WEBHOOK, WEBHOOK_SECRET, connect=False)
    sim.set_webhook(live_server.url + CONNECT_WEBHOOK, CONNECT_SECRET, connect=True)
    requester = RequesterFactory()
    deposit = _start(requester, 2500)
    sim.complete_checkout(deposit.checkout_session_id)
    client_ = stripe.StripeClient(
        API_KEY, base_addresses={"api": sim.base_url}, max_network_retries=0
    )
    account = client_.v1.accounts.create(
        params={"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    sim.complete_onboarding(account.id)
    ok = sim.wait_for_deliveries(2, timeout=15)
    assert {(d.event_type, d.url.removeprefix(live_server.url)) for d in ok} == {
        ("checkout.session.completed", WEBHOOK),
        ("account.updated", CONNECT_WEBHOOK),
    }
    assert _balance(requester) == 2500
    assert StripeEvent.objects.filter(type="account.updated").count() == 1


@pytest.mark.django_db
def test_staff_read_deposits_and_alerts_in_the_admin_but_cannot_change_them(client, sim):
    from allauth.mfa.models import Authenticator

    requester = RequesterFactory()
    deposit = _start(requester, 1000)
    _deliver(client, _forged_completed(sim.get(deposit.checkout_session_id), payment_status="paid"))
    alert = StripeAlert.objects.get()
    admin = UserFactory(is_staff=True, is_superuser=True)
    Authenticator.objects.create(user=admin, type=Authenticator.Type.TOTP, data={"secret": "x"})
    client.force_login(admin)
    for name, obj in (("deposit", deposit), ("stripealert", alert)):
        assert client.get(reverse(f"admin:payouts_{name}_changelist")).status_code == 200
        page = client.get(reverse(f"admin:payouts_{name}_change", args=[obj.pk]))
        assert page.status_code == 200
        assert (
            client.post(reverse(f"admin:payouts_{name}_change", args=[obj.pk]), {}).status_code
            == 403
        )
    assert (
        b"top-up started"
        in client.get(reverse("admin:payouts_deposit_change", args=[deposit.pk])).content
    )
