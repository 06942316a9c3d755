"""``StripeSimulator``: the engine, the HTTP server and the webhook sender together.

Start one per test (port 0 picks a free port) or one per development session
(``python -m payouts.stripe_sim``); point the official library at
:attr:`StripeSimulator.base_url` and nothing else changes.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .engine import JSON, Ctx, Engine, EngineOptions
from .faults import Fault, FaultMode, FaultRegistry
from .idempotency import IdempotencyStore
from .server import SimServer
from .webhooks import Delivery, WebhookConfig, WebhookDispatcher


class StripeSimulator:
    """A local, in-memory Stripe for the parts of the API Fairtask uses.

    Parameters worth knowing:

    ``webhook_url`` / ``webhook_secret``
        where events are POSTed and the ``whsec_...`` they are signed with; without
        both, events are only recorded (``GET /v1/events``).
    ``webhook_backoff``, ``webhook_max_attempts``, ``webhook_max_backoff``
        retry schedule: attempt n+1 waits ``backoff * 2**(n-1)`` seconds (capped).
        Stripe retries for three days; tests want e.g. ``0.05``.
    ``payout_settlement``
        ``"immediate"`` (payouts become ``paid`` right after creation) or
        ``"manual"`` (they stay ``pending`` until :meth:`settle_payout`).
    ``card_fee_bp`` / ``card_fee_fixed``
        processing fee taken from checkout payments (Stripe US: 290 + 30).
    ``charges_pending``
        card payments land in ``pending`` until :meth:`release_pending`.
    """

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_backoff: float = 1.0,
        webhook_max_attempts: int = 8,
        webhook_max_backoff: float = 3600.0,
        webhook_timeout: float = 10.0,
        payout_settlement: str = "immediate",
        card_fee_bp: int = 0,
        card_fee_fixed: int = 0,
        charges_pending: bool = False,
        api_version: str | None = None,
        public_url: str | None = None,
        verbose: bool = False,
    ) -> None:
        if payout_settlement not in ("immediate", "manual"):
            raise ValueError("payout_settlement must be 'immediate' or 'manual'")
        self.host = host
        self.port = port
        self.verbose = verbose
        self._public_url = public_url.rstrip("/") if public_url else None
        self.webhook_config = WebhookConfig(
            url=webhook_url,
            secret=webhook_secret,
            backoff=webhook_backoff,
            max_backoff=webhook_max_backoff,
            max_attempts=webhook_max_attempts,
            timeout=webhook_timeout,
        )
        options = EngineOptions(
            payout_settlement=payout_settlement,
            card_fee_bp=card_fee_bp,
            card_fee_fixed=card_fee_fixed,
            charges_pending=charges_pending,
        )
        if api_version:
            options.api_version = api_version
        self.faults = FaultRegistry()
        self.idempotency = IdempotencyStore()
        self.dispatcher = WebhookDispatcher(self.webhook_config, self._payload_for, self._delivered)
        self.engine = Engine(
            options,
            base_url=lambda: self.base_url,
            on_event=self.dispatcher.enqueue,
            webhooks_enabled=lambda: self.dispatcher.enabled,
        )
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> StripeSimulator:
        if self._server is not None:
            return self
        self._server = SimServer((self.host, self.port), self, verbose=self.verbose)
        self.port = self._server.server_address[1]
        self.dispatcher.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="stripe-sim-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.dispatcher.stop()

    def __enter__(self) -> StripeSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (the CLI)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    @property
    def base_url(self) -> str:
        """What to pass as the library's API base, e.g. ``http://127.0.0.1:12111``."""
        if self._public_url:
            return self._public_url
        host = self.host if self.host not in ("0.0.0.0", "", "::") else "127.0.0.1"  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------ webhooks
    def _payload_for(self, event_id: str) -> tuple[str, str] | None:
        found = self.engine.event_payload(event_id)
        if found is None:
            return None
        event_type, event = found
        return event_type, json.dumps(event, indent=2)

    def _delivered(self, event_id: str, delivered: bool, final: bool) -> None:
        self.engine.webhook_result(event_id, delivered)

    def set_webhook(self, url: str | None, secret: str | None = None) -> None:
        """Point deliveries elsewhere (e.g. a live test server started after the simulator)."""
        self.webhook_config.url = url
        if secret is not None:
            self.webhook_config.secret = secret

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook attempt so far, in the order they were made."""
        return self.dispatcher.deliveries

    def wait_for_deliveries(
        self,
        count: int = 1,
        *,
        event_type: str | None = None,
        ok: bool | None = True,
        timeout: float = 5.0,
    ) -> list[Delivery]:
        """Wait for ``count`` attempts matching ``event_type`` / ``ok``; return those."""

        def matching(deliveries: list[Delivery]) -> list[Delivery]:
            return [
                d
                for d in deliveries
                if (event_type is None or d.event_type == event_type) and (ok is None or d.ok == ok)
            ]

        self.dispatcher.wait(lambda ds: len(matching(ds)) >= count, timeout)
        return matching(self.dispatcher.deliveries)

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Wait until no delivery is queued, retrying or in flight."""
        self.dispatcher.wait_idle(timeout)

    # ------------------------------------------------------------ test helpers
    def inject_fault(
        self,
        method: str,
        path: str,
        mode: FaultMode,
        *,
        count: int | None = 1,
        code: str | None = None,
        message: str | None = None,
        delay: float = 0.0,
        status: int | None = None,
    ) -> Fault:
        """Arm a fault; see :mod:`payouts.stripe_sim.faults` for the modes."""
        return self.faults.add(
            Fault(
                method=method,
                path=path,
                mode=mode,
                count=count,
                code=code,
                message=message,
                delay=delay,
                status=status,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget every object, balance, event, key, fault and delivery."""
        self.faults.clear()
        self.idempotency.clear()
        self.dispatcher.reset()
        self.engine.reset()

    def complete_checkout(self, session_id: str, *, email: str | None = None) -> JSON:
        """Pay a session as if the customer used the hosted page."""
        return self.engine.complete_checkout(session_id, email=email)

    def complete_onboarding(self, account_id: str) -> JSON:
        """Finish Connect onboarding as if the account holder used the hosted page."""
        return self.engine.complete_onboarding(account_id)

    def fund_balance(self, amount: int, currency: str = "usd", account: str | None = None) -> None:
        """Add available funds (the platform's, or a connected account's)."""
        self.engine.fund(amount, currency, account)

    def release_pending(self, account: str | None = None) -> None:
        self.engine.release_pending(account)

    def settle_payout(
        self, payout_id: str, *, fail: bool = False, failure_code: str | None = None
    ) -> JSON:
        return self.engine.settle_payout(payout_id, fail=fail, failure_code=failure_code)

    def advance_time(self, seconds: int) -> None:
        self.engine.advance_time(seconds)

    def balance(self, account: str | None = None) -> JSON:
        return self.engine.balance(Ctx(account))

    def available(self, account: str | None = None, currency: str = "usd") -> int:
        """Available balance in one currency: the number most tests assert on."""
        for entry in self.balance(account)["available"]:
            if entry["currency"] == currency:
                return int(entry["amount"])
        return 0

    def get(self, object_id: str) -> JSON | None:
        """Any stored object by id, regardless of scope."""
        return self.engine.get_object(object_id)

    def objects(self, kind: str) -> list[JSON]:
        """All stored objects of one ``object`` type, oldest first."""
        return self.engine.objects(kind)

    def events(self, event_type: str | None = None) -> list[JSON]:
        """All events (or those of one type), oldest first, connected accounts' included."""
        found = self.engine.objects("event")
        return found if event_type is None else [e for e in found if e["type"] == event_type]

    def state(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "webhook": {
                "url": self.webhook_config.url,
                "enabled": self.dispatcher.enabled,
                "pending": self.dispatcher.pending(),
            },
            "faults": self.faults.list(),
            "deliveries": [d.to_dict() for d in self.dispatcher.deliveries[-100:]],
            **self.engine.snapshot(),
        }
