"""Requester pages, under /requester/ (namespace ``requester``). The home page itself is
``/requester/`` (name ``requester_home``, in ``marketplace.urls``)."""

from django.urls import path

from marketplace import preview_views
from marketplace import requester_views as v

app_name = "requester"

urlpatterns = [
    path("projects/", v.project_list, name="project_list"),
    path("projects/new/", v.project_new, name="project_new"),
    path("projects/new/<str:kind>/", v.project_create, name="project_create"),
    path("projects/<int:project_id>/", v.project_detail, name="project_detail"),
    path("projects/<int:project_id>/edit/", v.project_edit, name="project_edit"),
    path("projects/<int:project_id>/clone/", v.project_clone, name="project_clone"),
    path("projects/<int:project_id>/archive/", v.project_archive, name="project_archive"),
    path("projects/<int:project_id>/restore/", v.project_restore, name="project_restore"),
    path("projects/<int:project_id>/preview/", preview_views.preview_page, name="preview"),
    path(
        "projects/<int:project_id>/preview/frame",
        preview_views.preview_frame,
        name="preview_frame",
    ),
    path("preview/draft/", preview_views.preview_draft, name="preview_draft"),
    path("projects/<int:project_id>/batches/new/", v.batch_upload, name="batch_upload"),
    path("pricing/", v.pricing_partial, name="pricing"),
    path("placeholders/", v.placeholders_partial, name="placeholders"),
    path("batches/", v.batch_list, name="batch_list"),
    path("batches/<int:batch_id>/", v.batch_detail, name="batch_detail"),
    path("batches/<int:batch_id>/progress", v.batch_progress, name="batch_progress"),
    path("batches/<int:batch_id>/publish/", v.batch_publish, name="batch_publish"),
    path("batches/<int:batch_id>/pause/", v.batch_pause, name="batch_pause"),
    path("batches/<int:batch_id>/resume/", v.batch_resume, name="batch_resume"),
    path("batches/<int:batch_id>/cancel/", v.batch_cancel, name="batch_cancel"),
    path("api-keys/", v.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", v.api_key_revoke, name="api_key_revoke"),
]
