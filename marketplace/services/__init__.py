"""Write services of the marketplace app (HackSoft style: views, API views, jobs and
commands parse input, call one of these, render). Import from here."""

from marketplace.selectors import BatchQuote, batch_quote
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
    due_for_expiry,
    escrow_owed_cents,
    stale_imports,
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
    "BatchQuote",
    "batch_cancel",
    "batch_expire",
    "batch_import",
    "batch_import_abandon",
    "batch_pause",
    "batch_publish",
    "batch_quote",
    "batch_release_remaining",
    "batch_resume",
    "batch_transition",
    "batch_upload",
    "due_for_expiry",
    "escrow_owed_cents",
    "listing_refresh",
    "listing_refresh_on_commit",
    "project_archive",
    "project_clone",
    "project_create",
    "project_restore",
    "project_update",
    "stale_imports",
    "user_set_roles",
    "user_switch_role",
]
