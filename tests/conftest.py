"""Fixtures shared by the whole suite. The suite always runs on PostgreSQL: the
embedded server when DATABASE_URL is unset, the CI server otherwise."""

from __future__ import annotations

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls made
# by tests in that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = [
    "tests.fixtures.users",
    "tests.fixtures.celery_worker",
    "tests.fixtures.browser",
    "payouts.stripe_sim.pytest_plugin",
]


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_use_migrations,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's, with the test database created, migrated and dropped as the
    owner role (``DATABASE_OWNER_URL``), while every test runs as the runtime role the
    application uses (``DATABASE_URL``): what the runtime role may not do, the tests may
    not do either."""
    from django.test.utils import setup_databases, teardown_databases

    from marketplace.db_roles import connected_as_owner

    kwargs = {"keepdb": True} if django_db_keepdb and not django_db_createdb else {}
    with django_db_blocker.unblock(), connected_as_owner():
        db_cfg = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            **kwargs,
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock(), connected_as_owner():
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)
