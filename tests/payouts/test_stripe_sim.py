# Stripe's typed responses mark nearly every field Optional and its request
# TypedDicts reject plain dicts; these tests assert on concrete values instead.
# mypy: disable-error-code="union-attr,index,operator,arg-type,typeddict-item"
"""The Stripe simulator driven through the official ``stripe`` library, as the app uses it.

Only the API base differs from production, so these tests double as a check that
the simulator's wire behaviour (status codes, error types, headers, webhook
signatures, idempotency) is what the library expects from Stripe. No database.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import stripe

from payouts.stripe_sim import StripeSimulator
from payouts.stripe_sim.forms import encode_form, parse_form
from payouts.stripe_sim.testing import (
    API_KEY,
    WEBHOOK_SECRET,
    WebhookReceiver,
    browse,
    iter_forms,
    raw_request,
)
from payouts.stripe_sim.webhooks import sign

REPO = Path(__file__).resolve().parents[2]


def _session_params(amount: int = 1000, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "https://fairtask.test/deposit/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://fairtask.test/deposit/cancelled",
        "line_items": [
            {
                "quantity": quantity,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": amount,
                    "product_data": {"name": "Fairtask balance top-up"},
                },
            }
        ],
    }
    params.update(extra)
    return params


def _client(sim: StripeSimulator, key: str = API_KEY, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": sim.base_url, "connect": sim.base_url},
        max_network_retries=retries,
    )


def _onboarded_account(sim: StripeSimulator, client: stripe.StripeClient) -> str:
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "worker@example.com",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    sim.complete_onboarding(account.id)
    return account.id


def _raw(
    sim: StripeSimulator,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    return raw_request(sim.base_url, method, path, params=params, headers=headers)


# --------------------------------------------------------------------------- wire
def test_form_parsing_matches_stripes_bracket_encoding() -> None:
    parsed = parse_form(
        "metadata[task]=42&metadata[note]=&line_items[0][price_data][unit_amount]=500"
        "&line_items[0][quantity]=2&line_items[1][quantity]=1&expand[]=a&expand[]=b"
        "&success_url=https%3A%2F%2Fx.test%2F%7BCHECKOUT_SESSION_ID%7D&metadata[7]=seven"
    )
    assert parsed["metadata"] == {"task": "42", "note": "", "7": "seven"}
    assert parsed["line_items"] == [
        {"price_data": {"unit_amount": "500"}, "quantity": "2"},
        {"quantity": "1"},
    ]
    assert parsed["expand"] == ["a", "b"]
    assert parsed["success_url"] == "https://x.test/{CHECKOUT_SESSION_ID}"
    nested = {"a": {"b": [{"c": "1"}, {"c": "2"}]}, "flag": "true"}
    assert parse_form(encode_form(nested)) == nested


def test_form_parsing_rejects_a_name_used_as_hash_and_scalar(
    stripe_sim_client: stripe.StripeClient, stripe_sim: StripeSimulator
) -> None:
    status, _, body = _raw(
        stripe_sim,
        "POST",
        "/v1/transfers",
        params={"metadata": "x", "metadata[k]": "v"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"


def test_client_base_addresses_reach_the_simulator(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    assert session.id.startswith("cs_test_")
    assert session.url == f"{stripe_sim.base_url}/checkout/pay/{session.id}"
    assert stripe_sim.get(session.id) is not None
    assert session.last_response is not None
    assert session.last_response.headers["request-id"].startswith("req_")


def test_legacy_global_api_base_reaches_the_simulator(
    stripe_sim: StripeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe, "api_key", API_KEY)
    monkeypatch.setattr(stripe, "api_base", stripe_sim.base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    session = stripe.checkout.Session.create(**_session_params(metadata={"deposit": "7"}))
    again = stripe.checkout.Session.retrieve(session.id)
    assert again.metadata["deposit"] == "7"
    assert stripe.Balance.retrieve().available[0].amount == 0


def test_authentication_errors(stripe_sim: StripeSimulator) -> None:
    status, _, body = _raw(stripe_sim, "GET", "/v1/balance")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "API key" in body["error"]["message"]
    for bad_key in ("pk_test_123", "sk_live_123"):
        with pytest.raises(stripe.AuthenticationError) as info:
            _client(stripe_sim, key=bad_key).v1.balance.retrieve()
        assert info.value.http_status == 401
    basic = "Basic " + __import__("base64").b64encode(f"{API_KEY}:".encode()).decode()
    assert _raw(stripe_sim, "GET", "/v1/balance", headers={"Authorization": basic})[0] == 200


def test_unknown_url_unknown_object_and_unknown_parameter(
    stripe_sim_client: stripe.StripeClient, stripe_sim: StripeSimulator
) -> None:
    status, _, body = _raw(
        stripe_sim, "GET", "/v1/charges", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert status == 404 and "Unrecognized request URL" in body["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.transfers.retrieve("tr_missing")
    assert (info.value.http_status, info.value.code, info.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.checkout.sessions.create(params=_session_params(colour="blue"))
    assert (info.value.code, info.value.param) == ("parameter_unknown", "colour")


def test_unknown_stripe_account_is_refused(stripe_sim_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.PermissionError) as info:
        stripe_sim_client.v1.balance.retrieve(options={"stripe_account": "acct_nope"})
    assert info.value.http_status == 403
    assert info.value.json_body["error"]["code"] == "account_invalid"


# ---------------------------------------------------------------------- checkout
def test_checkout_session_create_and_retrieve(stripe_sim_client: stripe.StripeClient) -> None:
    session = stripe_sim_client.v1.checkout.sessions.create(
        params=_session_params(
            amount=250,
            quantity=3,
            client_reference_id="deposit-17",
            customer_email="r@example.com",
            metadata={"deposit_id": "17"},
            payment_intent_data={"metadata": {"deposit_id": "17"}},
        )
    )
    assert (session.object, session.mode, session.status, session.payment_status) == (
        "checkout.session",
        "payment",
        "open",
        "unpaid",
    )
    assert (session.amount_subtotal, session.amount_total, session.currency) == (750, 750, "usd")
    assert session.client_reference_id == "deposit-17"
    assert session.customer_email == "r@example.com"
    assert session.metadata.to_dict() == {"deposit_id": "17"}
    assert session.payment_intent is None
    assert session.livemode is False
    assert session.expires_at > session.created
    again = stripe_sim_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items"]}
    )
    assert again.line_items.data[0].quantity == 3
    assert again.line_items.data[0].description == "Fairtask balance top-up"
    assert again.line_items.data[0].price.unit_amount == 250
    items = stripe_sim_client.v1.checkout.sessions.line_items.list(session.id)
    assert [item.amount_total for item in items.data] == [750]


def test_checkout_session_validation(stripe_sim_client: stripe.StripeClient) -> None:
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        (
            {k: v for k, v in _session_params().items() if k != "success_url"},
            "success_url",
            "parameter_missing",
        ),
        (_session_params(amount=10), "line_items", "amount_too_small"),
        ({**_session_params(), "mode": "subscription"}, "mode", None),
        (
            {
                **_session_params(),
                "line_items": [
                    {
                        "quantity": "two",
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 100,
                            "product_data": {"name": "x"},
                        },
                    }
                ],
            },
            "line_items[0][quantity]",
            "parameter_invalid_integer",
        ),
        ({**_session_params(), "metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]", None),
    ]
    for params, param, code in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_sim_client.v1.checkout.sessions.create(params=params)
        assert info.value.http_status == 400
        assert info.value.param == param, info.value.user_message
        assert info.value.code == code


def test_checkout_paid_through_the_hosted_page(
    stripe_sim: StripeSimulator,
    stripe_sim_client: stripe.StripeClient,
    stripe_webhook_receiver: WebhookReceiver,
) -> None:
    session = stripe_sim_client.v1.checkout.sessions.create(
        params=_session_params(amount=1234, metadata={"deposit_id": "9"})
    )
    assert session.url is not None
    page = browse(session.url)
    assert page.status == 200
    assert "Pay $12.34" in page.body and "Cancel" in page.body
    assert list(iter_forms(page.body)) == [
        f"/checkout/pay/{session.id}",
        f"/checkout/pay/{session.id}/cancel",
    ]

    paid = browse(session.url, {"email": "payer@example.com"})
    assert paid.status == 303
    assert paid.location == f"https://fairtask.test/deposit/done?session={session.id}"

    done = stripe_sim_client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status, done.amount_total) == ("complete", "paid", 1234)
    assert done.payment_intent is not None and done.payment_intent.startswith("pi_")
    assert done.customer_details is not None and done.customer_details.email == "payer@example.com"
    assert done.url is None
    # Stripe's US card fee (2.9% + 30¢: 35.8¢ rounds to 36¢, + 30¢) is kept, and the
    # rest is pending until the balance transaction's available_on.
    assert (stripe_sim.available(), stripe_sim.pending()) == (0, 1234 - 66)

    [delivery] = stripe_sim.wait_for_deliveries(event_type="checkout.session.completed")
    assert delivery.attempt == 1 and delivery.status == 200
    [request] = stripe_webhook_receiver.received
    event = stripe.Webhook.construct_event(
        request.body.decode(), request.headers["Stripe-Signature"], WEBHOOK_SECRET
    )
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session.id
    assert event.data.object.metadata["deposit_id"] == "9"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            request.body.decode(), request.headers["Stripe-Signature"], "whsec_wrong"
        )
    tampered = request.body.decode().replace("1234", "9999")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            tampered, request.headers["Stripe-Signature"], WEBHOOK_SECRET
        )

    again = browse(session.url, {})
    assert again.status == 409
    assert (stripe_sim.available(), stripe_sim.pending()) == (0, 1168)


def test_checkout_cancel_redirects_and_leaves_the_session_open(
    stripe_sim_client: stripe.StripeClient,
) -> None:
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    cancelled = browse(f"{session.url}/cancel", {})
    assert (cancelled.status, cancelled.location) == (
        303,
        "https://fairtask.test/deposit/cancelled",
    )
    assert stripe_sim_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_checkout_expire(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    expired = stripe_sim_client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.payment_status, expired.url) == ("expired", "unpaid", None)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.checkout.sessions.expire(session.id)
    assert info.value.http_status == 400
    assert "has been paid" not in browse(f"{stripe_sim.base_url}/checkout/pay/{session.id}").body
    assert browse(f"{stripe_sim.base_url}/checkout/pay/{session.id}", {}).status == 409
    assert [e.type for e in stripe_sim_client.v1.events.list().data] == ["checkout.session.expired"]
    assert stripe_sim.available() == 0


def test_checkout_sessions_expire_on_their_own(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    stripe_sim.advance_time(24 * 3600 + 1)
    assert stripe_sim_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert stripe_sim.events()[-1]["type"] == "checkout.session.expired"


def test_checkout_session_list_paginates_newest_first(
    stripe_sim_client: stripe.StripeClient,
) -> None:
    ids = [
        stripe_sim_client.v1.checkout.sessions.create(params=_session_params()).id for _ in range(3)
    ]
    first = stripe_sim_client.v1.checkout.sessions.list(params={"limit": 2})
    assert [s.id for s in first.data] == [ids[2], ids[1]]
    assert first.has_more is True
    rest = stripe_sim_client.v1.checkout.sessions.list(
        params={"limit": 2, "starting_after": ids[1]}
    )
    assert [s.id for s in rest.data] == [ids[0]] and rest.has_more is False
    before = stripe_sim_client.v1.checkout.sessions.list(
        params={"limit": 1, "ending_before": ids[0]}
    )
    assert [s.id for s in before.data] == [ids[1]] and before.has_more is True
    assert [s.id for s in first.auto_paging_iter()] == ids[::-1]
    stripe_sim_client.v1.checkout.sessions.expire(ids[0])
    expired = stripe_sim_client.v1.checkout.sessions.list(params={"status": "expired"})
    assert [s.id for s in expired.data] == [ids[0]]


# ---------------------------------------------------------------------- webhooks
def test_webhook_retried_on_500_until_accepted(
    stripe_sim: StripeSimulator,
    stripe_sim_client: stripe.StripeClient,
    stripe_webhook_receiver: WebhookReceiver,
) -> None:
    stripe_webhook_receiver.fail_next(2, status=500)
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    stripe_sim_client.v1.checkout.sessions.expire(session.id)
    stripe_sim.wait_for_deliveries(event_type="checkout.session.expired")
    attempts = [(d.attempt, d.status) for d in stripe_sim.deliveries]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    bodies = {r.body for r in stripe_webhook_receiver.received}
    assert len(bodies) == 1  # the same event each time, freshly signed
    for request in stripe_webhook_receiver.received:
        stripe.Webhook.construct_event(
            request.body.decode(), request.headers["Stripe-Signature"], WEBHOOK_SECRET
        )
    event_id = stripe_sim.deliveries[0].event_id
    assert stripe_sim_client.v1.events.retrieve(event_id).pending_webhooks == 0


def test_webhook_gives_up_after_max_attempts(
    stripe_sim: StripeSimulator,
    stripe_sim_client: stripe.StripeClient,
    stripe_webhook_receiver: WebhookReceiver,
) -> None:
    stripe_webhook_receiver.fail_next(50, status=503)
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    stripe_sim_client.v1.checkout.sessions.expire(session.id)
    stripe_sim.wait_for_deliveries(5, ok=False)
    stripe_sim.wait_for_webhooks(timeout=5)
    assert [d.attempt for d in stripe_sim.deliveries] == [1, 2, 3, 4, 5]
    event_id = stripe_sim.deliveries[0].event_id
    assert stripe_sim_client.v1.events.retrieve(event_id).pending_webhooks == 1


def test_webhook_connection_errors_are_retried() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook/"
    closed.close()  # nothing listens there now: connections are refused
    receiver = WebhookReceiver().start()
    try:
        with StripeSimulator(
            webhook_url=refused_url,
            webhook_secret=WEBHOOK_SECRET,
            webhook_backoff=0.3,
            webhook_max_attempts=4,
        ) as sim:
            account = _onboarded_account(sim, _client(sim))
            sim.wait_for_deliveries(1, ok=False)
            sim.set_webhook(receiver.url)  # the endpoint comes back before the retry
            [ok] = sim.wait_for_deliveries(1, ok=True)
    finally:
        receiver.stop()
    first = sim.deliveries[0]
    assert first.status is None and first.error is not None and "Connection" in first.error
    assert (ok.attempt, ok.event_type, ok.event_id) == (2, "account.updated", first.event_id)
    event = json.loads(receiver.received[0].body)
    assert event["account"] == account


def test_webhooks_can_arrive_out_of_order_when_retried() -> None:
    receiver = WebhookReceiver().start()
    try:
        with StripeSimulator(
            webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET, webhook_backoff=0.4
        ) as sim:
            client = _client(sim)
            first = client.v1.checkout.sessions.create(params=_session_params())
            second = client.v1.checkout.sessions.create(params=_session_params())
            receiver.fail_next(1)
            client.v1.checkout.sessions.expire(first.id)
            sim.wait_for_deliveries(1, ok=False)
            client.v1.checkout.sessions.expire(second.id)
            sim.wait_for_deliveries(2, ok=True)
    finally:
        receiver.stop()
    delivered = [
        json.loads(r.body)["data"]["object"]["id"] for r in receiver.received if r.status == 200
    ]
    assert delivered == [second.id, first.id]


# ------------------------------------------------------------------- idempotency
def test_idempotent_replay_returns_the_first_response(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    params = {
        "amount": 700,
        "currency": "usd",
        "destination": account,
        "metadata": {"payout": "p1"},
    }
    first = stripe_sim_client.v1.transfers.create(
        params=params, options={"idempotency_key": "payout-p1"}
    )
    second = stripe_sim_client.v1.transfers.create(
        params=params, options={"idempotency_key": "payout-p1"}
    )
    assert first.id == second.id
    assert second.last_response is not None and first.last_response is not None
    assert second.last_response.headers["idempotent-replayed"] == "true"
    assert second.last_response.headers["original-request"] == first.last_response.request_id
    assert "idempotent-replayed" not in first.last_response.headers
    assert second.last_response.body == first.last_response.body
    assert len(stripe_sim.objects("transfer")) == 1
    assert stripe_sim.available() == 4300
    assert stripe_sim.available(account) == 700
    created_events = [e for e in stripe_sim.events() if e["type"] == "transfer.created"]
    assert len(created_events) == 1
    assert created_events[0]["request"]["idempotency_key"] == "payout-p1"


def test_idempotency_key_reused_with_other_parameters_or_endpoint(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    stripe_sim_client.v1.transfers.create(
        params={"amount": 100, "currency": "usd", "destination": account},
        options={"idempotency_key": "k"},
    )
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_sim_client.v1.transfers.create(
            params={"amount": 101, "currency": "usd", "destination": account},
            options={"idempotency_key": "k"},
        )
    assert info.value.http_status == 400
    assert info.value.json_body["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        stripe_sim_client.v1.payouts.create(
            params={"amount": 100, "currency": "usd"}, options={"idempotency_key": "k"}
        )
    assert len(stripe_sim.objects("transfer")) == 1
    assert stripe_sim.objects("payout") == []


def test_idempotency_keys_are_scoped_per_api_key_and_account(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    stripe_sim.fund_balance(5000, account=account)
    params = {"amount": 100, "currency": "usd"}
    platform = stripe_sim_client.v1.payouts.create(
        params=params, options={"idempotency_key": "same"}
    )
    connected = stripe_sim_client.v1.payouts.create(
        params=params, options={"idempotency_key": "same", "stripe_account": account}
    )
    with StripeSimulator(api_keys=[API_KEY, "sk_test_other"]) as two_accounts:
        for key in (API_KEY, "sk_test_other"):
            two_accounts.engines[key].fund(5000)
        first = _client(two_accounts).v1.payouts.create(
            params=params, options={"idempotency_key": "same"}
        )
        other_key = _client(two_accounts, key="sk_test_other").v1.payouts.create(
            params=params, options={"idempotency_key": "same"}
        )
    assert len({platform.id, connected.id, first.id, other_key.id}) == 4


def test_validation_errors_do_not_consume_the_key(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(500)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sim_client.v1.payouts.create(
            params={"currency": "usd"}, options={"idempotency_key": "v"}
        )
    payout = stripe_sim_client.v1.payouts.create(
        params={"amount": 100, "currency": "usd"}, options={"idempotency_key": "v"}
    )
    assert payout.amount == 100


def test_business_errors_are_replayed_like_stripe(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as first:
        stripe_sim_client.v1.payouts.create(
            params={"amount": 100, "currency": "usd"}, options={"idempotency_key": "poor"}
        )
    stripe_sim.fund_balance(500)
    with pytest.raises(stripe.InvalidRequestError) as second:
        stripe_sim_client.v1.payouts.create(
            params={"amount": 100, "currency": "usd"}, options={"idempotency_key": "poor"}
        )
    assert first.value.code == second.value.code == "balance_insufficient"
    assert (
        second.value.headers is not None and second.value.headers["idempotent-replayed"] == "true"
    )


def test_concurrent_request_with_the_same_key_gets_409(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(1000)
    stripe_sim.inject_fault("POST", "/v1/payouts", "delay", delay=0.6)
    results: list[Any] = []
    params = {"amount": 100, "currency": "usd"}

    def slow() -> None:
        results.append(
            stripe_sim_client.v1.payouts.create(params=params, options={"idempotency_key": "c"})
        )

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    with pytest.raises(stripe.APIError) as info:
        stripe_sim_client.v1.payouts.create(params=params, options={"idempotency_key": "c"})
    thread.join()
    assert info.value.http_status == 409
    assert info.value.json_body["error"]["type"] == "idempotency_error"
    replay = stripe_sim_client.v1.payouts.create(params=params, options={"idempotency_key": "c"})
    assert replay.id == results[0].id
    assert len(stripe_sim.objects("payout")) == 1


# ------------------------------------------------------------------------ faults
def test_lost_response_then_retry_with_same_key_is_exactly_once(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    stripe_sim.inject_fault("POST", "/v1/transfers", "lost_response")
    params = {"amount": 1500, "currency": "usd", "destination": account}
    with pytest.raises(stripe.APIConnectionError):
        stripe_sim_client.v1.transfers.create(params=params, options={"idempotency_key": "t-1"})
    [created] = stripe_sim.objects("transfer")  # it happened, the client just never heard
    retried = stripe_sim_client.v1.transfers.create(
        params=params, options={"idempotency_key": "t-1"}
    )
    assert retried.id == created["id"]
    assert retried.last_response is not None
    assert retried.last_response.headers["idempotent-replayed"] == "true"
    assert len(stripe_sim.objects("transfer")) == 1
    assert stripe_sim.available() == 3500
    assert stripe_sim.available(account) == 1500


def test_lost_response_as_500_with_library_retries_is_exactly_once(
    stripe_sim: StripeSimulator,
) -> None:
    client = _client(stripe_sim, retries=2)
    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, client)
    stripe_sim.inject_fault("POST", "/v1/transfers", "lost_response", status=500)
    transfer = client.v1.transfers.create(
        params={"amount": 900, "currency": "usd", "destination": account}
    )
    assert [t["id"] for t in stripe_sim.objects("transfer")] == [transfer.id]
    assert stripe_sim.available() == 4100
    assert stripe_sim.faults.list() == []


def test_server_error_has_no_effect_and_the_key_can_be_retried(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    stripe_sim.inject_fault("POST", "/v1/transfers", "server_error")
    params = {"amount": 100, "currency": "usd", "destination": account}
    with pytest.raises(stripe.APIError) as info:
        stripe_sim_client.v1.transfers.create(params=params, options={"idempotency_key": "s"})
    assert info.value.http_status == 500
    assert stripe_sim.objects("transfer") == [] and stripe_sim.available() == 5000
    transfer = stripe_sim_client.v1.transfers.create(
        params=params, options={"idempotency_key": "s"}
    )
    assert transfer.amount == 100
    assert stripe_sim.available() == 4900


def test_decline_faults(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.inject_fault("POST", "/v1/checkout/sessions", "decline")
    with pytest.raises(stripe.CardError) as card:
        stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    assert (card.value.http_status, card.value.code) == (402, "card_declined")

    stripe_sim.fund_balance(5000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    stripe_sim.inject_fault("POST", "/v1/transfers", "decline")
    with pytest.raises(stripe.InvalidRequestError) as transfer:
        stripe_sim_client.v1.transfers.create(
            params={"amount": 100, "currency": "usd", "destination": account}
        )
    assert (transfer.value.http_status, transfer.value.code) == (400, "transfers_not_allowed")
    assert stripe_sim.available() == 5000

    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    stripe_sim.inject_fault(
        "POST", "/checkout/pay/*", "decline", message="Your card has insufficient funds."
    )
    declined = browse(f"{stripe_sim.base_url}/checkout/pay/{session.id}", {})
    assert declined.status == 402 and "insufficient funds" in declined.body
    assert stripe_sim_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert browse(f"{stripe_sim.base_url}/checkout/pay/{session.id}", {}).status == 303


def test_faults_count_and_glob(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.inject_fault("GET", "/v1/events/*", "server_error", count=2)
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    stripe_sim_client.v1.checkout.sessions.expire(session.id)
    event_id = stripe_sim.events()[0]["id"]
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            stripe_sim_client.v1.events.retrieve(event_id)
    assert stripe_sim_client.v1.events.retrieve(event_id).id == event_id
    with pytest.raises(ValueError):
        stripe_sim.inject_fault("POST", "/v1/transfers", "fail")  # type: ignore[arg-type]


def test_control_endpoints_over_http(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    def control(method: str, path: str, data: dict[str, Any] | None = None) -> tuple[int, Any]:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(
            stripe_sim.base_url + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, fault = control(
        "POST",
        "/_sim/faults",
        {
            "method": "POST",
            "path": "/v1/transfers",
            "mode": "decline",
            "count": 1,
            "code": "account_closed",
        },
    )
    assert status == 201 and fault["mode"] == "decline"
    assert (
        control("POST", "/_sim/faults", {"method": "POST", "path": "/x", "mode": "explode"})[0]
        == 400
    )
    assert control("GET", "/_sim/state")[1]["faults"][0]["code"] == "account_closed"
    assert control("POST", "/_sim/balance", {"amount": 2500})[1]["available"][0]["amount"] == 2500
    account = stripe_sim_client.v1.accounts.create(
        params={"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    assert control("POST", f"/_sim/accounts/{account.id}/onboard")[1]["payouts_enabled"] is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.transfers.create(
            params={"amount": 1, "currency": "usd", "destination": account.id}
        )
    assert info.value.code == "account_closed"
    session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    status, paid = control("POST", f"/_sim/checkout/sessions/{session.id}/complete")
    assert status == 200 and paid["status"] == "complete"
    assert control("POST", "/_sim/reset")[0] == 200
    state = control("GET", "/_sim/state")[1]
    assert state["objects"] == {} and state["faults"] == [] and state["balances"] == {}
    assert control("GET", "/_sim/nothing")[0] == 404


# ---------------------------------------------------------------- money movement
def test_balance_insufficient(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    stripe_sim.fund_balance(999)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.transfers.create(
            params={"amount": 1000, "currency": "usd", "destination": account}
        )
    assert (info.value.http_status, info.value.code) == (400, "balance_insufficient")
    assert info.value.json_body["error"]["type"] == "invalid_request_error"
    assert stripe_sim.objects("transfer") == []
    assert (stripe_sim.available(), stripe_sim.available(account)) == (999, 0)
    transfer = stripe_sim_client.v1.transfers.create(
        params={"amount": 999, "currency": "usd", "destination": account}
    )
    assert transfer.amount == 999 and stripe_sim.available() == 0


def test_transfer_destination_must_exist_and_be_onboarded(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(1000)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_sim_client.v1.transfers.create(
            params={"amount": 10, "currency": "usd", "destination": "acct_404"}
        )
    assert (missing.value.param, missing.value.code) == ("destination", "resource_missing")
    fresh = stripe_sim_client.v1.accounts.create(
        params={"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    with pytest.raises(stripe.InvalidRequestError) as pending:
        stripe_sim_client.v1.transfers.create(
            params={"amount": 10, "currency": "usd", "destination": fresh.id}
        )
    assert pending.value.code == "insufficient_capabilities_for_transfer"
    assert stripe_sim.available() == 1000


def test_concurrent_transfers_never_overdraw(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(1000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            stripe_sim_client.v1.transfers.create(
                params={"amount": 300, "currency": "usd", "destination": account}
            )
            outcomes.append("ok")
        except stripe.InvalidRequestError as error:
            outcomes.append(str(error.code))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["balance_insufficient"] * 5 + ["ok"] * 3
    assert (stripe_sim.available(), stripe_sim.available(account)) == (100, 900)


def test_connect_onboarding_transfer_and_payout(
    stripe_sim: StripeSimulator,
    stripe_sim_client: stripe.StripeClient,
    stripe_webhook_receiver: WebhookReceiver,
) -> None:
    client = stripe_sim_client
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "worker@example.com",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": "42"},
        }
    )
    assert account.id.startswith("acct_")
    assert (account.details_submitted, account.charges_enabled, account.payouts_enabled) == (
        False,
        False,
        False,
    )
    assert account.capabilities.transfers == "inactive"
    assert (
        account.requirements is not None
        and "external_account" in account.requirements.currently_due
    )

    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://fairtask.test/connect/refresh",
            "return_url": "https://fairtask.test/connect/done",
        }
    )
    assert link.object == "account_link" and link.expires_at > link.created
    assert link.url.startswith(f"{stripe_sim.base_url}/connect/onboard/{account.id}")
    page = browse(link.url)
    assert page.status == 200 and "Complete onboarding" in page.body
    token = link.url.split("link=")[1]
    done = browse(
        f"{stripe_sim.base_url}/connect/onboard/{account.id}", {"link": token, "action": "complete"}
    )
    assert (done.status, done.location) == (303, "https://fairtask.test/connect/done")
    assert (
        browse(link.url).location == "https://fairtask.test/connect/refresh"
    )  # links are single-use

    onboarded = client.v1.accounts.retrieve(account.id)
    assert (onboarded.details_submitted, onboarded.charges_enabled, onboarded.payouts_enabled) == (
        True,
        True,
        True,
    )
    assert onboarded.capabilities.transfers == "active"
    assert onboarded.external_accounts.data[0].object == "bank_account"
    assert onboarded.metadata["user_id"] == "42"

    session = client.v1.checkout.sessions.create(params=_session_params(amount=5000))
    assert session.url is not None and browse(session.url, {}).status == 303
    # $50.00 paid, Stripe's fee 2.9% + 30¢ = $1.75 kept; $48.25 is pending for 2 days,
    # and a transfer may not use pending money, as on Stripe.
    assert (stripe_sim.available(), stripe_sim.pending()) == (0, 4825)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.create(
            params={"amount": 4000, "currency": "usd", "destination": account.id}
        )
    assert refused.value.code == "balance_insufficient"
    stripe_sim.advance_time(2 * 86400)
    assert (stripe_sim.available(), stripe_sim.pending()) == (4825, 0)
    transfer = client.v1.transfers.create(
        params={
            "amount": 4000,
            "currency": "usd",
            "destination": account.id,
            "transfer_group": "task-7",
            "description": "Payout for task 7",
            "metadata": {"assignment": "7"},
        }
    )
    assert transfer.id.startswith("tr_")
    assert (transfer.amount, transfer.destination, transfer.transfer_group) == (
        4000,
        account.id,
        "task-7",
    )
    assert transfer.reversed is False and transfer.reversals.data == []
    assert (
        client.v1.transfers.retrieve(transfer.id, params={"expand": ["destination"]}).destination.id
        == account.id
    )
    assert [t.id for t in client.v1.transfers.list(params={"destination": account.id}).data] == [
        transfer.id
    ]

    connected = client.v1.balance.retrieve(options={"stripe_account": account.id})
    assert connected.available[0].amount == 4000
    assert client.v1.balance.retrieve().available[0].amount == 825

    payout = client.v1.payouts.create(
        params={"amount": 3000, "currency": "usd", "metadata": {"w": "1"}},
        options={"stripe_account": account.id},
    )
    assert payout.id.startswith("po_") and payout.status == "pending"
    assert payout.destination == onboarded.external_accounts.data[0].id
    assert (
        client.v1.payouts.retrieve(payout.id, options={"stripe_account": account.id}).status
        == "paid"
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.retrieve(payout.id)  # not the platform's payout
    assert (
        client.v1.balance.retrieve(options={"stripe_account": account.id}).available[0].amount
        == 1000
    )

    account_events = client.v1.events.list(options={"stripe_account": account.id})
    assert [e.type for e in account_events.data] == [
        "payout.paid",
        "payout.created",
        "account.updated",
    ]
    assert all(e.account == account.id for e in account_events.data)
    platform_events = client.v1.events.list()
    assert [e.type for e in platform_events.data] == [
        "transfer.created",
        "balance.available",
        "checkout.session.completed",
    ]

    stripe_sim.wait_for_deliveries(6)
    verified = [
        stripe.Webhook.construct_event(
            r.body.decode(), r.headers["Stripe-Signature"], WEBHOOK_SECRET
        )
        for r in stripe_webhook_receiver.received
    ]
    assert sorted(e.type for e in verified) == sorted(
        [
            "account.updated",
            "balance.available",
            "checkout.session.completed",
            "transfer.created",
            "payout.created",
            "payout.paid",
        ]
    )
    updated = next(e for e in verified if e.type == "account.updated")
    assert updated.account == account.id
    assert updated.data.previous_attributes["payouts_enabled"] is False


def test_platform_payout_and_failure_fault(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(1000)
    stripe_sim.inject_fault("POST", "/v1/payouts", "fail", code="no_account")
    failed = stripe_sim_client.v1.payouts.create(params={"amount": 600, "currency": "usd"})
    assert failed.status == "pending"
    again = stripe_sim_client.v1.payouts.retrieve(failed.id)
    assert (again.status, again.failure_code) == ("failed", "no_account")
    assert stripe_sim.available() == 1000  # returned
    types = [e["type"] for e in stripe_sim.events()]
    assert types == ["payout.created", "payout.failed"]
    paid = stripe_sim_client.v1.payouts.create(params={"amount": 600, "currency": "usd"})
    assert stripe_sim_client.v1.payouts.retrieve(paid.id).status == "paid"
    assert stripe_sim.available() == 400
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.payouts.create(params={"amount": 401, "currency": "usd"})
    assert info.value.code == "balance_insufficient"


def test_manual_payout_settlement() -> None:
    with StripeSimulator(payout_settlement="manual") as sim:
        client = _client(sim)
        account = _onboarded_account(sim, client)
        sim.fund_balance(800, account=account)
        payout = client.v1.payouts.create(
            params={"amount": 800, "currency": "usd"}, options={"stripe_account": account}
        )
        assert (
            client.v1.payouts.retrieve(payout.id, options={"stripe_account": account}).status
            == "pending"
        )
        sim.settle_payout(payout.id, fail=True, failure_code="account_frozen")
        settled = client.v1.payouts.retrieve(payout.id, options={"stripe_account": account})
        assert (settled.status, settled.failure_code) == ("failed", "account_frozen")
        assert sim.available(account) == 800


def test_payout_needs_an_onboarded_account(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    account = stripe_sim_client.v1.accounts.create(
        params={"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    stripe_sim.fund_balance(100, account=account.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.payouts.create(
            params={"amount": 50, "currency": "usd"}, options={"stripe_account": account.id}
        )
    assert info.value.code == "payouts_not_allowed"


def test_transfer_reversal_and_update(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(1000)
    account = _onboarded_account(stripe_sim, stripe_sim_client)
    transfer = stripe_sim_client.v1.transfers.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "destination": account,
            "metadata": {"a": "1", "b": "2"},
        }
    )
    reversal = stripe_sim_client.v1.transfers.reversals.create(transfer.id, params={"amount": 400})
    assert (reversal.object, reversal.amount, reversal.transfer) == (
        "transfer_reversal",
        400,
        transfer.id,
    )
    assert (stripe_sim.available(), stripe_sim.available(account)) == (400, 600)
    again = stripe_sim_client.v1.transfers.retrieve(transfer.id)
    assert (again.amount_reversed, again.reversed, again.reversals.data[0].id) == (
        400,
        False,
        reversal.id,
    )
    rest = stripe_sim_client.v1.transfers.reversals.create(transfer.id)
    assert rest.amount == 600
    assert stripe_sim_client.v1.transfers.retrieve(transfer.id).reversed is True
    assert [r.id for r in stripe_sim_client.v1.transfers.reversals.list(transfer.id).data] == [
        rest.id,
        reversal.id,
    ]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sim_client.v1.transfers.reversals.create(transfer.id, params={"amount": 1})
    updated = stripe_sim_client.v1.transfers.update(
        transfer.id, params={"metadata": {"a": "", "c": "3"}}
    )
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
    assert [e["type"] for e in stripe_sim.events()][-3:] == [
        "transfer.reversed",
        "transfer.reversed",
        "transfer.updated",
    ]


# ------------------------------------------------------------------------ events
def test_events_list_filters_and_pagination(
    stripe_sim: StripeSimulator, stripe_sim_client: stripe.StripeClient
) -> None:
    stripe_sim.fund_balance(1000)
    for _ in range(3):
        session = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
        stripe_sim.complete_checkout(session.id)
    expired = stripe_sim_client.v1.checkout.sessions.create(params=_session_params())
    stripe_sim_client.v1.checkout.sessions.expire(expired.id)
    stripe_sim_client.v1.payouts.create(params={"amount": 100, "currency": "usd"})

    everything = stripe_sim_client.v1.events.list(params={"limit": 100})
    assert len(everything.data) == 6
    assert [e.created for e in everything.data] == sorted(
        (e.created for e in everything.data), reverse=True
    )
    completed = stripe_sim_client.v1.events.list(params={"type": "checkout.session.completed"})
    assert len(completed.data) == 3
    assert len(stripe_sim_client.v1.events.list(params={"type": "checkout.session.*"}).data) == 4
    both = stripe_sim_client.v1.events.list(
        params={"types": ["payout.paid", "checkout.session.expired"]}
    )
    assert sorted(e.type for e in both.data) == ["checkout.session.expired", "payout.paid"]
    page = stripe_sim_client.v1.events.list(
        params={"limit": 2, "type": "checkout.session.completed"}
    )
    assert page.has_more is True
    tail = stripe_sim_client.v1.events.list(
        params={
            "limit": 2,
            "type": "checkout.session.completed",
            "starting_after": page.data[-1].id,
        }
    )
    assert len(tail.data) == 1 and tail.has_more is False
    event = stripe_sim_client.v1.events.retrieve(tail.data[0].id)
    assert (
        event.type == "checkout.session.completed"
        and event.data.object.object == "checkout.session"
    )
    assert event.api_version and event.livemode is False
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_sim_client.v1.events.retrieve("evt_missing")
    assert info.value.http_status == 404


def test_webhook_signature_helper_matches_stripe_library() -> None:
    payload = '{"id": "evt_1", "object": "event"}'
    header = sign(payload, "whsec_abc", timestamp=int(time.time()))
    assert stripe.Webhook.construct_event(payload, header, "whsec_abc")["id"] == "evt_1"


# ---------------------------------------------------------------------- process
def test_runs_as_a_process_and_prints_its_address(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "payouts.stripe_sim",
            "--port",
            "0",
            "--webhook-url",
            "http://127.0.0.1:9/hook/",
            "--webhook-secret",
            "whsec_cli",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Stripe simulator listening on http://127.0.0.1:"), line
        base_url = line.split()[4]
        client = stripe.StripeClient(
            API_KEY, base_addresses={"api": base_url}, max_network_retries=0
        )
        assert client.v1.balance.retrieve().object == "balance"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


# ------------------------------------------------------------- strict as Stripe (issue 14)


def test_unknown_or_mistyped_secret_key_is_401_and_each_key_is_one_account() -> None:
    with StripeSimulator(api_keys=[API_KEY, "sk_test_second_account"]) as sim:
        for bad in ("sk_test_fairtask_simulatoR", "sk_test_unknown_key_1234"):
            status, _, body = _raw(
                sim, "GET", "/v1/balance", headers={"Authorization": f"Bearer {bad}"}
            )
            assert status == 401
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["message"] == (
                f"Invalid API Key provided: {bad[:8]}{'*' * (len(bad) - 12)}{bad[-4:]}"
            )
            with pytest.raises(stripe.AuthenticationError):
                _client(sim, key=bad).v1.checkout.sessions.create(params=_session_params())
        assert sim.objects("checkout.session") == []

        first, second = _client(sim), _client(sim, key="sk_test_second_account")
        session = first.v1.checkout.sessions.create(params=_session_params())
        with pytest.raises(stripe.InvalidRequestError) as info:
            second.v1.checkout.sessions.retrieve(session.id)
        assert info.value.http_status == 404  # another account's object
        assert [s.id for s in first.v1.checkout.sessions.list().data] == [session.id]
        assert second.v1.checkout.sessions.list().data == []


def test_webhook_endpoints_crud_and_connect_routing(stripe_sim: StripeSimulator) -> None:
    client = _client(stripe_sim)
    platform_receiver, connect_receiver = WebhookReceiver().start(), WebhookReceiver().start()
    try:
        platform = client.v1.webhook_endpoints.create(
            params={"url": platform_receiver.url, "enabled_events": ["*"]}
        )
        connect = client.v1.webhook_endpoints.create(
            params={"url": connect_receiver.url, "enabled_events": ["*"], "connect": True}
        )
        assert platform.secret and connect.secret and platform.secret != connect.secret
        assert "secret" not in client.v1.webhook_endpoints.retrieve(platform.id)  # shown once
        assert {e.id for e in client.v1.webhook_endpoints.list().data} == {
            platform.id,
            connect.id,
        }
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.webhook_endpoints.create(params={"url": platform_receiver.url})

        account = _onboarded_account(stripe_sim, client)  # account.updated: connected
        session = client.v1.checkout.sessions.create(params=_session_params())
        stripe_sim.complete_checkout(session.id)  # checkout.session.completed: platform
        stripe_sim.wait_for_deliveries(2)
        stripe_sim.wait_for_webhooks()

        [to_platform] = platform_receiver.received
        [to_connect] = connect_receiver.received
        event = stripe.Webhook.construct_event(
            to_platform.body.decode(), to_platform.headers["Stripe-Signature"], platform.secret
        )
        assert event.type == "checkout.session.completed"
        connected = stripe.Webhook.construct_event(
            to_connect.body.decode(), to_connect.headers["Stripe-Signature"], connect.secret
        )
        assert (connected.type, connected.account) == ("account.updated", account)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(
                to_connect.body.decode(), to_connect.headers["Stripe-Signature"], platform.secret
            )

        deleted = client.v1.webhook_endpoints.delete(platform.id)
        assert (deleted.id, deleted.deleted) == (platform.id, True)
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.webhook_endpoints.retrieve(platform.id)
        other = client.v1.checkout.sessions.create(params=_session_params())
        stripe_sim.complete_checkout(other.id)
        stripe_sim.wait_for_webhooks()
        assert len(platform_receiver.received) == 1  # no endpoint listens any more
        assert (
            client.v1.events.retrieve(
                stripe_sim.events("checkout.session.completed")[-1]["id"]
            ).pending_webhooks
            == 0
        )
    finally:
        platform_receiver.stop()
        connect_receiver.stop()


def test_pending_funds_become_available_on_their_date(stripe_sim: StripeSimulator) -> None:
    client = _client(stripe_sim)
    session = client.v1.checkout.sessions.create(params=_session_params(amount=10_000))
    stripe_sim.complete_checkout(session.id)
    paid = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge.balance_transaction"]}
    )
    bt = paid.payment_intent.latest_charge.balance_transaction
    # $100.00: 2.9% = $2.90, + 30¢ = $3.20 kept by Stripe.
    assert (bt.amount, bt.fee, bt.net, bt.status) == (10_000, 320, 9_680, "pending")
    assert bt.fee_details[0].type == "stripe_fee"
    assert bt.available_on == bt.created + 2 * 86400
    balance = client.v1.balance.retrieve()
    assert (balance.available[0].amount, balance.pending[0].amount) == (0, 9_680)

    stripe_sim.advance_time(2 * 86400 - 60)
    assert stripe_sim.pending() == 9_680  # not yet
    stripe_sim.advance_time(60)
    assert (stripe_sim.available(), stripe_sim.pending()) == (9_680, 0)
    assert client.v1.balance_transactions.retrieve(bt.id).status == "available"
    assert [e["type"] for e in stripe_sim.events()][-1] == "balance.available"


def test_no_fee_and_no_delay_when_configured() -> None:
    with StripeSimulator(card_fee_bp=0, card_fee_fixed=0, available_delay=0) as sim:
        session = _client(sim).v1.checkout.sessions.create(params=_session_params(amount=1234))
        sim.complete_checkout(session.id)
        assert (sim.available(), sim.pending()) == (1234, 0)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sim" / "state.json"
    with StripeSimulator(state_path=state) as sim:
        client = _client(sim)
        session = client.v1.checkout.sessions.create(
            params=_session_params(amount=2000), options={"idempotency_key": "checkout-1"}
        )
        sim.complete_checkout(session.id)
        account = _onboarded_account(sim, client)
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": "http://127.0.0.1:9/none", "enabled_events": ["payout.paid"]}
        )
        before = (sim.balance(), len(sim.events()))
    assert state.exists()

    with StripeSimulator(state_path=state) as again:
        client = _client(again)
        assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
        assert client.v1.accounts.retrieve(account).payouts_enabled is True
        assert [e.id for e in client.v1.webhook_endpoints.list().data] == [endpoint.id]
        assert (again.balance(), len(again.events())) == before
        # The idempotency key still replays the first response.
        replay = client.v1.checkout.sessions.create(
            params=_session_params(amount=2000), options={"idempotency_key": "checkout-1"}
        )
        assert replay.id == session.id
        again.advance_time(2 * 86400)
        assert again.available() == 2000 - 88
