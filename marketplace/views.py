from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
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


def _role_required(request: AuthenticatedHttpRequest, role: str) -> HttpResponse | None:
    if role not in request.user.roles:
        return render(request, "marketplace/role_missing.html", {"role": role}, status=403)
    if request.user.current_role != role:
        user_switch_role(user=request.user, role=role)
    return None


@login_required
def worker_home(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _role_required(request, Role.WORKER) or render(request, "tasks/worker_home.html")


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
def healthz(request: HttpRequest) -> JsonResponse:
    db_ok, db_detail = health.check_database()
    broker_ok, broker_detail = health.check_broker()
    body: dict = {
        "status": "ok" if db_ok and broker_ok else "down",
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
    }
    if db_ok:
        beat = (
            WorkerHeartbeat.objects.order_by("-last_seen").values("hostname", "last_seen").first()
        )
        body["worker_last_seen"] = beat["last_seen"].isoformat() if beat else None
    down = [name for name, ok in (("database", db_ok), ("broker", broker_ok)) if not ok]
    if down:
        body["down"] = down
    return JsonResponse(body, status=200 if not down else 503)
