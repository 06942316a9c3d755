"""Fixtures of the worker-side tests: a funded requester's published batch, and
published work to browse and take."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from marketplace import selectors, services
from marketplace.models import Batch, Project, User
from tests.marketplace.conftest import csv_bytes, fund, make_project, upload


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.FAIRTASK_UPLOAD_DIR = tmp_path / "uploads"
    cache.clear()  # claim rate-limit windows
    yield
    cache.clear()


def published(requester, *, tasks: int = 10, **project_fields) -> Batch:
    """A published batch of ``tasks`` rows (text classification, 10¢ + 2¢ each)."""
    fund(requester, 1_000_000)
    project = make_project(requester, **project_fields)
    return services.batch_publish(
        batch=upload(project, requester, csv_bytes(tasks)), user=requester
    )


@pytest.fixture
def batch(requester) -> Batch:
    return published(requester, tasks=10, assignments_per_task=2)


def publish_work(owner: User, *, rows: int = 5, **project_fields: Any) -> tuple[Project, Batch]:
    """A project of ``owner`` with one published batch of ``rows`` tasks, and its
    task-browser card refreshed (as the on-commit refresh does after publishing)."""
    project = make_project(owner, **project_fields)
    batch = upload(project, owner, csv_bytes(rows))
    fund(owner, selectors.batch_quote(batch).total_cost_cents)
    batch = services.batch_publish(batch=batch, user=owner)
    services.listing_refresh(project_ids=[project.pk])
    return project, batch


@pytest.fixture
def wclient(client, worker):
    client.force_login(worker)
    return client
