"""API-key authentication: ``Authorization: Api-Key <prefix>.<secret>`` or ``Bearer``;
and the browser session's, with the site's CSRF refusal."""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

# A session request to the API without its CSRF token: the same words and code whether
# Django's middleware refuses it (error_views.csrf_failure) or DRF's session check does.
CSRF_FAILED_CODE = "csrf_failed"
CSRF_FAILED_MESSAGE = (
    "CSRF check failed: send the X-CSRFToken header with session requests, "
    "or authenticate with an API key."
)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Keys of requesters only. A request without an ``Authorization`` header of these
    schemes is left to the next class (the session); one with a wrong, revoked or
    non-requester key is refused with 401, never treated as anonymous."""

    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        from marketplace.services.api_keys import api_key_check, parse_authorization

        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme = header.split(" ", 1)[0].lower()
        if scheme not in ("api-key", "bearer"):
            return None
        raw = parse_authorization(header)
        if raw is None:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use “Api-Key <key>”."
            )
        key = api_key_check(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to requests without credentials.
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "marketplace.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "“Api-Key <prefix>.<secret>” (or “Bearer <prefix>.<secret>”). "
            "Create keys on the API keys page; a key is shown once.",
        }


class CsrfFailed(exceptions.PermissionDenied):
    default_code = CSRF_FAILED_CODE
    default_detail = CSRF_FAILED_MESSAGE


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (which enforces CSRF on unsafe methods) refusing a
    missing or wrong token as the rest of the site does: 403 ``csrf_failed``, not a
    generic ``permission_denied`` whose message starts "CSRF Failed"."""

    def enforce_csrf(self, request: Request) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied:
            raise CsrfFailed() from None


class SessionAuthenticationScheme(SessionScheme):
    # drf-spectacular's description of DRF's class, for this subclass (same cookie).
    target_class = "marketplace.api.authentication.SessionAuthentication"
