from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from marketplace import views

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Fairtask administration"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("home/", views.home, name="home"),
    path("work/", views.worker_home, name="worker_home"),
    path("requester/", views.requester_home, name="requester_home"),
    path("role/", views.switch_role, name="switch_role"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
