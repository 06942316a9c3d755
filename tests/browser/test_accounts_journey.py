"""A person's first visit: sign up, verify, log in, log out; switching role."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from tests.fixtures.users import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_up_verify_log_in_log_out(page: Page, site):
    page.goto(site + "/")
    expect(
        page.get_by_role("heading", name="Small tasks, fair pay, nothing hidden.")
    ).to_be_visible()
    page.get_by_role("link", name="Sign up", exact=True).click()

    page.locator("#id_email").fill("newcomer@example.com")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_label("Display name").fill("Newcomer")
    page.get_by_label("Worker: find tasks and get paid").check()
    page.get_by_role("button", name="Sign up", exact=True).click()

    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newcomer@example.com"]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)

    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    # Confirmation logs the person in or sends them to log in; either way, log in now.
    if page.get_by_role("main").get_by_role("button", name="Log in", exact=True).count():
        page.locator("#id_login").fill("newcomer@example.com")
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Find work")).to_be_visible()  # the worker start page
    expect(page.get_by_text("newcomer@example.com")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    if (
        page.get_by_role("main").get_by_role("button", name="Log out").count()
    ):  # allauth confirms a logout
        page.get_by_role("main").get_by_role("button", name="Log out").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    page.goto(site + "/work/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_user_with_both_roles_switches_in_the_header(page: Page, site):
    UserFactory(
        email="both@example.com",
        display_name="Both",
        is_worker=True,
        is_requester=True,
        active_role="worker",
    )
    page.goto(site + "/accounts/login/")
    page.locator("#id_login").fill("both@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("link", name="Find work")).to_be_visible()

    page.get_by_label("Working as").select_option("requester")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_text("You are now working as a requester.")).to_be_visible()
    expect(page.get_by_role("heading", name="Requester home")).to_be_visible()
    expect(page.get_by_role("link", name="Find work")).to_have_count(0)

    page.get_by_label("Working as").select_option("worker")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", name="Find work")).to_be_visible()


def test_landing_and_login_pages_look_right_on_a_phone(open_context, site):
    context = open_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(site + "/")
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # A visitor's header is short enough to stay open: Log in and Sign up in view.
    banner = page.get_by_role("banner")
    expect(banner.get_by_role("link", name="Log in")).to_be_visible()
    expect(banner.get_by_role("link", name="Sign up")).to_be_visible()
    expect(banner.get_by_role("button", name="Menu")).to_have_count(0)
    page.screenshot(path="var/test-results/landing-phone.png", full_page=True)
    page.goto(site + "/accounts/login/")
    page.keyboard.press("Tab")  # the skip link is the first stop for keyboard users
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    context.close()
