"""Fixtures of the worker-side tests: a funded requester's published batch."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from marketplace import services
from marketplace.models import Batch
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
