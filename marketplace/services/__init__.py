"""Write services of the marketplace app (HackSoft style: views, API views, jobs and
commands parse input, call one of these, render). Import from here."""

from marketplace.services.accounts import user_set_roles, user_switch_role
from marketplace.services.batches import (
    batch_cancel,
    batch_expire,
    batch_import,
    batch_import_abandon,
    batch_pause,
    batch_publish,
    batch_release_remaining,
    batch_resume,
    batch_transition,
    batch_upload,
)
from marketplace.services.listings import (
    listing_refresh,
    listing_refresh_on_commit,
)
from marketplace.services.projects import (
    project_archive,
    project_clone,
    project_create,
    project_restore,
    project_update,
)

__all__ = [
    "batch_cancel",
    "batch_expire",
    "batch_import",
    "batch_import_abandon",
    "batch_pause",
    "batch_publish",
    "batch_release_remaining",
    "batch_resume",
    "batch_transition",
    "batch_upload",
    "listing_refresh",
    "listing_refresh_on_commit",
    "project_archive",
    "project_clone",
    "project_create",
    "project_restore",
    "project_update",
    "user_set_roles",
    "user_switch_role",
]
