"""A Redis cache outage degrades instead of answering 500, and behind the proxy the
login limits count per client address.

The cache is a real FailOpenRedisCache pointed at an address where nothing listens (as
when the cache's Redis is down); the rate-limit tests use the process-local cache.
Stated choice (marketplace/cache.py): rate limits fail *open* while the cache is down.
"""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.urls import reverse

from tests.fixtures.users import PASSWORD, UserFactory

NOTHING_LISTENS = "redis://127.0.0.1:9/0"


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "marketplace.cache.FailOpenRedisCache",
            "LOCATION": NOTHING_LISTENS,
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    yield
    caches["default"].close()


@pytest.fixture
def local_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"}
    }
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.mark.django_db
def test_login_works_while_the_cache_is_down(client, cache_down):
    user = UserFactory()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302  # logged in, not 500
    assert client.get(reverse("account_email")).status_code == 200
    # Wrong passwords get the form error, not a 500 and not a blanket "too many attempts".
    client.logout()
    for _ in range(12):  # more than login_failed's 10/m/ip: not counted while down
        wrong = client.post(reverse("account_login"), {"login": user.email, "password": "nope"})
        assert wrong.status_code == 200
        assert b"Too many failed login attempts" not in wrong.content


@pytest.mark.django_db
def test_pages_and_api_throttle_serve_while_the_cache_is_down(client, cache_down):
    assert client.get("/").status_code == 200
    assert client.get(reverse("account_login")).status_code == 200


def _failed_logins(client, email: str, address: str, n: int) -> list[str]:
    """ "wrong" for a counted failure, "limited" once allauth refuses to check at all."""
    outcomes = []
    for _ in range(n):
        response = client.post(
            reverse("account_login"),
            {"login": email, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=address,
        )
        assert response.status_code in (200, 429)
        limited = (
            response.status_code == 429 or b"Too many failed login attempts" in response.content
        )
        outcomes.append("limited" if limited else "wrong")
    return outcomes


@pytest.mark.django_db
def test_behind_one_proxy_login_limits_count_per_client(client, settings, local_cache):
    """ALLAUTH_TRUSTED_PROXY_COUNT=1 (production's default): the address the proxy
    appended is the client's, so one client's failures do not lock out another."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}
    a, b = UserFactory(), UserFactory()
    assert _failed_logins(client, a.email, "203.0.113.5", 4) == ["wrong"] * 3 + ["limited"]
    # Another client, behind the same proxy (same REMOTE_ADDR): still allowed.
    assert _failed_logins(client, b.email, "203.0.113.6", 1) == ["wrong"]
    # A client cannot escape by sending its own X-Forwarded-For: Caddy appends the
    # real address last, and that is the one counted.
    assert _failed_logins(client, a.email, "198.51.100.1, 203.0.113.5", 1) == ["limited"]


@pytest.mark.django_db
def test_without_the_proxy_count_every_client_shares_one_limit(client, settings, local_cache):
    """What issue 18 found: with the count at 0 behind a proxy, every visitor is the
    proxy's address, so one client's failures lock out everyone."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}
    a, b = UserFactory(), UserFactory()
    assert _failed_logins(client, a.email, "203.0.113.5", 4) == ["wrong"] * 3 + ["limited"]
    assert _failed_logins(client, b.email, "203.0.113.6", 1) == ["limited"]
