"""Schemathesis over /api/v1/schema/ with every check on (issue 15, defect 4): no server
errors, no status code or content type the schema does not document, responses that
match their schemas, requests that violate the schema refused, requests that follow it
accepted.

Deterministic and bounded: Hypothesis is derandomized (the examples follow from the
schema alone, so a run either always passes or always fails) and each operation gets
``FUZZ_EXAMPLES`` examples (about a minute in all on two cores; 200 each, about four minutes, also pass). Set
``FAIRTASK_FUZZ_EXAMPLES`` to explore more locally.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from marketplace.services.api_keys import api_key_create
from tests.marketplace.conftest import csv_bytes, fund, make_project, upload

FUZZ_EXAMPLES = int(os.environ.get("FAIRTASK_FUZZ_EXAMPLES", "30"))


def _load_schema() -> schemathesis.schemas.BaseSchema:
    # The schema /api/v1/schema/ serves, generated the same way (drf-spectacular) at
    # collection time; requests go to the WSGI app in this process, inside each test's
    # transaction. (Not from_fixture: its lazy loading breaks on pytest 9.)
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = get_wsgi_application()
    return loaded


@pytest.fixture
def _keep_connection(db):
    # Schemathesis calls the WSGI app directly: keep Django from closing the test's
    # connection (and its transaction) at the end of each request, as its test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(_keep_connection, requester, settings):
    # Throttling is tested elsewhere; here it would answer 429 after a few examples.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": [],
    }
    # Objects for the generated ids to find (ids 1..n exist in a fresh test database
    # only by chance; the fuzzer also tries ids that do not exist).
    project = make_project(requester)
    fund(requester, 100_000)
    upload(project, requester, csv_bytes(3))
    _, raw = api_key_create(user=requester, name="fuzz")
    return {"Authorization": f"Api-Key {raw}"}


schema = _load_schema()


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, auth_headers):
    excluded = []
    if case.operation.path == "/api/v1/projects/" or (
        case.operation.path == "/api/v1/projects/{id}/" and case.method in ("PUT", "PATCH")
    ):
        # A project follows rules a JSON schema cannot state (the reward must reach the
        # pay floor for the estimated time, the time allotted must cover the estimate, a
        # custom template needs placeholders...), so a schema-valid body may rightly be
        # refused with a 400. Every other check still runs on these operations.
        excluded.append(positive_data_acceptance)
    if case.operation.path in (
        "/api/v1/assignments/reject/",
        "/api/v1/assignments/{assignment_id}/bonus/",
        "/api/v1/assignments/{assignment_id}/block/",
    ):
        # Likewise: a rejection for "other" needs an explanation, and a bonus's or a
        # block's reason must say something (not only spaces, no NUL): 400s the schema
        # cannot state. Every other check still runs on these operations.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=auth_headers, excluded_checks=excluded)
