"""Fixtures of the worker-side tests: published work to browse and take."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace import services
from marketplace.models import Batch, Project, User
from tests.marketplace.conftest import _upload_dir, csv_bytes, fund, make_project, upload

__all__ = ["_upload_dir", "publish_work"]


def publish_work(owner: User, *, rows: int = 5, **project_fields: Any) -> tuple[Project, Batch]:
    """A project of ``owner`` with one published batch of ``rows`` tasks, and its
    task-browser card refreshed (as the on-commit refresh does after publishing)."""
    project = make_project(owner, **project_fields)
    batch = upload(project, owner, csv_bytes(rows))
    fund(owner, services.batch_quote(batch).total_cost_cents)
    batch = services.batch_publish(batch=batch, user=owner)
    services.listing_refresh(project_ids=[project.pk])
    return project, batch


@pytest.fixture
def wclient(client, worker):
    client.force_login(worker)
    return client
