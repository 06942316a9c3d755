"""System checks of the deployment (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register

from marketplace.db_roles import split_roles


@register(deploy=True)
def database_roles_split(app_configs, **kwargs):
    """The application must not connect as the role that owns the tables: that role can
    disable the ledger's triggers (docs/operations.md, "Database roles")."""
    runtime = settings.DATABASES["default"]
    if split_roles(runtime, getattr(settings, "DATABASE_OWNER", None)):
        return []
    return [
        Warning(
            "The application connects to PostgreSQL as the role that runs migrations.",
            hint="Set DATABASE_URL to the runtime role and DATABASE_OWNER_URL to the owner "
            "role (docs/operations.md, 'Database roles').",
            id="fairtask.W001",
        )
    ]
