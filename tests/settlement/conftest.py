"""Fixtures of the settlement and withdrawal tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.FAIRTASK_UPLOAD_DIR = tmp_path / "uploads"
    cache.clear()
    yield
    cache.clear()
