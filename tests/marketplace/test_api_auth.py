"""API keys, authentication, the error shape, throttling, the schema and the docs page."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import ApplicationError
from marketplace.models import ApiKey, Batch
from marketplace.services.api_keys import api_key_check, api_key_create, api_key_revoke
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace import api_helpers
from tests.marketplace.api_helpers import assert_error, key_client
from tests.marketplace.conftest import csv_bytes, make_project

pytestmark = pytest.mark.django_db

# Fixtures shared by the API tests (assigned, not imported, so that linters see them used).
_fresh_throttle_counts = api_helpers._fresh_throttle_counts
api = api_helpers.api

BALANCE = "/api/v1/balance/"


def test_key_is_stored_as_a_hash_and_shown_once(requester):
    key, raw = api_key_create(user=requester, name="script")
    prefix, secret = raw.split(".")
    assert key.prefix == prefix and prefix.startswith("ft") and len(prefix) == 12
    assert len(secret) >= 43  # 32 random bytes
    assert key.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.filter(pk=key.pk).values().get())


def test_only_requesters_create_keys(worker):
    with pytest.raises(ApplicationError) as exc:
        api_key_create(user=worker, name="x")
    assert exc.value.status == 403


def test_no_credentials_is_401_with_the_scheme():
    response = APIClient().get(BALANCE)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key ftdeadbeef00.wrongsecret",
        "Api-Key nonsense",
        "Api-Key ",
        "Bearer a.b.c",
        "Api-Key ft.x y",
    ],
)
def test_bad_keys_are_401(header, requester):
    api_key_create(user=requester, name="real")
    response = APIClient().get(BALANCE, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "authentication_failed")


def test_right_prefix_wrong_secret_is_401(requester):
    _, raw = api_key_create(user=requester, name="real")
    prefix = raw.split(".")[0]
    response = APIClient().get(BALANCE, HTTP_AUTHORIZATION=f"Api-Key {prefix}.{'A' * 43}")
    assert_error(response, 401, "authentication_failed")


def test_api_key_and_bearer_both_work(requester):
    key, raw = api_key_create(user=requester, name="real")
    assert APIClient().get(BALANCE, HTTP_AUTHORIZATION=f"Api-Key {raw}").status_code == 200
    assert APIClient().get(BALANCE, HTTP_AUTHORIZATION=f"Bearer {raw}").json() == {
        "balance_cents": 0,
        "currency": "usd",
    }
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(requester, django_assert_num_queries):
    key, raw = api_key_create(user=requester, name="real")
    assert api_key_check(raw) is not None
    with django_assert_num_queries(1):  # the lookup; no write within the minute
        assert api_key_check(raw) is not None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with django_assert_num_queries(2):
        api_key_check(raw)


def test_revoked_key_is_401(requester):
    key, raw = api_key_create(user=requester, name="real")
    api_key_revoke(key_id=key.pk, user=requester)
    assert_error(
        APIClient().get(BALANCE, HTTP_AUTHORIZATION=f"Api-Key {raw}"), 401, "authentication_failed"
    )


def test_key_of_someone_no_longer_a_requester_is_401(requester):
    _, raw = api_key_create(user=requester, name="real")
    requester.is_requester = False
    requester.active_role = ""
    requester.save()
    assert_error(
        APIClient().get(BALANCE, HTTP_AUTHORIZATION=f"Api-Key {raw}"), 401, "authentication_failed"
    )


def test_session_auth_works_for_requesters_and_needs_csrf_for_writes(requester):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(requester)
    assert client.get(BALANCE).status_code == 200
    project = make_project(requester)
    response = client.post(f"/api/v1/projects/{project.pk}/archive/")
    assert_error(response, 403, "csrf_failed", message="X-CSRFToken")
    project.refresh_from_db()
    assert project.status == "active"


def test_workers_get_403():
    client = APIClient()
    client.force_login(WorkerFactory())
    assert_error(client.get(BALANCE), 403, "permission_denied", message="Only requesters")


def test_unknown_urls_and_methods_use_the_error_shape(api):
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(APIClient().get("/api/v2/projects/"), 404, "not_found")
    assert_error(api.get("/api/v1/projects/abc/"), 404, "not_found")
    assert_error(api.delete("/api/v1/projects/"), 405, "method_not_allowed")


def test_malformed_json_is_a_400_in_the_error_shape(api):
    response = api.post("/api/v1/projects/", data="{nope", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_throttled_is_429_with_retry_after(requester, settings):
    settings.FAIRTASK_API_RATE = "3/min"
    client = key_client(requester)
    for _ in range(3):
        assert client.get(BALANCE).status_code == 200
    response = client.get(BALANCE)
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert error["details"]["retry_after_seconds"] > 0
    # Per user: another requester is not affected.
    assert key_client(RequesterFactory()).get(BALANCE).status_code == 200


def test_uploads_have_their_own_lower_rate(requester, settings):
    settings.FAIRTASK_API_UPLOAD_RATE = "1/min"
    client = key_client(requester)
    project = make_project(requester)
    url = f"/api/v1/projects/{project.pk}/batches/"

    def post():
        return client.post(
            url,
            {"file": SimpleUploadedFile("b.csv", csv_bytes(2)), "name": "b"},
            format="multipart",
        )

    assert post().status_code == 201
    assert_error(post(), 429, "throttled")
    assert Batch.objects.count() == 1
    assert client.get(url).status_code == 200  # reading is not an upload


def test_schema_is_valid_openapi_and_documents_auth_and_errors():
    from drf_spectacular.validation import validate_schema

    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # against the OpenAPI 3.0 JSON schema drf-spectacular ships
    assert "/api/v1/batches/{id}/publish/" in schema["paths"]
    assert not [path for path in schema["paths"] if "{format}" in path]
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    paths = schema["paths"]
    for path in (
        "/api/v1/projects/",
        "/api/v1/projects/{id}/",
        "/api/v1/projects/{id}/clone/",
        "/api/v1/projects/{id}/archive/",
        "/api/v1/projects/{id}/batches/",
        "/api/v1/batches/",
        "/api/v1/batches/{id}/",
        "/api/v1/batches/{id}/publish/",
        "/api/v1/batches/{id}/pause/",
        "/api/v1/batches/{id}/resume/",
        "/api/v1/batches/{id}/cancel/",
        "/api/v1/batches/{id}/progress/",
        "/api/v1/balance/",
    ):
        assert path in paths, path
    publish = paths["/api/v1/batches/{id}/publish/"]["post"]
    assert publish["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Error"
    )


def test_docs_page_is_self_hosted():
    response = Client().get(reverse("api:docs"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "/api/v1/batches/{id}/publish/" in html and "Api-Key" in html and "Rate limits" in html
    assert "cdn" not in html.lower() and "https://" not in html  # nothing loaded from elsewhere


def test_browsable_api_with_a_session(requester):
    client = Client()
    client.force_login(requester)
    response = client.get("/api/v1/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "/api/v1/projects/" in response.content.decode()
    response = client.get("/api/v1/balance/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and "balance_cents" in response.content.decode()
