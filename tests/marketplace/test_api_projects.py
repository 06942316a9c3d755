"""The projects API: list, create, retrieve, update, clone, archive; bad input changes nothing."""

from __future__ import annotations

import pytest

from marketplace.models import Project, ProjectStatus
from tests.fixtures.users import RequesterFactory
from tests.marketplace import api_helpers
from tests.marketplace.api_helpers import assert_error, key_client
from tests.marketplace.conftest import make_project

pytestmark = pytest.mark.django_db

# Fixtures shared by the API tests (assigned, not imported, so that linters see them used).
_fresh_throttle_counts = api_helpers._fresh_throttle_counts
api = api_helpers.api

URL = "/api/v1/projects/"


def _payload(**overrides):
    data = {
        "title": "Classify tickets",
        "template_kind": "text_classification",
        "template_config": {"labels": ["Question", "Complaint", "Other"]},
        "reward_cents": 10,
        "estimated_seconds": 30,
        "assignments_per_task": 3,
        "keywords": ["support", "text"],
        "auto_approval_delay_seconds": 86400,
        "requirements": {"min_approval_rate": 90},
    }
    data.update(overrides)
    return data


def test_create_returns_the_project_with_pricing_and_columns(api, requester):
    response = api.post(URL, _payload(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    project = Project.objects.get(owner=requester)
    assert response["Location"] == f"/api/v1/projects/{project.pk}/"
    assert body["id"] == project.pk
    assert body["required_columns"] == ["text"]
    assert body["keywords"] == ["support", "text"]
    assert body["auto_approval_delay_seconds"] == 86400
    assert body["batch_lifetime_seconds"] == 7 * 86400
    assert body["pricing"] == {
        "fee_cents": 2,
        "cost_per_assignment_cents": 12,
        "hourly_rate_cents": 1200,
        "minimum_reward_cents": 7,
        "meets_pay_floor": True,
        "pay_floor_cents_per_hour": 800,
        "fee_rate_bp": 2000,
        "fee_minimum_cents": 1,
        "fee_is_minimum": False,
    }
    assert project.template_config["labels"] == ["Question", "Complaint", "Other"]


def test_create_custom(api):
    response = api.post(
        URL,
        _payload(
            template_kind="custom", template_html="<p>${a}</p><input name=x>", template_config=None
        ),
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["required_columns"] == ["a"]


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field", "message"),
    [
        # Bounds the schema documents are checked by the serializer (code "invalid");
        # the service checks them again for callers that are not the API.
        ({"reward_cents": 0}, 400, "invalid", "reward_cents", "at least $0.01"),
        ({"reward_cents": -5}, 400, "invalid", "reward_cents", "at least $0.01"),
        ({"reward_cents": 10**15}, 400, "invalid", "reward_cents", "at most $1,000.00"),
        ({"reward_cents": "abc"}, 400, "invalid", "reward_cents", "valid integer"),
        ({"reward_cents": 10.5}, 400, "invalid", "reward_cents", "valid integer"),
        ({"reward_cents": None}, 400, "invalid", "reward_cents", "may not be null"),
        (
            {"assignments_per_task": 101},
            400,
            "invalid",
            "assignments_per_task",
            "between 1 and 100",
        ),
        (
            {"assignments_per_task": 0},
            400,
            "invalid",
            "assignments_per_task",
            "between 1 and 100",
        ),
        (
            {"auto_approval_delay_seconds": 31 * 86400},
            400,
            "invalid",
            "auto_approval_delay_seconds",
            "30 days",
        ),
        (
            {"reward_cents": 5, "estimated_seconds": 60},
            400,
            "below_pay_floor",
            "reward_cents",
            "at least $0.14",
        ),
        ({"template_kind": "video"}, 400, "invalid", "template_kind", "not a valid choice"),
        (
            {"template_kind": "custom", "template_html": ""},
            400,
            "invalid_template",
            "template_html",
            "empty",
        ),
        (
            {"template_config": {"labels": ["one"]}},
            400,
            "invalid_template_config",
            "template_config",
            "labels",
        ),
        ({"title": "  "}, 400, "required", "title", "title is required"),
        (
            {"requirements": {"min_karma": 3}},
            400,
            "invalid_requirements",
            "requirements",
            "min_karma",
        ),
        ({"keywords": 5}, 400, "invalid", "keywords", "keywords"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_creates_nothing(
    api, overrides, status, code, field, message
):
    error = assert_error(
        api.post(URL, _payload(**overrides), format="json"), status, code, field=field
    )
    assert message in error["message"] or message in " ".join(error["fields"][field])
    assert not Project.objects.exists()


def test_below_pay_floor_details_name_the_minimum(api):
    error = assert_error(
        api.post(URL, _payload(reward_cents=5, estimated_seconds=60), format="json"),
        400,
        "below_pay_floor",
    )
    assert error["details"] == {"minimum_reward_cents": 14, "pay_floor_cents_per_hour": 800}


def test_missing_required_fields(api):
    error = assert_error(api.post(URL, {}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"title", "template_kind", "reward_cents", "estimated_seconds"}


def test_list_is_own_paginated_and_bounded(
    requester, other_requester, django_assert_max_num_queries
):
    for i in range(60):
        make_project(requester, title=f"P{i}")
    make_project(other_requester, title="Theirs")
    client = key_client(requester)
    with django_assert_max_num_queries(6):
        body = client.get(URL).json()
    assert body["count"] == 60 and len(body["results"]) == 50 and body["next"].endswith("page=2")
    assert "Theirs" not in [p["title"] for p in body["results"]]
    assert len(client.get(URL, {"page": 2}).json()["results"]) == 10
    assert len(client.get(URL, {"page_size": 5}).json()["results"]) == 5


def test_list_status_filter(api, requester):
    active = make_project(requester, title="A")
    archived = make_project(requester, title="B")
    api.post(f"{URL}{archived.pk}/archive/")
    assert [p["id"] for p in api.get(URL).json()["results"]] == [active.pk]
    assert [p["id"] for p in api.get(URL, {"status": "archived"}).json()["results"]] == [
        archived.pk
    ]
    assert len(api.get(URL, {"status": "all"}).json()["results"]) == 2
    assert_error(api.get(URL, {"status": "nope"}), 400, "invalid_filter")


def test_retrieve_and_another_requesters_project_is_404(api, requester, other_requester):
    mine = make_project(requester)
    theirs = make_project(other_requester)
    assert api.get(f"{URL}{mine.pk}/").json()["title"] == mine.title
    for method, path in (
        ("get", ""),
        ("patch", ""),
        ("put", ""),
        ("post", "clone/"),
        ("post", "archive/"),
        ("post", "restore/"),
        ("get", "batches/"),
        ("post", "batches/"),
    ):
        response = getattr(api, method)(f"{URL}{theirs.pk}/{path}", {"title": "x"}, format="json")
        assert_error(response, 404, "not_found", message="Project not found.")
    theirs.refresh_from_db()
    assert theirs.title != "x" and theirs.status == ProjectStatus.ACTIVE
    assert Project.objects.filter(owner=requester).count() == 1


def test_patch_changes_only_what_is_sent(api, requester):
    project = make_project(requester, time_allotted_seconds=333)
    response = api.patch(
        f"{URL}{project.pk}/", {"title": "Renamed", "reward_cents": 12}, format="json"
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.title, project.reward_cents, project.time_allotted_seconds) == (
        "Renamed",
        12,
        333,
    )
    assert (
        api.put(f"{URL}{project.pk}/", {"instructions": "Be careful"}, format="json").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({"reward_cents": 0}, "invalid", "reward_cents"),
        ({"assignments_per_task": 500}, "invalid", "assignments_per_task"),
        ({"reward_cents": "ten"}, "invalid", "reward_cents"),
        ({}, "nothing_to_change", None),
    ],
)
def test_bad_patch_changes_nothing(api, requester, data, code, field):
    project = make_project(requester)
    before = Project.objects.filter(pk=project.pk).values().get()
    assert_error(api.patch(f"{URL}{project.pk}/", data, format="json"), 400, code, field=field)
    assert Project.objects.filter(pk=project.pk).values().get() == before


def test_patch_of_an_archived_project_is_409(api, requester):
    project = make_project(requester)
    api.post(f"{URL}{project.pk}/archive/")
    assert_error(
        api.patch(f"{URL}{project.pk}/", {"title": "x"}, format="json"), 409, "project_archived"
    )


def test_clone_archive_restore(api, requester):
    project = make_project(requester)
    response = api.post(f"{URL}{project.pk}/clone/", {"title": "Second"}, format="json")
    assert response.status_code == 201 and response.json()["title"] == "Second"
    assert api.post(f"{URL}{project.pk}/clone/").json()["title"] == f"{project.title} (copy)"
    assert api.post(f"{URL}{project.pk}/archive/").json()["status"] == "archived"
    assert api.post(f"{URL}{project.pk}/archive/").json()["status"] == "archived"  # idempotent
    assert api.post(f"{URL}{project.pk}/restore/").json()["status"] == "active"
    assert Project.objects.filter(owner=requester).count() == 3


def test_a_requester_cannot_reach_another_through_keys(requester):
    other = RequesterFactory()
    project = make_project(other)
    assert_error(key_client(requester).get(f"{URL}{project.pk}/"), 404, "not_found")
    assert key_client(other).get(f"{URL}{project.pk}/").status_code == 200
