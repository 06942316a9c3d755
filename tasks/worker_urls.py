"""Worker pages under /work/ (namespace ``worker``)."""

from django.urls import path

from tasks import worker_views

app_name = "worker"

urlpatterns = [path("earnings/", worker_views.earnings, name="earnings")]
