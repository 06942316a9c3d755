"""Plain Django views that keep the API's contract, for the few endpoints on the hot
path of every task (the worker's claim and the frame's submit).

A DRF ``APIView`` wraps each request (``Request``, content negotiation, authentication,
permission and throttle classes, a renderer picked per request): about half a
millisecond of CPU per request on our 2-core machines, for endpoints that answer
hundreds of times a second and need none of it. ``api_view`` gives a plain view the
same outside: only ``method`` is allowed (else 405 ``method_not_allowed``), and
``ApplicationError`` as well as DRF's own exceptions (``NotAuthenticated``,
``PermissionDenied``, ``ValidationError``, the JSON parser's ``ParseError``) become the
one error shape through ``exceptions.exception_handler``, the same function DRF views
use. CSRF is Django's middleware (its refusal under /api/ is JSON too:
``marketplace.error_views.csrf_failure``); exempt a view with ``csrf_exempt`` as usual.

Everything else stays a DRF view.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import APIException, MethodNotAllowed, UnsupportedMediaType

from core.errors import ApplicationError
from marketplace.api.exceptions import exception_handler
from marketplace.api.parsers import SafeJSONParser


def api_view(method: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method != method:
                    raise MethodNotAllowed(request.method or "")
                return view(request, *args, **kwargs)
            except (ApplicationError, APIException) as exc:
                answer = exception_handler(exc, {"request": request})
                assert answer is not None  # both kinds always get an answer
                response = JsonResponse(answer.data, status=answer.status_code)
                if isinstance(exc, MethodNotAllowed):
                    response["Allow"] = method
                return response

        return wrapper

    return decorate


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body, read by the API's parser (size limit, nesting depth,
    finite numbers); an empty body is ``{}``. Raises ``UnsupportedMediaType`` (415) for
    a body that is not ``application/json``, ``ParseError`` (400), ``BodyTooLarge``
    (413)."""
    media_type = request.content_type or ""
    if request.META.get("CONTENT_LENGTH") not in (None, "", "0") and media_type != (
        SafeJSONParser.media_type
    ):
        raise UnsupportedMediaType(media_type)
    return SafeJSONParser().parse(request, parser_context={"request": request})


__all__ = ["api_view", "json_body"]
