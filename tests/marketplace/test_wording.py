"""One name for each account action on every page: "Sign up", "Log in", "Log out"
(allauth's own pages said "Sign Up", "Sign In", "Sign Out" next to our header's)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.fixtures.users import PASSWORD, RequesterFactory

pytestmark = pytest.mark.django_db


def test_the_login_and_signup_pages_use_our_words(client):
    login = client.get(reverse("account_login")).content.decode()
    signup = client.get(reverse("account_signup")).content.decode()
    for page in (login, signup):
        assert "Sign In" not in page and "Sign Up" not in page and "sign in" not in page
    assert ">Log in</button>" in " ".join(login.split()).replace("> ", ">").replace(" <", "<")
    assert "Log in" in login and "Sign up" in signup
    assert "Already have an account? Then please" in signup and ">log in</a>" in signup


def test_logging_in_and_out_is_called_that(client):
    user = RequesterFactory()
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True
    )
    page = response.content.decode()
    assert "Logged in as" in page and "signed in" not in page
    out = client.post(reverse("account_logout"), follow=True).content.decode()
    assert "You have logged out." in out
