"""Demo funding for ``seed_demo``: through the real funding path, never by writing
balances. A Checkout Session is created exactly as the "Add funds" page does, paid on
the simulator's hosted page (the form a person would submit), and the resulting
``checkout.session.completed`` event is applied by the same handler as the webhook
(fetched from Stripe's event list, because the web server may not be up yet).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from core.errors import ApplicationError
from payouts import funding, withdrawals
from payouts.models import Deposit, Withdrawal


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the success URL is ours; no need to follow
        return None


def wait_for_stripe(timeout: float = 30.0) -> bool:
    """True once the Stripe API base answers (the simulator may still be starting)."""
    deadline = time.monotonic() + timeout
    # Only called for the simulator (seed_demo checks STRIPE_SIMULATED), and settings
    # always give the simulator an API base; None would mean Stripe's own.
    assert settings.STRIPE_API_BASE is not None
    url = settings.STRIPE_API_BASE.rstrip("/") + "/v1/balance"
    while True:
        headers = {"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310 - http(s) API base from our settings
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


def _submit_hosted_page(url: str, fields: dict[str, str]) -> None:
    """Submit a form on one of the simulator's hosted pages (Checkout, Connect
    onboarding) as the person would; its redirect back to our site is not followed."""
    form = urllib.parse.urlencode(fields).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        # The URL is a page the simulator itself returned (http on loopback).
        request = urllib.request.Request(url, data=form, method="POST")  # noqa: S310
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code not in (302, 303):
            raise


def fund_demo_requester(*, user, amount_cents: int, site_url: str) -> Deposit | None:
    """Top up ``user`` once (idempotent: a requester with a completed deposit is left
    alone). Only against the simulator: with real Stripe keys nobody can pay here."""
    if not settings.STRIPE_SIMULATED:
        return None
    done = Deposit.objects.filter(user=user, status=Deposit.Status.COMPLETED).first()
    if done is not None:
        return done
    deposit = funding.deposit_start(user=user, amount_cents=amount_cents, site_url=site_url)
    _submit_hosted_page(deposit.checkout_url, {"email": user.email})
    funding.sync_events()
    deposit.refresh_from_db()
    return deposit


def demo_withdrawal(*, worker, amount_cents: int, site_url: str) -> Withdrawal | None:
    """Connect ``worker``'s payout account and withdraw ``amount_cents`` once, through the
    real path: the account link the Withdraw page opens, finished on the simulator's
    hosted onboarding page (the form a person would submit), then a withdrawal request;
    the transfer job pays it (after Stripe's pending card funds become available).
    Idempotent: a worker who has a withdrawal is left alone. Only against the simulator;
    None when the worker cannot withdraw (not enough money, onboarding not finished)."""
    if not settings.STRIPE_SIMULATED:
        return None
    existing = Withdrawal.objects.filter(worker=worker).order_by("pk").first()
    if existing is not None:
        return existing
    back = site_url.rstrip("/") + "/payouts/withdraw/"
    link = withdrawals.payout_account_link(worker=worker, return_url=back, refresh_url=back)
    _submit_hosted_page(link, {"action": "complete"})
    withdrawals.payout_account_refresh(worker=worker)
    try:
        return withdrawals.withdrawal_request(worker=worker, amount_cents=amount_cents)
    except ApplicationError:
        return None
