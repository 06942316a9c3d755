"""Add funds from a batch that cannot be published: the form is prefilled with the
shortfall, and once the payment is credited the requester is back at the batch. The
``next`` path is only ever one of our own."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from marketplace import services
from payouts import funding, ledger
from payouts.models import Deposit
from payouts.stripe_sim.testing import WEBHOOK_SECRET
from payouts.views import NEXT_SESSION_KEY, safe_next_path
from tests.fixtures.users import RequesterFactory


@pytest.mark.parametrize(
    "value",
    [
        "//evil.example/",
        "https://evil.example/requester/",
        "/\\evil.example/",
        "/\\/evil.example/",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x",
        "/requester/\nx",
        " /requester/",
        "requester/",
        "/no-such-page/",
        "",
        None,
        ["/requester/"],
    ],
)
def test_next_refuses_anything_but_our_own_paths(value):
    assert safe_next_path(value) is None


@pytest.mark.parametrize(
    "value", ["/requester/", "/requester/batches/12/", "/requester/batches/12/?tab=cost"]
)
def test_next_keeps_our_own_paths(value):
    assert safe_next_path(value) == value


def _short_batch(requester):
    project = services.project_create(
        owner=requester,
        title="Backlog",
        template_kind="sentiment",
        reward_cents=10,
        estimated_seconds=30,
    )
    rows = "text\n" + "".join(f"row {i}\n" for i in range(2_000))
    return services.batch_upload(
        project=project, user=requester, filename="b.csv", fileobj=io.BytesIO(rows.encode())
    )


@pytest.mark.django_db
def test_the_batch_links_add_funds_with_its_shortfall_and_itself(client):
    requester = RequesterFactory()
    ledger.deposit(key="d-1", user=requester, amount_cents=4_856)
    batch = _short_batch(requester)  # 2,000 × 12¢ = $240.00; short by $191.44
    client.force_login(requester)
    page = client.get(reverse("requester:batch_detail", args=[batch.pk])).content.decode()
    href = f"/payouts/funds/?amount=191.44&amp;next=%2Frequester%2Fbatches%2F{batch.pk}%2F"
    assert f'href="{href}">Add $191.44</a>' in page
    form = client.get(href.replace("&amp;", "&")).content.decode()
    assert 'value="191.44"' in form
    assert f'<input type="hidden" name="next" value="/requester/batches/{batch.pk}/">' in form


@pytest.mark.django_db
def test_a_shortfall_below_the_minimum_top_up_prefills_the_minimum(client):
    client.force_login(RequesterFactory())
    form = client.get("/payouts/funds/?amount=0.30").content.decode()
    assert 'value="5.00"' in form
    assert 'name="next"' not in form  # no way back was asked for


@pytest.mark.django_db
def test_a_foreign_next_is_dropped(client, settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    client.force_login(RequesterFactory())
    form = client.get("/payouts/funds/?next=//evil.example/").content.decode()
    assert "evil" not in form
    client.post("/payouts/funds/", {"amount": "10.00", "next": "//evil.example/"})
    assert client.session.get(NEXT_SESSION_KEY, {}) == {}


@pytest.mark.django_db
def test_after_paying_the_requester_is_back_at_the_batch(client, settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    requester = RequesterFactory()
    batch = _short_batch(requester)
    client.force_login(requester)
    back = f"/requester/batches/{batch.pk}/"
    started = client.post("/payouts/funds/", {"amount": "240.00", "next": back})
    assert started.status_code == 302
    deposit = Deposit.objects.get(user=requester)
    return_url = f"/payouts/funds/return/?session_id={deposit.checkout_session_id}"
    # Not credited yet: the return page waits (and polls); no redirect.
    assert client.get(return_url).status_code == 200
    stripe_sim.complete_checkout(deposit.checkout_session_id)
    event = next(
        e
        for e in stripe_sim.events()
        if e["type"] == "checkout.session.completed"
        and e["data"]["object"]["id"] == deposit.checkout_session_id
    )
    funding.process_event(event)  # what the webhook does
    polled = client.get(return_url, headers={"HX-Request": "true"})
    assert polled.status_code == 204 and polled["HX-Redirect"] == back
    landed = client.get(back)
    assert "$240.00 added to your balance; balance now $240.00." in landed.content.decode()
    # Once only: the way back is forgotten after use.
    assert client.get(return_url).status_code == 200
