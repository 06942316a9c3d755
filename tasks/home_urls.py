"""The worker's start page, ``/work/`` (name ``worker_home``, outside the ``work``
namespace because the site's header and ``home`` redirect use it for every role)."""

from django.urls import path

from tasks import views

urlpatterns = [path("", views.browse, name="worker_home")]
