"""Fairtask's own error pages (403, 404, 400, 500, CSRF failure), and the same errors
as JSON in the API's one error shape for anything under ``/api/``.

Django calls these (``handler404`` ... in ``marketplace.urls``, ``CSRF_FAILURE_VIEW``)
only with ``DEBUG`` off; with it on it shows its technical pages, which is why
``make run`` serves with ``DEBUG`` off unless ``DEBUG=1`` is given.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.template.exceptions import TemplateDoesNotExist
from django.views.decorators.csrf import requires_csrf_token

from marketplace.api.authentication import CSRF_FAILED_CODE, CSRF_FAILED_MESSAGE
from marketplace.api.exceptions import error_body


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _json(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code=code, message=message), status=status)


def _page(request: HttpRequest | None, template: str, status: int, **context: Any) -> HttpResponse:
    return HttpResponse(loader.render_to_string(template, context, request), status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return _json(
                413,
                "body_too_large",
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.",
            )
        return _json(400, "bad_request", "The request could not be read.")
    return _page(request, "errors/400.html", 400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json(403, "permission_denied", "You may not do this.")
    return _page(request, "errors/403.html", 403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json(404, "not_found", f"No API endpoint at {request.path}.")
    return _page(request, "errors/404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json(500, "server_error", "Something went wrong on our side; it has been logged.")
    # No request context: whatever broke (the database, a context processor) must not
    # break the error page too.
    try:
        return _page(None, "errors/500.html", 500)
    except TemplateDoesNotExist:  # pragma: no cover - the template ships with the app
        return HttpResponse("Server error", status=500, content_type="text/plain")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """The CSRF check failed. Under /api/ a session request without its token (an API
    key request never gets here: ``ApiKeyAuthentication`` and the API's 404 are CSRF-
    exempt); elsewhere usually a form left open across a log-in or an expired session."""
    if _is_api(request):
        return _json(403, CSRF_FAILED_CODE, CSRF_FAILED_MESSAGE)
    return _page(request, "errors/403.html", 403, csrf=True)
