"""Shared pieces of the API tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from marketplace.services.api_keys import api_key_create


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Rate-limit counts live in the cache; each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


def key_client(user, name: str = "test") -> APIClient:
    _, raw = api_key_create(user=user, name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def api(requester) -> APIClient:
    return key_client(requester)


def assert_error(
    response, status: int, code: str, *, field: str | None = None, message: str | None = None
):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if field is not None:
        assert field in error["fields"], error
    if message is not None:
        assert message in error["message"], error
    return error
