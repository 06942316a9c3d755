"""HTTP front of the simulator: auth, routing, idempotency, faults, hosted pages.

Three kinds of URL:

* ``/v1/...``: the Stripe API, reached by the official library with only the
  API base changed; Stripe's auth, error shapes, headers and idempotency.
* ``/checkout/pay/{id}``, ``/connect/onboard/{acct}``: stand-ins for the pages
  Stripe hosts, which the customer or worker is redirected to.
* ``/_sim/...``: JSON control endpoints for tests and development (faults,
  reset, state, shortcuts). Unauthenticated: bind the simulator to loopback.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .engine import JSON, Ctx, Engine, new_id
from .errors import StripeError, api_error, authentication, card_declined, invalid_request
from .faults import Fault
from .forms import parse_form
from .pages import checkout_page, message_page, onboarding_page

if TYPE_CHECKING:
    from .simulator import StripeSimulator

MAX_BODY = 1024 * 1024

ApiCall = Callable[..., JSON]


#: Every implemented API operation: (method, path as Stripe's OpenAPI names it,
#: engine method). The conformance tests check each against the vendored spec.
OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("POST", "/v1/checkout/sessions", "create_checkout_session"),
    ("GET", "/v1/checkout/sessions", "list_checkout_sessions"),
    ("GET", "/v1/checkout/sessions/{session}", "retrieve_checkout_session"),
    ("POST", "/v1/checkout/sessions/{session}", "update_checkout_session"),
    ("POST", "/v1/checkout/sessions/{session}/expire", "expire_checkout_session"),
    ("GET", "/v1/checkout/sessions/{session}/line_items", "list_line_items"),
    ("POST", "/v1/accounts", "create_account"),
    ("GET", "/v1/accounts", "list_accounts"),
    ("GET", "/v1/accounts/{account}", "retrieve_account"),
    ("POST", "/v1/accounts/{account}", "update_account"),
    ("POST", "/v1/account_links", "create_account_link"),
    ("POST", "/v1/transfers", "create_transfer"),
    ("GET", "/v1/transfers", "list_transfers"),
    ("GET", "/v1/transfers/{transfer}", "retrieve_transfer"),
    ("POST", "/v1/transfers/{transfer}", "update_transfer"),
    ("POST", "/v1/transfers/{id}/reversals", "create_reversal"),
    ("GET", "/v1/transfers/{id}/reversals", "list_reversals"),
    ("GET", "/v1/transfers/{transfer}/reversals/{id}", "retrieve_reversal"),
    ("POST", "/v1/payouts", "create_payout"),
    ("GET", "/v1/payouts", "list_payouts"),
    ("GET", "/v1/payouts/{payout}", "retrieve_payout"),
    ("POST", "/v1/payouts/{payout}", "update_payout"),
    ("GET", "/v1/balance", "balance"),
    ("GET", "/v1/events", "list_events"),
    ("GET", "/v1/events/{id}", "retrieve_event"),
    ("GET", "/v1/payment_intents/{intent}", "retrieve_payment_intent"),
    ("GET", "/v1/balance_transactions/{id}", "retrieve_balance_transaction"),
    ("POST", "/v1/webhook_endpoints", "create_webhook_endpoint"),
    ("GET", "/v1/webhook_endpoints", "list_webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints/{webhook_endpoint}", "retrieve_webhook_endpoint"),
    ("DELETE", "/v1/webhook_endpoints/{webhook_endpoint}", "delete_webhook_endpoint"),
)


def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    """Compile ``OPERATIONS`` paths into patterns; ``{name}`` matches one segment."""
    return [
        (method, re.compile("^" + re.sub(r"\{[a-z_]+\}", "([^/]+)", path) + "$"), name)
        for method, path, name in OPERATIONS
    ]


ROUTES = _routes()


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], sim: StripeSimulator, *, verbose: bool = False
    ) -> None:
        self.sim = sim
        self.verbose = verbose
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    # Keep-alive clients (the library pools connections) would otherwise hold a
    # handler thread each until its idle timeout after the simulator stops.
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every client still connected (used when the simulator stops)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _LostResponse(Exception):
    """Raised to drop the connection without answering (fault ``lost_response``)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FairtaskStripeSim/1.0"
    sys_version = ""
    server: SimServer
    #: Idle keep-alive connections are closed after this many seconds.
    timeout = 30

    # ---------------------------------------------------------------- plumbing
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise invalid_request("Request body too large.", status=413)
        return self.rfile.read(length).decode("utf-8", "replace") if length else ""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, _dumps(data), "application/json", headers)

    def _send_html(self, status: int, html: str) -> None:
        self._send(status, html.encode("utf-8"), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            if path.startswith("/v1/") or path == "/v1":
                self._api(method, path, url.query)
            elif path.startswith("/checkout/pay/"):
                self._checkout_page(method, path)
            elif path.startswith("/connect/onboard/"):
                self._onboarding_page(method, path, url.query)
            elif path.startswith("/_sim/") or path == "/_sim":
                self._control(method, path, url.query)
            elif path == "/" and method == "GET":
                self._send_json(
                    200, {"simulator": "fairtask-stripe-sim", "base_url": self.server.sim.base_url}
                )
            else:
                self._send_html(404, message_page("Not found", f"No page at {path}."))
        except _LostResponse:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if not (method == "GET" and path.startswith("/_sim/")):
                # Persist after every request (a GET can expire sessions or release
                # funds): a restart then loses nothing that was answered.
                self.server.sim.save()

    # --------------------------------------------------------------------- API
    def _api(self, method: str, path: str, query_string: str) -> None:
        sim = self.server.sim
        request_id = new_id("req_", 14)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": self.headers.get("Stripe-Version") or sim.engine.options.api_version,
        }
        idem_key = self.headers.get("Idempotency-Key") if method == "POST" else None
        if idem_key:
            headers["Idempotency-Key"] = idem_key
        try:
            body = self._read_body() if method == "POST" else ""
            api_key = self._api_key()
            engine = sim.engine_for_key(api_key)
            if engine is None:
                raise authentication(f"Invalid API Key provided: {_mask(api_key)}")
            account = self.headers.get("Stripe-Account") or None
            call, args = self._route(engine, method, path)
            params = parse_form(query_string)
            if method == "POST":
                params.update(parse_form(body))
            if account is not None:
                engine.require_account_header(account)
            engine.tick()
        except StripeError as exc:
            self._send_json(exc.status, exc.body(request_id), headers | exc.headers)
            return

        lost = sim.faults.take(method, path, ("lost_response",))
        if sim.faults.take(method, path, ("server_error",)) is not None:
            self._finish_api(api_error(), request_id, headers, lost)
            return
        ctx = Ctx(account, request_id, idem_key, self.headers.get("Stripe-Version"))
        scope = (api_key, account, idem_key) if idem_key else None
        if scope is not None:
            try:
                stored = sim.idempotency.begin(scope, method, path, params)
            except StripeError as exc:
                self._finish_api(exc, request_id, headers, lost)
                return
            if stored is not None:
                replay = headers | {
                    "Idempotent-Replayed": "true",
                    "Original-Request": stored.request_id,
                }
                self._finish_raw(stored.status, stored.body, replay, lost)
                return
        delay = sim.faults.take(method, path, ("delay",))
        if delay is not None:
            time.sleep(delay.delay)
        status, payload, keep = self._execute(method, path, call, args, ctx, params, request_id)
        if scope is not None:
            sim.idempotency.finish(
                scope, status=status, body=payload, request_id=request_id, keep=keep
            )
        self._finish_raw(status, payload, headers, lost)

    def _execute(
        self,
        method: str,
        path: str,
        call: ApiCall,
        args: tuple[str, ...],
        ctx: Ctx,
        params: dict[str, Any],
        request_id: str,
    ) -> tuple[int, bytes, bool]:
        """Run the endpoint: (status, body, keep under the idempotency key)."""
        sim = self.server.sim
        try:
            fault = sim.faults.take(method, path, ("decline", "fail"))
            if fault is not None and fault.mode == "decline":
                raise _decline(fault, path)
            if call.__name__ == "create_payout":
                fail = None
                if fault is not None and fault.mode == "fail":
                    code = fault.code or "account_closed"
                    fail = (code, fault.message or "The bank account has been closed.")
                result = call(ctx, params, fail=fail)
            else:
                result = call(ctx, *args, params)
            return 200, _dumps(result), True
        except StripeError as exc:
            return exc.status, _dumps(exc.body(request_id)), exc.stored
        except Exception as exc:  # a bug in the simulator: answer like Stripe's 500
            self.log_error("simulator error on %s %s: %r", method, path, exc)
            return 500, _dumps(api_error(f"Simulator error: {exc!r}").body(request_id)), False

    def _finish_api(
        self, exc: StripeError, request_id: str, headers: dict[str, str], lost: Fault | None
    ) -> None:
        self._finish_raw(exc.status, _dumps(exc.body(request_id)), headers | exc.headers, lost)

    def _finish_raw(
        self, status: int, body: bytes, headers: dict[str, str], lost: Fault | None
    ) -> None:
        if lost is not None:
            if lost.status is None:
                raise _LostResponse
            error = api_error(lost.message or "The response was lost (simulated).")
            self._send_json(lost.status, error.body(headers.get("Request-Id")), headers)
            return
        self._send(status, body, "application/json", headers)

    def _api_key(self) -> str:
        header = self.headers.get("Authorization") or ""
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential).decode("utf-8").partition(":")[0]
            except ValueError:
                credential = ""
        elif scheme.lower() != "bearer":
            credential = ""
        credential = credential.strip()
        if not credential:
            raise authentication(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details."
            )
        if not credential.startswith("sk_") or credential.startswith("sk_live_"):
            raise authentication(
                f"Invalid API Key provided: {_mask(credential)} (the Fairtask Stripe simulator "
                "accepts secret test keys, sk_test_...)"
            )
        return credential

    def _route(self, engine: Engine, method: str, path: str) -> tuple[ApiCall, tuple[str, ...]]:
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                return getattr(engine, name), match.groups()
        raise invalid_request(
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
            "we can help at https://support.stripe.com/.",
            status=404,
        )

    # ---------------------------------------------------------- hosted pages
    def _form(self) -> dict[str, str]:
        return dict(parse_qsl(self._read_body(), keep_blank_values=True))

    def _checkout_page(self, method: str, path: str) -> None:
        sim = self.server.sim
        rest = path[len("/checkout/pay/") :]
        session_id, _, action = rest.partition("/")
        engine = sim.engine_with(session_id)
        found = engine.checkout_page(session_id) if engine is not None else None
        if found is None or action not in ("", "cancel") or method not in ("GET", "POST"):
            self._send_html(404, message_page("Not found", "No such checkout session."))
            return
        session, items = found
        if method == "GET":
            self._send_html(200, checkout_page(session, items))
            return
        form = self._form()
        if action == "cancel":
            if session["cancel_url"]:
                self._redirect(session["cancel_url"])
            else:
                self._send_html(200, message_page("Payment cancelled", "You can close this page."))
            return
        if session["status"] != "open":
            self._send_html(409, checkout_page(session, items))
            return
        fault = sim.faults.take("POST", path, ("decline",))
        if fault is not None:
            self._send_html(
                402, checkout_page(session, items, fault.message or "Your card was declined.")
            )
            return
        try:
            assert engine is not None
            paid = engine.complete_checkout(session_id, email=form.get("email") or None)
        except StripeError as exc:
            self._send_html(exc.status, message_page("Checkout", exc.message))
            return
        self._redirect(paid["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))

    def _onboarding_page(self, method: str, path: str, query: str) -> None:
        sim = self.server.sim
        account_id = path[len("/connect/onboard/") :]
        token = dict(parse_qsl(query)).get("link")
        form = self._form() if method == "POST" else {}
        token = form.get("link", token)
        engine = sim.engine_with(account_id) or sim.engine
        try:
            account, link, state = engine.onboarding_link(account_id, token)
        except StripeError:
            self._send_html(404, message_page("Not found", "No such connected account."))
            return
        if state in ("expired", "used"):
            if link is not None and link.refresh_url:
                self._redirect(link.refresh_url)
            else:
                self._send_html(
                    410, message_page("Link expired", "This onboarding link has expired.")
                )
            return
        if method == "GET":
            self._send_html(200, onboarding_page(account, token))
            return
        if method != "POST":
            self._send_html(405, message_page("Not allowed", "Use GET or POST."))
            return
        if form.get("action", "complete") == "complete":
            engine.complete_onboarding(account_id)
        engine.use_link(token)
        if link is not None and link.return_url:
            self._redirect(link.return_url)
        else:
            self._send_html(
                200, message_page("Done", "Onboarding finished; you can close this page.")
            )

    # ------------------------------------------------------------- control
    def _control(self, method: str, path: str, query: str) -> None:
        sim = self.server.sim
        try:
            raw = self._read_body()
            data: dict[str, Any] = json.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            result = self._control_call(sim, method, path, data)
        except StripeError as exc:
            self._send_json(exc.status, exc.body())
            return
        except (ValueError, TypeError, KeyError) as exc:
            self._send_json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
            return
        if result is None:
            self._send_json(
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Unknown control endpoint {method} {path}",
                    }
                },
            )
            return
        status, body = result
        self._send_json(status, body)

    @staticmethod
    def _control_call(
        sim: StripeSimulator, method: str, path: str, data: dict[str, Any]
    ) -> tuple[int, Any] | None:
        parts = path.strip("/").split("/")[1:]
        match method, parts:
            case "GET", ["state"]:
                return 200, sim.state()
            case "POST", ["reset"]:
                sim.reset()
                return 200, {"reset": True}
            case "GET", ["faults"]:
                return 200, sim.faults.list()
            case "POST", ["faults"]:
                return 201, sim.faults.add(Fault.from_dict(data)).to_dict()
            case "DELETE", ["faults"]:
                sim.faults.clear()
                return 200, {"cleared": True}
            case "POST", ["checkout", "sessions", session_id, "complete"]:
                return 200, sim.complete_checkout(session_id, email=data.get("email"))
            case "POST", ["accounts", account_id, "onboard"]:
                return 200, sim.complete_onboarding(account_id)
            case "POST", ["balance"]:
                sim.fund_balance(
                    int(data["amount"]), data.get("currency", "usd"), data.get("account")
                )
                return 200, sim.balance(data.get("account"))
            case "POST", ["balance", "release"]:
                sim.release_pending(data.get("account"))
                return 200, sim.balance(data.get("account"))
            case "POST", ["payouts", payout_id, "settle"]:
                return 200, sim.settle_payout(
                    payout_id, fail=bool(data.get("fail")), failure_code=data.get("failure_code")
                )
            case "POST", ["webhook"]:
                connect = data.get("connect")
                sim.set_webhook(
                    data.get("url"),
                    data.get("secret"),
                    connect=None if connect is None else bool(connect),
                )
                return 200, {
                    "endpoints": sim.engine.objects("webhook_endpoint"),
                    "enabled": sim.webhooks_enabled,
                }
            case "POST", ["clock"]:
                sim.advance_time(int(data["advance"]))
                return 200, {"clock_offset": sim.engine.snapshot()["clock_offset"]}
        return None


def _decline(fault: Fault, path: str) -> StripeError:
    """The error a ``decline`` fault produces on this endpoint."""
    if path.startswith("/v1/transfers"):
        return invalid_request(
            fault.message or "Transfers are not allowed for this account (simulated decline).",
            code=fault.code or "transfers_not_allowed",
            stored=True,
        )
    if path.startswith("/v1/payouts"):
        return invalid_request(
            fault.message or "Payouts are not allowed for this account (simulated decline).",
            code=fault.code or "payouts_not_allowed",
            stored=True,
        )
    return card_declined(fault.message, fault.code)


def _mask(key: str) -> str:
    """A key as Stripe shows it in a 401: only its start and its last 4 characters."""
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]


def _dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode("utf-8")
