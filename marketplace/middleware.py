from __future__ import annotations

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
