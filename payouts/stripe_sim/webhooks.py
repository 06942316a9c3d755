"""Webhook delivery the way Stripe does it: signed, at least once, retried, unordered.

Each event is POSTed to every webhook endpoint that listens to it (platform events to
account endpoints, connected accounts' events to Connect endpoints) as JSON with
``Stripe-Signature: t=<unix>,v1=<hex>``, where ``v1`` is HMAC-SHA256 of
``f"{t}.{payload}"`` under that endpoint's own secret, so
``stripe.Webhook.construct_event`` accepts it. Any non-2xx answer (redirects
included, which Stripe does not follow) or a connection error schedules another
attempt after an exponential backoff. One worker thread sends whatever is due, so
attempts of one event stay in order while a retried event can arrive after later
events, as it does from Stripe. Every attempt is recorded for tests.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit


def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    ts = int(time.time()) if timestamp is None else timestamp
    body = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode("utf-8"), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event."""

    event_id: str
    event_type: str
    attempt: int
    url: str
    status: int | None
    error: str | None
    at: float
    duration: float
    response_body: str
    endpoint_id: str = ""
    account_key: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


@dataclass
class WebhookConfig:
    """The retry schedule (the same for every endpoint)."""

    backoff: float = 1.0
    max_backoff: float = 3600.0
    max_attempts: int = 8
    timeout: float = 10.0

    def delay_before(self, attempt: int) -> float:
        """Wait before ``attempt`` (2, 3, ...): backoff, 2x backoff, 4x ... capped."""
        return float(min(self.backoff * (2 ** (attempt - 2)), self.max_backoff))


#: (account key, event id) -> (event type, JSON text) as the event is now.
PayloadSource = Callable[[str, str], tuple[str, str] | None]
#: (account key, endpoint id) -> (url, secret), or None once the endpoint is gone.
TargetSource = Callable[[str, str], tuple[str, str] | None]
#: (account key, event id, delivered)
ResultSink = Callable[[str, str, bool], None]


class WebhookDispatcher:
    """Background sender with a due-time queue of (event, endpoint) attempts.

    ``payload_for`` gives the event at send time (its ``pending_webhooks`` can change
    between attempts), ``target_for`` the endpoint's URL and secret at send time (a
    deleted endpoint gets no more attempts), ``on_result`` reports each success.
    """

    def __init__(
        self,
        config: WebhookConfig,
        payload_for: PayloadSource,
        target_for: TargetSource,
        on_result: ResultSink,
    ) -> None:
        self.config = config
        self._payload_for = payload_for
        self._target_for = target_for
        self._on_result = on_result
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, str, str, str, int]] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._stopping = False
        self._generation = 0
        self._deliveries: list[Delivery] = []
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stripe-sim-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout + 1)
            self._thread = None

    def reset(self) -> None:
        """Forget queued attempts and history (an attempt in flight is not recorded)."""
        with self._cond:
            self._queue.clear()
            self._deliveries.clear()
            self._generation += 1
            self._cond.notify_all()

    # -- API ----------------------------------------------------------------------
    def enqueue(self, account_key: str, event_id: str, endpoint_id: str) -> None:
        with self._cond:
            heapq.heappush(
                self._queue,
                (time.monotonic(), next(self._seq), account_key, event_id, endpoint_id, 1),
            )
            self._cond.notify_all()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def wait(self, predicate: Callable[[list[Delivery]], bool], timeout: float) -> list[Delivery]:
        """Block until ``predicate(deliveries)`` holds; raise ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self._deliveries)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"webhook deliveries did not reach the expected state in {timeout}s; "
                        f"got {[(d.event_type, d.attempt, d.status) for d in self._deliveries]}"
                    )
                self._cond.wait(remaining)
            return list(self._deliveries)

    def wait_idle(self, timeout: float) -> None:
        """Block until nothing is queued or in flight."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"webhook queue not idle after {timeout}s")
                self._cond.wait(remaining)

    # -- worker -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, account_key, event_id, endpoint_id, attempt = heapq.heappop(self._queue)
                self._in_flight += 1
                generation = self._generation
            try:
                self._attempt(account_key, event_id, endpoint_id, attempt, generation)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _attempt(
        self, account_key: str, event_id: str, endpoint_id: str, attempt: int, generation: int
    ) -> None:
        found = self._payload_for(account_key, event_id)
        target = self._target_for(account_key, endpoint_id)
        if found is None or target is None:
            return
        url, secret = target
        event_type, payload = found
        started = time.time()
        status, error, body = self._post(url, secret, payload)
        delivery = Delivery(
            event_id=event_id,
            event_type=event_type,
            attempt=attempt,
            url=url,
            status=status,
            error=error,
            at=started,
            duration=time.time() - started,
            response_body=body,
            endpoint_id=endpoint_id,
            account_key=account_key,
        )
        with self._cond:
            if generation != self._generation:
                return
            self._deliveries.append(delivery)
            retry = not delivery.ok and attempt < self.config.max_attempts and not self._stopping
            if retry:
                due = time.monotonic() + self.config.delay_before(attempt + 1)
                heapq.heappush(
                    self._queue,
                    (due, next(self._seq), account_key, event_id, endpoint_id, attempt + 1),
                )
            self._cond.notify_all()
        if delivery.ok:
            self._on_result(account_key, event_id, True)

    def _post(self, url: str, secret: str, payload: str) -> tuple[int | None, str | None, str]:
        parts = urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None, f"unsupported webhook URL {url!r}", ""
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn = connection_class(parts.hostname, parts.port, timeout=self.config.timeout)
        data = payload.encode("utf-8")
        try:
            conn.request(
                "POST",
                path,
                body=data,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(payload, secret),
                    "Cache-Control": "no-cache",
                    "Connection": "close",
                },
            )
            response = conn.getresponse()
            body = response.read(2000).decode("utf-8", "replace")
            return response.status, None, body
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}", ""
        finally:
            conn.close()
