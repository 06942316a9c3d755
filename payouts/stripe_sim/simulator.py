"""``StripeSimulator``: the engine, the HTTP server and the webhook sender together.

Start one per test (port 0 picks a free port) or one per development session
(``python -m payouts.stripe_sim``); point the official library at
:attr:`StripeSimulator.base_url` and nothing else changes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from pathlib import Path
from typing import Any

from .engine import (
    JSON,
    STRIPE_AVAILABLE_DELAY,
    STRIPE_US_CARD_FEE_BP,
    STRIPE_US_CARD_FEE_FIXED,
    Ctx,
    Engine,
    EngineOptions,
)
from .faults import Fault, FaultMode, FaultRegistry
from .idempotency import IdempotencyStore
from .server import SimServer
from .webhooks import Delivery, WebhookConfig, WebhookDispatcher

#: The key the simulator accepts when none is configured (also the app's default).
DEFAULT_API_KEY = "sk_test_fairtask_simulator"
#: Every event type: what a configured endpoint listens to.
ALL_EVENTS = ["*"]


class StripeSimulator:
    """A local Stripe for the parts of the API Fairtask uses.

    Parameters worth knowing:

    ``api_keys``
        the secret keys it accepts; each key is one Stripe account with its own
        objects, balance, events and webhook endpoints. Any other key gets Stripe's
        401. Default: :data:`DEFAULT_API_KEY`.
    ``webhook_url`` / ``webhook_secret``
        configure a platform webhook endpoint on the first account (as one would in
        Stripe's dashboard); ``connect_webhook_url`` / ``connect_webhook_secret`` a
        Connect endpoint, which receives the connected accounts' events
        (``account.updated``, ``payout.*``). The Connect endpoint defaults to the
        platform endpoint's URL and secret. Endpoints can also be made over the API
        (``POST /v1/webhook_endpoints``, with ``connect=true`` for Connect).
    ``webhook_backoff``, ``webhook_max_attempts``, ``webhook_max_backoff``
        retry schedule: attempt n+1 waits ``backoff * 2**(n-1)`` seconds (capped).
        Stripe retries for three days; tests want e.g. ``0.05``.
    ``payout_settlement``
        ``"immediate"`` (payouts become ``paid`` right after creation) or
        ``"manual"`` (they stay ``pending`` until :meth:`settle_payout`).
    ``card_fee_bp`` / ``card_fee_fixed``
        processing fee on checkout payments; default Stripe US: 290 + 30.
    ``available_delay``
        seconds until a card payment's funds are available (``available_on``);
        pending until then. Default Stripe's 2 days; 0 makes them available at once.
    ``state_path``
        a JSON file the state is saved to after every change and loaded from at
        start, so a restart keeps every object, balance and event.
    """

    def __init__(
        self,
        *,
        api_keys: list[str] | tuple[str, ...] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        connect_webhook_url: str | None = None,
        connect_webhook_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_backoff: float = 1.0,
        webhook_max_attempts: int = 8,
        webhook_max_backoff: float = 3600.0,
        webhook_timeout: float = 10.0,
        payout_settlement: str = "immediate",
        card_fee_bp: int = STRIPE_US_CARD_FEE_BP,
        card_fee_fixed: int = STRIPE_US_CARD_FEE_FIXED,
        available_delay: int = STRIPE_AVAILABLE_DELAY,
        api_version: str | None = None,
        public_url: str | None = None,
        state_path: str | Path | None = None,
        verbose: bool = False,
    ) -> None:
        if payout_settlement not in ("immediate", "manual"):
            raise ValueError("payout_settlement must be 'immediate' or 'manual'")
        keys = list(dict.fromkeys(api_keys or [DEFAULT_API_KEY]))
        for key in keys:
            if not key.startswith("sk_test_"):
                raise ValueError(f"the simulator accepts only secret test keys, not {key[:8]}...")
        self.api_keys = keys
        self.host = host
        self.port = port
        self.verbose = verbose
        self._public_url = public_url.rstrip("/") if public_url else None
        self.state_path = Path(state_path) if state_path else None
        self._save_lock = threading.Lock()
        self.webhook_config = WebhookConfig(
            backoff=webhook_backoff,
            max_backoff=webhook_max_backoff,
            max_attempts=webhook_max_attempts,
            timeout=webhook_timeout,
        )
        self.faults = FaultRegistry()
        self.idempotency = IdempotencyStore()
        self.dispatcher = WebhookDispatcher(
            self.webhook_config, self._payload_for, self._target_for, self._delivered
        )
        self.engines: dict[str, Engine] = {}
        for key in keys:
            options = EngineOptions(
                payout_settlement=payout_settlement,
                card_fee_bp=card_fee_bp,
                card_fee_fixed=card_fee_fixed,
                available_delay=available_delay,
            )
            if api_version:
                options.api_version = api_version
            self.engines[key] = Engine(
                options,
                base_url=lambda: self.base_url,
                on_event=functools.partial(self.dispatcher.enqueue, key),
            )
        #: The first key's account: what the Python helpers below act on.
        self.engine = self.engines[keys[0]]
        # Ids of the endpoints configured through the constructor / set_webhook.
        self._configured: dict[str, str] = {}
        if self.state_path is not None and self.state_path.exists():
            self._load()
        self._configure_endpoints(
            webhook_url, webhook_secret, connect_webhook_url, connect_webhook_secret
        )
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ accounts
    def engine_for_key(self, api_key: str) -> Engine | None:
        return self.engines.get(api_key)

    def engine_with(self, object_id: str) -> Engine | None:
        """The account holding ``object_id`` (hosted pages are reached without a key)."""
        for engine in self.engines.values():
            if engine.get_object(object_id) is not None:
                return engine
        return None

    # ------------------------------------------------------------ persistence
    def save(self) -> None:
        """Write the whole state atomically (temp file + rename), if a path is set."""
        if self.state_path is None:
            return
        with self._save_lock, contextlib.ExitStack() as held:
            # Serialise under every account's lock: a request thread may be changing
            # the very dicts being written.
            for engine in self.engines.values():
                held.enter_context(engine.lock)
            text = json.dumps(
                {
                    "version": 1,
                    "accounts": {key: engine.to_state() for key, engine in self.engines.items()},
                    "configured": self._configured,
                    "idempotency": self.idempotency.to_state(),
                }
            )
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.state_path)

    def _load(self) -> None:
        assert self.state_path is not None
        state = json.loads(self.state_path.read_text())
        for key, engine_state in state["accounts"].items():
            if key in self.engines:
                self.engines[key].load_state(engine_state)
        self._configured = dict(state.get("configured", {}))
        self.idempotency.load_state(state.get("idempotency", []))

    def _redeliver(self) -> None:
        """After a restart, send again what no endpoint accepted yet (Stripe retries
        for 3 days; the queue itself is not kept)."""
        for key, engine in self.engines.items():
            since = engine.now() - 3 * 86400
            for event_id in engine.undelivered_events(since):
                for endpoint_id in engine.endpoints_for_event(event_id):
                    self.dispatcher.enqueue(key, event_id, endpoint_id)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> StripeSimulator:
        if self._server is not None:
            return self
        self._server = SimServer((self.host, self.port), self, verbose=self.verbose)
        self.port = self._server.server_address[1]
        self.dispatcher.start()
        self._redeliver()
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
        self.save()

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
    def _payload_for(self, account_key: str, event_id: str) -> tuple[str, str] | None:
        found = self.engines[account_key].event_payload(event_id)
        if found is None:
            return None
        event_type, event = found
        return event_type, json.dumps(event, indent=2)

    def _target_for(self, account_key: str, endpoint_id: str) -> tuple[str, str] | None:
        return self.engines[account_key].endpoint_target(endpoint_id)

    def _delivered(self, account_key: str, event_id: str, delivered: bool) -> None:
        self.engines[account_key].webhook_result(event_id, delivered)
        self.save()

    def _configure_endpoints(
        self,
        url: str | None,
        secret: str | None,
        connect_url: str | None,
        connect_secret: str | None,
    ) -> None:
        if url or connect_url:
            self._set_endpoint("platform", url, secret, connect=False)
            self._set_endpoint(
                "connect", connect_url or url, connect_secret or secret, connect=True
            )

    def _set_endpoint(
        self, name: str, url: str | None, secret: str | None, *, connect: bool
    ) -> None:
        engine = self.engine
        existing = self._configured.get(name)
        if existing is not None and engine.get_object(existing) is None:
            existing = None
        if not url or not secret:
            if existing is not None:
                engine.remove_webhook_endpoint(existing)
            self._configured.pop(name, None)
            return
        if existing is not None:
            engine.set_endpoint_url(existing, url, secret)
            return
        endpoint = engine.add_webhook_endpoint(
            url=url,
            enabled_events=ALL_EVENTS,
            connect=connect,
            secret=secret,
            description=f"configured {name} endpoint",
        )
        self._configured[name] = endpoint["id"]

    def set_webhook(
        self, url: str | None, secret: str | None = None, *, connect: bool | None = None
    ) -> None:
        """Point the configured endpoints elsewhere (e.g. a live test server started after
        the simulator). ``connect=None`` sets both the platform and the Connect endpoint;
        ``False``/``True`` only one. A ``None`` URL removes them."""
        for name, is_connect in (("platform", False), ("connect", True)):
            if connect is not None and connect != is_connect:
                continue
            current = self._configured.get(name)
            current_secret = None
            if current is not None:
                target = self.engine.endpoint_target(current)
                current_secret = target[1] if target else None
            self._set_endpoint(name, url, secret or current_secret, connect=is_connect)

    @property
    def webhooks_enabled(self) -> bool:
        return any(engine.has_endpoints() for engine in self.engines.values())

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
        """Forget every object, balance, event, key, fault and delivery (webhook
        endpoints included; configure them again with :meth:`set_webhook`)."""
        self.faults.clear()
        self.idempotency.clear()
        self.dispatcher.reset()
        for engine in self.engines.values():
            engine.reset()
        self._configured.clear()
        self.save()

    def complete_checkout(self, session_id: str, *, email: str | None = None) -> JSON:
        """Pay a session as if the customer used the hosted page."""
        engine = self.engine_with(session_id) or self.engine
        result = engine.complete_checkout(session_id, email=email)
        self.save()
        return result

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
        for engine in self.engines.values():
            engine.advance_time(seconds)
        self.save()

    def balance(self, account: str | None = None) -> JSON:
        return self.engine.balance(Ctx(account))

    def pending(self, account: str | None = None, currency: str = "usd") -> int:
        """Pending balance in one currency (card payments before ``available_on``)."""
        for entry in self.balance(account)["pending"]:
            if entry["currency"] == currency:
                return int(entry["amount"])
        return 0

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
                "endpoints": self.engine.objects("webhook_endpoint"),
                "enabled": self.webhooks_enabled,
                "pending": self.dispatcher.pending(),
            },
            "faults": self.faults.list(),
            "deliveries": [d.to_dict() for d in self.dispatcher.deliveries[-100:]],
            **self.engine.snapshot(),
        }
