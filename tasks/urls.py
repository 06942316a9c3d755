"""The task frame, under /frame/ (namespace ``tasks``)."""

from django.urls import path

from tasks import views

app_name = "tasks"

urlpatterns = [
    path("preview/project/<int:project_id>/", views.preview_project, name="preview_project"),
    path("preview/draft/", views.preview_draft, name="preview_draft"),
]
