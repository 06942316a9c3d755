"""Worker pages, under /work/ (namespace ``work``). The task browser itself is
``/work/`` (name ``worker_home``, in ``marketplace.urls``)."""

from django.urls import path

from tasks import views, worker_views

app_name = "work"

urlpatterns = [
    path("projects/<int:project_id>/", views.preview, name="preview"),
    path("projects/<int:project_id>/accept/", views.accept, name="accept"),
    path("assignments/<int:assignment_id>/", views.assignment_page, name="assignment"),
    path("assignments/<int:assignment_id>/return/", views.return_, name="return"),
    path("submit/", views.submit, name="submit"),
    path("queue/", views.queue, name="queue"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/earnings.csv", views.earnings_csv, name="earnings_csv"),
    path("preferences/", views.preferences_save, name="preferences"),
    path("sprint/", views.sprint, name="sprint"),
    path("earnings/", worker_views.earnings, name="earnings"),
]
