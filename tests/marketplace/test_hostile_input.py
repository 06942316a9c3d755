"""Issue 15: input that used to be a 500 or an HTML page under /api/. Every case is a
4xx in the documented shape (JSON under /api/, a form error on pages) and changes
nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketplace.models import Batch, Project, Task
from payouts.models import LedgerAccount
from tests.marketplace import api_helpers
from tests.marketplace.api_helpers import assert_error
from tests.marketplace.conftest import make_project

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"

_fresh_throttle_counts = api_helpers._fresh_throttle_counts
api = api_helpers.api


def _payload(**overrides):
    body = {
        "title": "Rate reviews",
        "template_kind": "sentiment",
        "reward_cents": 10,
        "estimated_seconds": 30,
    }
    body.update(overrides)
    return body


def _post_json(client, url, text: str, method: str = "post"):
    return getattr(client, method)(url, data=text, content_type="application/json")


# --- Defect 2: bounds and text, through the API --------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"auto_approval_delay_seconds": 10**15}, "auto_approval_delay_seconds"),
        ({"auto_approval_delay_seconds": -(10**15)}, "auto_approval_delay_seconds"),
        ({"batch_lifetime_seconds": 10**15}, "batch_lifetime_seconds"),
        ({"batch_lifetime_seconds": -(10**15)}, "batch_lifetime_seconds"),
        ({"estimated_seconds": 10**15}, "estimated_seconds"),
        ({"time_allotted_seconds": 10**15}, "time_allotted_seconds"),
        ({"gold_rate_bp": 10**15}, "gold_rate_bp"),
        ({"keywords": "cats,\u0000dogs"}, "keywords"),
        ({"keywords": ["cats", "\u0000"]}, "keywords"),
        ({"title": "A\u0000B"}, "title"),
        ({"template_config": {"labels": ["a", "b\u0000"]}}, "template_config"),
        ({"template_config": {"question": "Why\u0000?"}}, "template_config"),
        ({"requirements": {"languages": ["en\u0000"]}}, "requirements"),
        ({"requirements": {"min_tier": "x\u0000"}}, "requirements"),
        (
            {"requirements": {"qualifications": [{"name": "a", "comparator": [">="]}]}},
            "requirements",
        ),
        (
            {"requirements": {"qualifications": [{"name": "a", "comparator": {"x": 1}}]}},
            "requirements",
        ),
        (
            {"requirements": {"qualifications": [{"name": "a\u0000", "comparator": "exists"}]}},
            "requirements",
        ),
    ],
)
def test_out_of_bounds_and_unstorable_values_are_a_400_with_the_field(api, overrides, field):
    error = assert_error(
        api.post(URL, _payload(**overrides), format="json"), 400, error_code(overrides)
    )
    assert field in error["fields"], error
    assert not Project.objects.exists()


def error_code(overrides) -> str:
    # Bounds the schema documents are the serializer's ("invalid"); the rest the
    # service's specific codes.
    key = next(iter(overrides))
    return {
        "keywords": "invalid_character",
        "title": "invalid",  # DRF's CharField refuses NUL itself
        "template_config": "invalid_template_config",
        "requirements": "invalid_requirements",
    }.get(key, "invalid")


@pytest.mark.parametrize(
    "text",
    [
        # Lone surrogates only arrive through JSON escapes.
        '{"title": "T", "template_kind": "sentiment", "reward_cents": 10, '
        '"estimated_seconds": 30, "keywords": "a,\\ud800"}',
        '{"title": "T", "template_kind": "sentiment", "reward_cents": 10, '
        '"estimated_seconds": 30, "template_config": {"question": "\\udfff?"}}',
        '{"title": "T", "template_kind": "sentiment", "reward_cents": 10, '
        '"estimated_seconds": 30, "keywords": ["\\ud83d"]}',
    ],
)
def test_lone_surrogates_are_a_400(api, text):
    response = _post_json(api, URL, text)
    assert_error(response, 400, response.json()["error"]["code"])
    assert response.json()["error"]["code"] in ("invalid_character", "invalid_template_config")
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"title": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"title": "T", "template_kind": "sentiment", "reward_cents": 10, '
        '"estimated_seconds": 30, "requirements": {"languages": ' + "[" * 5000 + "]" * 5000 + "}}",
    ],
)
def test_deeply_nested_json_bodies_are_a_400(api, text):
    response = _post_json(api, URL, text)
    assert response.status_code == 400, response.content[:300]
    assert set(response.json()) == {"error"}
    assert not Project.objects.exists()


def test_nesting_that_parses_but_is_too_deep_to_store_is_refused(api):
    deep: list = []
    for _ in range(100):
        deep = [deep]
    error = assert_error(
        api.post(URL, _payload(requirements={"languages": deep}), format="json"),
        400,
        "invalid_requirements",
    )
    assert "requirements" in error["fields"]


@pytest.mark.parametrize("number", ["1e999999", "-1e999999", "1e400"])
def test_numbers_too_large_for_a_float_are_a_400(api, number):
    text = (
        '{"title": "T", "template_kind": "sentiment", "estimated_seconds": 30, '
        f'"reward_cents": {number}}}'
    )
    assert_error(_post_json(api, URL, text), 400, "parse_error")
    assert not Project.objects.exists()


def test_a_huge_integer_is_a_400(api):
    assert_error(api.post(URL, _payload(reward_cents=10**40), format="json"), 400, "invalid")


def test_a_30_mb_json_body_is_a_413_in_the_error_shape(api):
    text = json.dumps(_payload(description="x" * (30 * 1024 * 1024)))
    error = assert_error(_post_json(api, URL, text), 413, "body_too_large")
    assert "bytes" in error["message"]
    assert not Project.objects.exists()


# --- Defect 4: one JSON error shape for everything under /api/ ------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "get"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing/",
        "/api/v2/projects/",
        "/api/v1/projects/abc/",
        "/api/v1/batches/1x/publish/",
    ],
)
def test_unknown_paths_and_non_integer_ids_are_a_json_404_with_an_api_key(requester, method, path):
    from rest_framework.test import APIClient

    from marketplace.services.api_keys import api_key_create

    # CSRF enforced as in a real request (the test client skips it by default): this was
    # Django's HTML "CSRF verification failed" page.
    _, raw = api_key_create(user=requester, name="csrf")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    response = getattr(client, method)(path, {"x": 1}, format="json")
    error = assert_error(response, 404, "not_found")
    assert path in error["message"]


def test_a_session_post_without_csrf_token_is_a_json_403(requester):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(requester)
    for path in ("/api/v1/nothing/", "/api/v1/projects/"):
        response = client.post(path, {"title": "x"}, format="json")
        assert response.status_code in (403, 404)
        assert response["Content-Type"].startswith("application/json")
        assert set(response.json()) == {"error"}


def test_a_clone_body_that_is_an_array_is_a_400(api, requester):
    project = make_project(requester)
    assert_error(api.post(f"{URL}{project.pk}/clone/", [1, 2], format="json"), 400, "invalid")
    assert Project.objects.count() == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "abc"}, 400),
        ({"page": "1.5"}, 400),
        ({"page": "-1"}, 400),
        ({"page": "0"}, 400),
        ({"page": "99999999999999999999"}, 400),
        ({"page": "٣"}, 400),  # an Arabic-Indic digit is not a page number
        ({"page_size": "abc"}, 400),
        ({"page_size": "0"}, 400),
        ({"page_size": "201"}, 400),
        ({"page": "7"}, 404),  # past the last page
    ],
)
def test_a_bad_page_or_page_size_is_refused(api, params, status):
    # The schema says whole numbers in range; before, page_size=abc silently gave 50.
    response = api.get(URL, params)
    assert response.status_code == status, response.content
    assert set(response.json()) == {"error"}


# --- Defect 2 on the pages: the same refusals as form errors -------------------------------


@pytest.fixture
def rclient(client, requester):
    client.force_login(requester)
    return client


def test_pricing_partial_refuses_an_exponent(rclient):
    response = rclient.get(
        reverse("requester:pricing"), {"reward": "1e999999", "estimated_seconds": "30"}
    )
    assert response.status_code == 200
    assert "is not an amount in dollars" in response.content.decode()


def test_project_form_refuses_an_exponent_reward(rclient):
    from tests.marketplace.test_views_requester import _field_errors, _project_post

    response = rclient.post(
        reverse("requester:project_create", args=["sentiment"]), _project_post(reward="1e999999")
    )
    assert response.status_code == 400
    assert "is not an amount in dollars" in _field_errors(response.content.decode(), "reward")
    assert not Project.objects.exists()


def test_add_funds_refuses_an_exponent(rclient):
    response = rclient.post(reverse("payouts:add_funds"), {"amount": "1e999999"})
    assert response.status_code in (200, 400)
    assert "is not an amount in dollars" in response.content.decode()


def test_a_service_error_about_a_requirement_is_shown_next_to_its_own_field(rclient):
    from tests.marketplace.test_views_requester import _field_errors, _project_post

    response = rclient.post(
        reverse("requester:project_create", args=["sentiment"]),
        _project_post(qualifications="English >= 9999999999"),
    )
    assert response.status_code == 400
    assert "must be a whole number between" in _field_errors(
        response.content.decode(), "qualifications"
    )
    assert not Project.objects.exists()


def test_html_upload_of_a_deeply_nested_jsonl_cell_is_a_form_error(rclient, requester):
    project = make_project(requester)
    line = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    response = rclient.post(
        reverse("requester:batch_upload", args=[project.pk]),
        {"file": SimpleUploadedFile("deep.jsonl", line.encode()), "name": "Deep"},
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.content.decode()
    assert not Batch.objects.exists() and not Task.objects.exists()


# --- Reads don't write ----------------------------------------------------------------------


def test_quote_progress_balance_and_home_create_no_ledger_account(api, rclient, requester):
    from tests.marketplace.conftest import csv_bytes, upload

    project = make_project(requester)
    batch = upload(project, requester, csv_bytes(3))
    assert not LedgerAccount.objects.filter(owner=requester).exists()
    assert api.get(f"/api/v1/batches/{batch.pk}/quote/").json()["balance_cents"] == 0
    assert api.get(f"/api/v1/batches/{batch.pk}/progress/").status_code == 200
    assert api.get(f"/api/v1/batches/{batch.pk}/").status_code == 200
    assert api.get("/api/v1/balance/").json()["balance_cents"] == 0
    assert rclient.get(reverse("requester_home")).status_code == 200
    assert rclient.get(reverse("requester:batch_detail", args=[batch.pk])).status_code == 200
    assert not LedgerAccount.objects.exists()
