from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from marketplace import health
from marketplace.models import Role, WorkerHeartbeat
from marketplace.services import user_switch_role
from payouts import fees


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "marketplace/landing.html", {"pricing": fees.current_terms()})


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Where a person lands after logging in: their role's home; staff without a role
    go to the money overview (moderators without money rights to the admin)."""
    role = request.user.current_role
    if role == Role.REQUESTER:
        return redirect("requester_home")
    if role == Role.WORKER:
        return redirect("worker_home")
    if request.user.is_staff:
        if request.user.is_superuser:
            return redirect("payouts:money_overview")
        return redirect("admin:index")
    return redirect("landing")


_FAVICON = settings.BASE_DIR / "static" / "favicon.ico"


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers fetch on their own (pages also link the SVG)."""
    response = HttpResponse(_FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_required
@require_POST
def switch_role(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        user_switch_role(user=request.user, role=request.POST.get("role", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("home")
    label = Role(request.user.active_role).label
    messages.success(request, f"You are now working as a {label.lower()}.")
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("home")


@never_cache
@require_GET
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database, broker or cache call."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """Readiness (see marketplace/health.py): 503 only when the database is down;
    broker, cache and workers reported as ``degraded`` without failing it."""
    db_ok, db_detail = health.check_database()
    broker_ok, broker_detail = health.check_broker()
    cache_ok, cache_detail = health.check_cache()
    body: dict = {
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
        "cache": {"ok": cache_ok, "detail": cache_detail},
        "worker_last_seen": None,
    }
    workers_ok = False
    if db_ok:
        last_seen = (
            WorkerHeartbeat.objects.order_by("-last_seen")
            .values_list("last_seen", flat=True)
            .first()
        )
        body["worker_last_seen"] = last_seen.isoformat() if last_seen else None
        workers_ok, workers_detail = health.worker_state(last_seen, now=timezone.now())
        body["workers"] = {"ok": workers_ok, "detail": workers_detail}
    if not db_ok:
        body["status"] = "down"
        body["down"] = ["database"]
        return JsonResponse(body, status=503)
    degraded = [
        name
        for name, ok in (("broker", broker_ok), ("cache", cache_ok), ("workers", workers_ok))
        if not ok
    ]
    body["status"] = "degraded" if degraded else "ok"
    if degraded:
        body["degraded"] = degraded
    return JsonResponse(body)
