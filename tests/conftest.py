"""Fixtures shared by the whole suite. The suite always runs on PostgreSQL: the
embedded server when DATABASE_URL is unset, the CI server otherwise."""

from __future__ import annotations

import os

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls made
# by tests in that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = [
    "tests.fixtures.users",
    "tests.fixtures.celery_worker",
    "tests.fixtures.browser",
    "payouts.stripe_sim.pytest_plugin",
]
