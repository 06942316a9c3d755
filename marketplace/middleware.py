from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse


class StaffTOTPRequiredMiddleware:
    """Staff must have TOTP two-factor set up: until they do, every page except the
    account/MFA pages, static files and /healthz sends them to set it up."""

    ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz")

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
            return redirect(reverse("mfa_activate_totp") + f"?next={request.path}")
        return self.get_response(request)


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
