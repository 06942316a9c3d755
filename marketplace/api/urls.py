"""/api/v1/ (namespace ``api``)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from marketplace.api import docs, views
from marketplace.api.exceptions import not_found

app_name = "api"


class Router(DefaultRouter):
    # No `{format}` suffix routes: JSON is the only format, and they doubled every path
    # in the schema.
    include_format_suffixes = False


router = Router(use_regex_path=False)
router.register("projects", views.ProjectViewSet, basename="project")
router.register("batches", views.BatchViewSet, basename="batch")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.api_docs, name="docs"),
    path("balance/", views.BalanceView.as_view(), name="balance"),
    *router.urls,
    re_path(r"^.*$", not_found),
]
