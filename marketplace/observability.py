"""Request ids in every log line, one log line per request, and request metrics.

The id comes from the reverse proxy's ``X-Request-ID`` (Caddy sets a fresh UUID on
every request it forwards, replacing whatever the client sent) or, without a proxy, is
made here. It is kept in a context variable for the request's thread, added to every log
record by ``RequestIdFilter``, sent back as ``X-Request-ID``, and handed to Celery jobs
enqueued during the request (``marketplace.celery``), so a job's log lines carry the id
of the request that caused them.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from marketplace import metrics

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
log = logging.getLogger("fairtask.request")


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            response["X-Request-ID"] = rid
            view = getattr(getattr(request, "resolver_match", None), "view_name", None) or ""
            metrics.observe_request(
                method=request.method or "",
                view=view,
                status=response.status_code,
                seconds=seconds,
            )
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                    "view": view,
                },
            )
            return response
        finally:
            request_id_var.reset(token)
