"""API-key authentication: ``Authorization: Api-Key <prefix>.<secret>`` or ``Bearer``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request


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
