"""A staff member's first login in Chromium: log in, set up TOTP two-factor (nothing
blocked: the browser's own /favicon.ico request and the page's other requests go
through), and land where staff work, not on the marketing page."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import Page, expect

from tests.fixtures.users import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def current_code(secret: str) -> str:
    """The code an authenticator app shows now. Waits out the last seconds of a period
    so that the code cannot roll over between computing and submitting it."""
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 5:
        time.sleep(period - time.time() % period + 0.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def test_staff_sets_up_two_factor_in_the_browser_and_lands_at_work(page: Page, site):
    staff = UserFactory(email="admin@example.com", is_staff=True, is_superuser=True)
    page.goto(site + "/accounts/login/")
    page.locator("#id_login").fill("admin@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()

    # Straight to the setup: no second password prompt right after logging in.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate"))
    expect(page.get_by_role("heading", name="Activate Authenticator App")).to_be_visible()
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret

    # What a browser does besides showing the page: its favicon, an htmx partial or a
    # fetch from a page. None of them may replace the secret shown.
    favicon = page.request.get(site + "/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/x-icon"
    status = page.evaluate("fetch('/payouts/staff/money/').then(r => r.status)")
    assert status == 403
    page.evaluate("fetch('/no-such-image.png', {headers: {'Accept': 'image/*'}})")

    page.get_by_label("Authenticator code").fill(current_code(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name="Recovery Codes")).to_be_visible()
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()

    # From then on the staff member's home is the money overview.
    page.get_by_role("link", name="Fairtask").click()
    expect(page.get_by_role("heading", name="Money overview")).to_be_visible()


def test_staff_log_in_with_two_factor_and_land_on_the_money_overview(page: Page, site):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    staff = UserFactory(email="admin2@example.com", is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    page.goto(site + "/accounts/login/")
    page.locator("#id_login").fill("admin2@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    page.locator("#id_code").fill(current_code(secret))
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Money overview")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/payouts/staff/money/$"))
