"""Every requester page, partial, frame and API endpoint, against every role.

Roles: anonymous, a worker, the owner of the objects, another requester. Expected:
pages send anonymous visitors to log in and give workers 403; the API answers 401
without credentials and 403 to workers; another requester gets 404 for every object
that is not theirs (the same answer as for an id that does not exist), and nothing of
the owner's changes. The owner gets through to the view (200/201/302, or the 4xx of
the empty input the table sends, which proves the permission check passed).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from rest_framework.test import APIClient

from marketplace.models import ApiKey, Batch, Project
from marketplace.services.api_keys import api_key_create
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace import api_helpers
from tests.marketplace.conftest import csv_bytes, make_project, upload

pytestmark = pytest.mark.django_db

# Fixtures shared by the API tests (assigned, not imported, so that linters see them used).
_fresh_throttle_counts = api_helpers._fresh_throttle_counts

LOGIN = "login"  # a redirect to the login page

ROLES = ("anon", "worker", "owner", "other")


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    expect: dict[str, int | str]
    data: dict | None = None
    api: bool = False


def page(name, method, path, owner, *, other=404, data=None):
    return Row(
        name, method, path, {"anon": LOGIN, "worker": 403, "owner": owner, "other": other}, data
    )


def endpoint(name, method, path, owner, *, other=404, data=None):
    return Row(
        name,
        method,
        path,
        {"anon": 401, "worker": 403, "owner": owner, "other": other},
        data,
        api=True,
    )


PROJECT_FORM = {"template_kind": "custom"}

ROWS = [
    # Pages (own-list pages: another requester sees their own, hence 200).
    page("home", "get", "/requester/", 200, other=200),
    page("project list", "get", "/requester/projects/", 200, other=200),
    page("project new", "get", "/requester/projects/new/", 200, other=200),
    page("project create form", "get", "/requester/projects/new/sentiment/", 200, other=200),
    page(
        "project create post", "post", "/requester/projects/new/sentiment/", 400, other=400, data={}
    ),
    page("project detail", "get", "/requester/projects/{project}/", 200),
    page("project edit", "get", "/requester/projects/{project}/edit/", 200),
    page("project edit post", "post", "/requester/projects/{project}/edit/", 400, data={}),
    page("project clone", "post", "/requester/projects/{project}/clone/", 302),
    page("project archive", "post", "/requester/projects/{project}/archive/", 302),
    page("project restore", "post", "/requester/projects/{project}/restore/", 302),
    page("batch upload form", "get", "/requester/projects/{project}/batches/new/", 200),
    page("batch upload post", "post", "/requester/projects/{project}/batches/new/", 400, data={}),
    page(
        "pricing partial",
        "get",
        "/requester/pricing/?reward=0.1&estimated_seconds=30",
        200,
        other=200,
    ),
    page(
        "placeholders partial",
        "post",
        "/requester/placeholders/",
        200,
        other=200,
        data={"template_kind": "custom", "template_html": "${a}"},
    ),
    page("batch list", "get", "/requester/batches/", 200, other=200),
    page("batch detail", "get", "/requester/batches/{batch}/", 200),
    page("batch progress partial", "get", "/requester/batches/{batch}/progress", 200),
    page("batch publish confirm", "get", "/requester/batches/{batch}/publish/", 200),
    page("batch publish", "post", "/requester/batches/{batch}/publish/", 302),
    page("batch pause", "post", "/requester/batches/{batch}/pause/", 302),
    page("batch resume", "post", "/requester/batches/{batch}/resume/", 302),
    page("batch cancel confirm", "get", "/requester/batches/{batch}/cancel/", 200),
    page("batch cancel", "post", "/requester/batches/{batch}/cancel/", 302),
    page("api keys", "get", "/requester/api-keys/", 200, other=200),
    page("api key create", "post", "/requester/api-keys/", 201, other=201, data={"name": "k"}),
    page("api key revoke", "post", "/requester/api-keys/{key}/revoke/", 302),
    # The preview (the worker's task page) and its sandboxed frames.
    page("preview page", "get", "/requester/projects/{project}/preview/", 200),
    page(
        "preview page, batch row",
        "get",
        "/requester/projects/{project}/preview/?batch={batch}&row=1",
        200,
    ),
    page("frame: project preview", "get", "/requester/projects/{project}/preview/frame", 200),
    page(
        "frame: project preview, batch row",
        "get",
        "/requester/projects/{project}/preview/frame?batch={batch}&row=1",
        200,
    ),
    page(
        "frame: draft preview",
        "get",
        "/requester/preview/draft/?template_kind=sentiment",
        200,
        other=200,
    ),
    page(
        "frame: draft preview post",
        "post",
        "/requester/preview/draft/",
        200,
        other=200,
        data={"template_kind": "custom", "template_html": "<b>${a}</b>"},
    ),
    # The API (requesters authenticate with their API key, the worker with a session).
    endpoint("api projects", "get", "/api/v1/projects/", 200, other=200),
    endpoint("api project create", "post", "/api/v1/projects/", 400, other=400, data={}),
    endpoint("api project", "get", "/api/v1/projects/{project}/", 200),
    endpoint(
        "api project patch", "patch", "/api/v1/projects/{project}/", 200, data={"title": "Changed"}
    ),
    endpoint(
        "api project put", "put", "/api/v1/projects/{project}/", 200, data={"title": "Changed"}
    ),
    endpoint("api project clone", "post", "/api/v1/projects/{project}/clone/", 201),
    endpoint("api project archive", "post", "/api/v1/projects/{project}/archive/", 200),
    endpoint("api project restore", "post", "/api/v1/projects/{project}/restore/", 200),
    endpoint("api project batches", "get", "/api/v1/projects/{project}/batches/", 200),
    endpoint("api batch upload", "post", "/api/v1/projects/{project}/batches/", 400, data={}),
    endpoint("api batches", "get", "/api/v1/batches/", 200, other=200),
    endpoint("api batch", "get", "/api/v1/batches/{batch}/", 200),
    endpoint("api batch progress", "get", "/api/v1/batches/{batch}/progress/", 200),
    endpoint("api batch quote", "get", "/api/v1/batches/{batch}/quote/", 200),
    endpoint("api batch publish", "post", "/api/v1/batches/{batch}/publish/", 409),  # no balance
    endpoint("api batch pause", "post", "/api/v1/batches/{batch}/pause/", 409),  # a draft
    endpoint("api batch resume", "post", "/api/v1/batches/{batch}/resume/", 409),
    endpoint("api batch cancel", "post", "/api/v1/batches/{batch}/cancel/", 200),
    endpoint("api balance", "get", "/api/v1/balance/", 200, other=200),
    # Public: the schema and the docs.
    Row("api schema", "get", "/api/v1/schema/", {r: 200 for r in ROLES}, api=True),
    Row("api docs", "get", "/api/v1/docs/", {r: 200 for r in ROLES}, api=True),
]


@pytest.fixture
def world():
    owner = RequesterFactory()
    project = make_project(owner)
    batch = upload(project, owner, csv_bytes(3))
    key, _ = api_key_create(user=owner, name="owner's")
    return {
        "owner": owner,
        "other": RequesterFactory(),
        "worker": WorkerFactory(),
        "project": project,
        "batch": batch,
        "key": key,
    }


def _client(row: Row, role: str, world: dict):
    if row.api:
        client = APIClient()
        if role in ("owner", "other"):
            _, raw = api_key_create(user=world[role], name="matrix")
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        elif role == "worker":
            client.force_login(world["worker"])
        return client
    client = Client()
    if role != "anon":
        client.force_login(world[role])
    return client


def _snapshot(world):
    return (
        list(Project.objects.filter(owner=world["owner"]).order_by("pk").values()),
        list(Batch.objects.filter(owner=world["owner"]).order_by("pk").values()),
        list(ApiKey.objects.filter(user=world["owner"]).order_by("pk").values()),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_permissions(row: Row, role: str, world):
    path = row.path.format(
        project=world["project"].pk, batch=world["batch"].pk, key=world["key"].pk
    )
    client = _client(row, role, world)
    before = _snapshot(world)
    # API bodies are JSON, except the upload (multipart).
    body_format = "multipart" if row.name == "api batch upload" else "json"
    kwargs = {"format": body_format} if row.api and row.method != "get" else {}
    response = getattr(client, row.method)(path, row.data or {}, **kwargs)
    expected = row.expect[role]
    if expected == LOGIN:
        assert response.status_code == 302, (row.name, role, response.status_code)
        assert response["Location"].startswith("/accounts/login/"), response["Location"]
    else:
        assert response.status_code == expected, (
            row.name,
            role,
            response.status_code,
            response.content[:300],
        )
    if row.api and response.status_code >= 400:
        assert set(response.json()) == {"error"}
    if role != "owner":
        # Nobody but the owner changes the owner's projects, batches or keys.
        assert _snapshot(world) == before, (row.name, role)
