from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse


class StaffTOTPRequiredMiddleware:
    """Staff must have TOTP two-factor set up. Until they do, a top-level page
    navigation (the browser loading a page in its tab) is redirected to the TOTP setup;
    every other request (images, the favicon, htmx partials, ``fetch``, frames, API
    calls) is refused with a plain 403 and never redirected. A redirected subresource
    would load the setup page behind the person's back, and that page makes a new
    secret each time it is shown: the code they then typed from their app was always
    "incorrect". Account/MFA pages, static files, the favicon and /healthz stay open."""

    ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz", "/favicon.ico")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.is_staff
            and not request.path.startswith(self.ALLOWED_PREFIXES)
            and not _has_totp(user)
        ):
            if is_page_navigation(request):
                return redirect(reverse("mfa_activate_totp") + f"?next={request.path}")
            return HttpResponse(
                "Set up two-factor authentication first.",
                status=403,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def is_page_navigation(request) -> bool:
    """A top-level navigation: ``Sec-Fetch-Mode: navigate`` with ``Sec-Fetch-Dest:
    document`` from browsers that send fetch metadata (all current ones); otherwise a
    GET that asks for HTML and is not an htmx request."""
    if request.headers.get("HX-Request"):
        return False
    dest = request.headers.get("Sec-Fetch-Dest")
    mode = request.headers.get("Sec-Fetch-Mode")
    if dest is not None or mode is not None:
        return dest == "document" and mode == "navigate"
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


def _has_totp(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with one addition made per request: ``form-action`` also
    allows the Stripe Checkout origin in force *now*, because a form that posts to us is
    redirected there and Chromium applies form-action to the redirect. With real keys
    that is checkout.stripe.com; with the simulator, wherever ``STRIPE_API_BASE`` points
    (tests start one on a free port)."""

    def get_policy_parts(self, request, response, report_only=False):  # noqa: ANN001
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        update = dict(parts.update or {})
        update["form-action"] = [*update.get("form-action", []), stripe_checkout_origin()]
        parts.update = update
        return parts


def stripe_checkout_origin() -> str:
    if not settings.STRIPE_SIMULATED:
        return "https://checkout.stripe.com"
    base = urlsplit(settings.STRIPE_API_BASE or "")
    return f"{base.scheme}://{base.netloc}"
