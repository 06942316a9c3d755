from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path

from marketplace import metrics, requester_views, views
from marketplace.api.exceptions import not_found as api_not_found

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Fairtask administration"

handler400 = "marketplace.error_views.bad_request"
handler403 = "marketplace.error_views.permission_denied"
handler404 = "marketplace.error_views.page_not_found"
handler500 = "marketplace.error_views.server_error"

urlpatterns = [
    # First: Django tries these in order on every request, and the worker API's claim and
    # submit are the most frequent requests there are.
    path("api/v1/worker/", include("tasks.api_urls")),
    path("", views.landing, name="landing"),
    path("home/", views.home, name="home"),
    path("work/", include("tasks.home_urls")),
    path("work/", include("tasks.worker_urls")),
    path("requester/", requester_views.home, name="requester_home"),
    path("requester/", include("marketplace.requester_urls")),
    # Review and results (tasks owns assignments; marketplace never imports tasks).
    path("requester/", include("tasks.review_urls")),
    path("frame/", include("tasks.urls")),
    path("api/v1/", include("tasks.review_api_urls")),
    path("api/v1/", include("marketplace.api.urls")),
    re_path(r"^api/", api_not_found),
    path("role/", views.switch_role, name="switch_role"),
    path("healthz", views.healthz_ready, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz_live"),
    path("healthz/ready", views.healthz_ready, name="healthz_ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/", include("allauth.urls")),
    path("payouts/", include("payouts.urls")),
    path("admin/", admin.site.urls),
]
