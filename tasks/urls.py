"""The worker's sandboxed task frames, under /frame/ (namespace ``tasks``)."""

from django.urls import path

from tasks import views

app_name = "tasks"

urlpatterns = [
    path("task/<str:signed>/", views.preview_frame, name="preview_frame"),
    path("assignment/<int:assignment_id>/", views.work_frame, name="work_frame"),
]
