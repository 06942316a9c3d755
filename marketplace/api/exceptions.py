"""One JSON error shape for the whole API::

    {"error": {"code": "insufficient_funds", "message": "Publishing this batch costs …",
               "fields": {"reward_cents": ["…"]}, "details": {…}}}

``code`` is stable and machine-readable, ``message`` is a sentence for people,
``fields`` maps input fields to their messages (empty when the error is not about one
field), ``details`` (only when there are any) carries structured extras, e.g. the
first 50 row/column errors of a refused upload or the shortfall of a publish.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ApplicationError


def error_body(
    *,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    details: dict | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    if details:
        body["details"] = details
    return {"error": body}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """ValidationError detail → {"field": [messages]} ("a.b" for nested, "a.0" for lists)."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or "non_field_errors"
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(x, dict | list) for x in detail):
            out[prefix or "non_field_errors"] = [str(x) for x in detail]
        else:
            for i, value in enumerate(detail):
                for k, v in _flatten(value, f"{prefix}.{i}" if prefix else str(i)).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    view = context.get("view")
    if isinstance(exc, ApplicationError):
        fields: dict[str, list[str]] = {}
        field_for = getattr(view, "field_for_error", None)
        field = field_for(exc) if field_for else exc.field
        if field:
            fields[field] = [exc.message]
        set_rollback()  # as DRF does for its own errors, should the request be atomic
        return Response(
            error_body(code=exc.code, message=exc.message, fields=fields, details=exc.extra),
            status=exc.status if exc.status >= 400 else status.HTTP_400_BAD_REQUEST,
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling (logged, mailed) takes over
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field, messages = next(iter(fields.items()), ("", ["Invalid input."]))
        message = (
            messages[0] if first_field == "non_field_errors" else f"{first_field}: {messages[0]}"
        )
        response.data = error_body(code="invalid", message=message, fields=fields)
        return response
    detail = getattr(exc, "detail", None)
    message = str(detail) if detail is not None else str(exc)
    code = getattr(exc, "default_code", None) or "error"
    if isinstance(exc, exceptions.APIException) and hasattr(exc, "get_codes"):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    if response.status_code == status.HTTP_404_NOT_FOUND:
        code = "not_found"
    details = None
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        details = {"retry_after_seconds": int(wait)}
    response.data = error_body(code=code, message=message, details=details)
    return response


@csrf_exempt  # nothing to protect; without this a POST got Django's HTML CSRF page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    """Any /api/ URL that matches no endpoint (also a non-integer id: the routes take
    only integers), whatever the method: a 404 in the API's shape, not an HTML page."""
    from django.http import JsonResponse

    return JsonResponse(
        error_body(code="not_found", message=f"No API endpoint at {request.path}."), status=404
    )
