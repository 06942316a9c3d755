"""Test helpers around the simulator: a webhook receiver and a no-redirect browser.

Kept out of the server modules so the running simulator never imports them.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

#: The webhook secret and API key the pytest fixtures use.
WEBHOOK_SECRET = "whsec_fairtask_simulator_tests"  # noqa: S105 - a test-only secret
API_KEY = "sk_test_fairtask_simulator"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class WebhookReceiver:
    """A tiny HTTP endpoint that records what the simulator POSTs.

    ``fail_next(n, status)`` makes the next ``n`` requests answer ``status``
    (default 500), to exercise Stripe-style retries.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._failures: list[int] = []
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver._failures.pop(0) if receiver._failures else 200
                    receiver._received.append(Received(self.path, dict(self.headers), body, status))
                    receiver._lock.notify_all()
                payload = b'{"received": true}' if status < 300 else b'{"error": "simulated"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer((host, 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhook/"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived (any status)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"got {len(self._received)} webhook requests, wanted {count}"
                    )
                self._lock.wait(remaining)
            return list(self._received)


@dataclass(frozen=True)
class PageResponse:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def browse(url: str, form: dict[str, str] | None = None) -> PageResponse:
    """GET ``url`` (or POST ``form`` to it) like a browser, without following redirects.

    Hosted pages redirect to the app's success/return URLs, which do not exist in
    a unit test; the ``Location`` header is what the test checks.
    """
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")  # noqa: S310 - tests drive the local simulator
    try:
        with _opener.open(request, timeout=10) as response:
            return PageResponse(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        return PageResponse(error.code, dict(error.headers), error.read().decode())


def iter_forms(html: str) -> Iterator[str]:
    """The ``action`` of each form on a page, for asserting what a page offers."""
    marker = 'action="'
    start = html.find(marker)
    while start != -1:
        end = html.find('"', start + len(marker))
        yield html[start + len(marker) : end]
        start = html.find(marker, end)


def raw_request(
    base_url: str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One API call without the Stripe library: (status, headers, decoded JSON).

    For asserting on exactly what goes over the wire; ``params`` are form-encoded
    the way the libraries do (in the query string for GET).
    """
    from .forms import encode_form

    encoded = encode_form(params or {})
    url = base_url + path
    data = None
    if method == "POST":
        data = encoded.encode()
    elif encoded:
        url += "?" + encoded
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - tests drive the local simulator
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local simulator
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())
