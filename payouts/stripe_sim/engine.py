"""The simulated Stripe account: objects, balances, events; no HTTP here.

Everything runs under one re-entrant lock, so each API call is atomic: a
transfer checks and moves money in one step, like Stripe's ledger, and two
concurrent calls never interleave. Objects are kept as the JSON dicts Stripe
returns (``id`` with the right prefix, ``object``, ``created``, ``livemode``,
``metadata``...) and handed out as deep copies, so callers cannot change the
state behind the lock.

Scope ("owner"): ``None`` is the platform, ``acct_...`` a connected account
reached with the ``Stripe-Account`` header. Objects, balances and events belong to
one owner and are invisible from the others, as on Stripe.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import params as p
from .errors import StripeError, invalid_request, no_such

JSON = dict[str, Any]
Params = dict[str, Any]

DEFAULT_API_VERSION = "2026-10-28.endive"
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
MIN_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "jpy": 50}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def format_amount(amount: int, currency: str) -> str:
    """``1234, "usd"`` -> ``$12.34``; used by the hosted pages."""
    cur = currency.lower()
    if cur in ZERO_DECIMAL:
        text = f"{amount:,}"
    else:
        text = (
            f"{amount // 100:,}.{amount % 100:02d}"
            if amount >= 0
            else f"-{format_amount(-amount, cur)}"
        )
    if text.startswith("-"):
        return text
    return f"${text}" if cur == "usd" else f"{text} {cur.upper()}"


@dataclass(frozen=True)
class Ctx:
    """Who is calling and why: scope, request id and key for the event's ``request``."""

    account: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    api_version: str | None = None


@dataclass
class _Record:
    obj: JSON
    owner: str | None
    seq: int


@dataclass
class _Link:
    account: str
    type: str
    refresh_url: str | None
    return_url: str | None
    expires_at: int
    used: bool = False


#: Stripe's standard US card pricing: 2.9% + 30¢ per successful charge.
STRIPE_US_CARD_FEE_BP = 290
STRIPE_US_CARD_FEE_FIXED = 30
#: Stripe's standard payout schedule makes card funds available after 2 days.
STRIPE_AVAILABLE_DELAY = 2 * 86400


@dataclass
class EngineOptions:
    """Behaviour switches. Defaults are Stripe's: card payments pay a processing fee and
    land in ``pending`` until their balance transaction's ``available_on``."""

    api_version: str = DEFAULT_API_VERSION
    #: ``"immediate"``: a payout turns ``paid`` (or ``failed``) right after it is
    #: created; ``"manual"``: it stays ``pending`` until :meth:`Engine.settle_payout`.
    payout_settlement: str = "immediate"
    #: Card processing fee taken from each checkout payment: basis points + fixed.
    card_fee_bp: int = STRIPE_US_CARD_FEE_BP
    card_fee_fixed: int = STRIPE_US_CARD_FEE_FIXED
    #: Seconds from a card payment until its funds are available (``available_on``);
    #: until then they are ``pending``. 0 makes them available at once.
    available_delay: int = STRIPE_AVAILABLE_DELAY
    checkout_ttl: int = 24 * 3600
    account_link_ttl: int = 300


class Engine:
    def __init__(
        self,
        options: EngineOptions,
        *,
        base_url: Callable[[], str],
        on_event: Callable[[str, str], None],
    ) -> None:
        self.options = options
        self.lock = threading.RLock()
        self._base_url = base_url
        self._on_event = on_event
        self._clock_offset = 0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        with self.lock:
            self._records: dict[str, _Record] = {}
            self._by_kind: dict[str, list[str]] = {}
            self._seq = 0
            self._balances: dict[str | None, dict[str, dict[str, int]]] = {}
            self._line_items: dict[str, list[JSON]] = {}
            self._payment_intents: dict[str, JSON] = {}
            self._links: dict[str, _Link] = {}
            self._payout_failures: dict[str, tuple[str, str]] = {}
            self._delivered: set[str] = set()
            self._platform_bank = new_id("ba_1")
            self._clock_offset = 0
            # Balance transactions whose funds are still pending, oldest first.
            self._pending_lots: list[str] = []
            # Webhook endpoints: what Stripe does not show on the object (its secret
            # after creation, whether it listens to connected accounts).
            self._endpoint_meta: dict[str, JSON] = {}

    # ------------------------------------------------------------ persistence
    def to_state(self) -> JSON:
        """Everything needed to come back after a restart, as JSON-able data."""
        with self.lock:
            return {
                "records": [
                    [r.obj, r.owner, r.seq]
                    for r in sorted(self._records.values(), key=lambda r: r.seq)
                ],
                "by_kind": self._by_kind,
                "seq": self._seq,
                "balances": [[owner, currencies] for owner, currencies in self._balances.items()],
                "line_items": self._line_items,
                "payment_intents": self._payment_intents,
                "links": {token: vars(link) for token, link in self._links.items()},
                "payout_failures": self._payout_failures,
                "delivered": sorted(self._delivered),
                "platform_bank": self._platform_bank,
                "clock_offset": self._clock_offset,
                "pending_lots": self._pending_lots,
                "endpoint_meta": self._endpoint_meta,
            }

    def load_state(self, state: JSON) -> None:
        with self.lock:
            self.reset()
            self._records = {
                obj["id"]: _Record(obj, owner, seq) for obj, owner, seq in state["records"]
            }
            self._by_kind = {kind: list(ids) for kind, ids in state["by_kind"].items()}
            self._seq = int(state["seq"])
            self._balances = {owner: currencies for owner, currencies in state["balances"]}
            self._line_items = state["line_items"]
            # Line items are shared by reference between the session and the records.
            for items in self._line_items.values():
                for item in items:
                    if item["id"] in self._records:
                        self._records[item["id"]] = _Record(item, None, 0)
            self._payment_intents = state["payment_intents"]
            self._links = {token: _Link(**link) for token, link in state["links"].items()}
            self._payout_failures = {k: (v[0], v[1]) for k, v in state["payout_failures"].items()}
            self._delivered = set(state["delivered"])
            self._platform_bank = state["platform_bank"]
            self._clock_offset = int(state["clock_offset"])
            self._pending_lots = list(state["pending_lots"])
            self._endpoint_meta = state["endpoint_meta"]

    def undelivered_events(self, since: int) -> list[str]:
        """Events created after ``since`` that some endpoint has not accepted yet."""
        with self.lock:
            return [
                event_id
                for event_id in self._by_kind.get("event", [])
                if self._records[event_id].obj["pending_webhooks"] > 0
                and self._records[event_id].obj["created"] >= since
            ]

    def now(self) -> int:
        return int(time.time()) + self._clock_offset

    def advance_time(self, seconds: int) -> None:
        """Move the simulated clock (checkout expiry, link expiry, pending funds) forward."""
        with self.lock:
            self._clock_offset += seconds
            self.tick()

    def tick(self) -> None:
        """Do what the passing of time does: expire due sessions, make due funds available.
        Run lazily before every API call (Stripe does it on its own schedule)."""
        with self.lock:
            self._expire_due_sessions()
            self._release_due()

    def _store(self, obj: JSON, owner: str | None) -> JSON:
        self._seq += 1
        self._records[obj["id"]] = _Record(obj, owner, self._seq)
        self._by_kind.setdefault(obj["object"], []).append(obj["id"])
        return obj

    def _find(self, kind: str, object_id: str, owner: str | None, label: str) -> JSON:
        record = self._records.get(object_id)
        if record is None or record.obj["object"] != kind or record.owner != owner:
            raise no_such(label, object_id)
        return record.obj

    def get_object(self, object_id: str) -> JSON | None:
        with self.lock:
            record = self._records.get(object_id)
            return copy.deepcopy(record.obj) if record else None

    def objects(self, kind: str) -> list[JSON]:
        with self.lock:
            return [copy.deepcopy(self._records[i].obj) for i in self._by_kind.get(kind, [])]

    # --------------------------------------------------------------- balances
    def _bucket(self, owner: str | None, currency: str) -> dict[str, int]:
        return self._balances.setdefault(owner, {}).setdefault(
            currency, {"available": 0, "pending": 0}
        )

    def fund(self, amount: int, currency: str = "usd", account: str | None = None) -> None:
        """Add money to ``available`` directly (Stripe's 4000000000000077 test card)."""
        with self.lock:
            if account is not None:
                self._find("account", account, None, "account")
            self._bucket(account, currency.lower())["available"] += amount

    def release_pending(self, account: str | None = None) -> None:
        """Make all of ``account``'s pending funds available now (as if their
        ``available_on`` had come), emitting ``balance.available`` like Stripe."""
        with self.lock:
            self._release(lambda record: record.owner == account)

    def _release_due(self) -> None:
        now = self.now()
        self._release(lambda record: record.obj["available_on"] <= now)

    def _release(self, due: Callable[[_Record], bool]) -> None:
        moved: list[str | None] = []
        keep: list[str] = []
        for bt_id in self._pending_lots:
            record = self._records[bt_id]
            if not due(record):
                keep.append(bt_id)
                continue
            bt = record.obj
            bucket = self._bucket(record.owner, bt["currency"])
            bucket["pending"] -= bt["net"]
            bucket["available"] += bt["net"]
            bt["status"] = "available"
            if record.owner not in moved:
                moved.append(record.owner)
        self._pending_lots = keep
        for owner in moved:
            self._emit("balance.available", self._balance_obj(owner), owner, Ctx(owner))

    def _charge_funds(
        self,
        *,
        owner: str | None,
        amount: int,
        currency: str,
        source: str,
        description: str | None,
    ) -> JSON:
        """Book a successful card payment: a balance transaction with Stripe's fee, whose
        net lands in ``pending`` until ``available_on`` (or at once with no delay)."""
        fee = (amount * self.options.card_fee_bp + 5_000) // 10_000 + self.options.card_fee_fixed
        fee = min(fee, amount)
        now = self.now()
        delay = self.options.available_delay
        bt: JSON = {
            "id": new_id("txn_3"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now + delay,
            "created": now,
            "currency": currency,
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": (
                [
                    {
                        "amount": fee,
                        "application": None,
                        "currency": currency,
                        "description": "Stripe processing fees",
                        "type": "stripe_fee",
                    }
                ]
                if fee
                else []
            ),
            "net": amount - fee,
            "reporting_category": "charge",
            "source": source,
            "status": "pending" if delay > 0 else "available",
            "type": "charge",
        }
        self._store(bt, owner)
        bucket = self._bucket(owner, currency)
        if delay > 0:
            bucket["pending"] += bt["net"]
            self._pending_lots.append(bt["id"])
        else:
            bucket["available"] += bt["net"]
        return bt

    def _balance_obj(self, owner: str | None) -> JSON:
        currencies = self._balances.get(owner, {})
        names = sorted(set(currencies) | {"usd"})

        def amounts(kind: str) -> list[JSON]:
            out = []
            for cur in names:
                value = currencies.get(cur, {}).get(kind, 0)
                out.append({"amount": value, "currency": cur, "source_types": {"card": value}})
            return out

        obj: JSON = {
            "object": "balance",
            "available": amounts("available"),
            "livemode": False,
            "pending": amounts("pending"),
        }
        if owner is None:
            obj["connect_reserved"] = [{"amount": 0, "currency": cur} for cur in names]
        return obj

    def balance(self, ctx: Ctx, query: Params | None = None) -> JSON:
        p.reject_unknown(query or {}, ("expand",))
        with self.lock:
            self._release_due()
            return self._balance_obj(ctx.account)

    def retrieve_balance_transaction(self, ctx: Ctx, bt_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            self._release_due()
            bt = self._find("balance_transaction", bt_id, ctx.account, "balance transaction")
            return self.render(bt, p.get_expand(query), ctx.account)

    def retrieve_payment_intent(self, ctx: Ctx, intent_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand", "client_secret"))
        with self.lock:
            intent = self._find("payment_intent", intent_id, ctx.account, "payment_intent")
            return self.render(intent, p.get_expand(query), ctx.account)

    # ----------------------------------------------------------------- events
    def _emit(
        self,
        type_: str,
        obj: JSON,
        owner: str | None,
        ctx: Ctx,
        previous: JSON | None = None,
    ) -> JSON:
        data: JSON = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event: JSON = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": ctx.api_version or self.options.api_version,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
            "type": type_,
        }
        if owner is not None:
            event["account"] = owner
        endpoints = self._endpoints_for(event)
        event["pending_webhooks"] = len(endpoints)
        self._store(event, owner)
        for endpoint_id in endpoints:
            self._on_event(event["id"], endpoint_id)
        return event

    def _endpoints_for(self, event: JSON) -> list[str]:
        """The enabled endpoints that receive ``event``, as on Stripe: events of a
        connected account (``account`` set) go only to Connect endpoints, the
        platform's own only to account endpoints; ``enabled_events`` filters."""
        connected = "account" in event
        found = []
        for endpoint_id in self._by_kind.get("webhook_endpoint", []):
            endpoint = self._records[endpoint_id].obj
            meta = self._endpoint_meta.get(endpoint_id, {})
            if endpoint["status"] != "enabled" or bool(meta.get("connect")) != connected:
                continue
            wanted = endpoint["enabled_events"]
            if "*" in wanted or event["type"] in wanted:
                found.append(endpoint_id)
        return found

    def endpoints_for_event(self, event_id: str) -> list[str]:
        with self.lock:
            record = self._records.get(event_id)
            return self._endpoints_for(record.obj) if record is not None else []

    def endpoint_target(self, endpoint_id: str) -> tuple[str, str] | None:
        """(url, secret) of an endpoint, or None once it is deleted or disabled."""
        with self.lock:
            record = self._records.get(endpoint_id)
            if record is None or record.obj.get("status") != "enabled":
                return None
            return record.obj["url"], self._endpoint_meta[endpoint_id]["secret"]

    def has_endpoints(self) -> bool:
        with self.lock:
            return bool(self._by_kind.get("webhook_endpoint"))

    # ------------------------------------------------------- webhook endpoints
    def create_webhook_endpoint(self, ctx: Ctx, body: Params) -> JSON:
        _platform_only(ctx, "create webhook endpoints")
        p.reject_unknown(
            body,
            (
                "url",
                "enabled_events",
                "connect",
                "description",
                "metadata",
                "api_version",
                "expand",
            ),
        )
        url = p.get_str(body, "url", required=True)
        assert url is not None
        if not url.startswith(("http://", "https://")):
            raise invalid_request(
                "Invalid URL: must be http or https.", param="url", code="url_invalid"
            )
        if "enabled_events" not in body:
            raise invalid_request(
                "Missing required param: enabled_events.",
                param="enabled_events",
                code="parameter_missing",
            )
        events = [str(e) for e in p.as_list(body["enabled_events"], "enabled_events")]
        if not events:
            raise invalid_request(
                "enabled_events must list at least one event type (or '*').",
                param="enabled_events",
            )
        connect = bool(p.get_bool(body, "connect"))
        with self.lock:
            return self.add_webhook_endpoint(
                url=url,
                enabled_events=events,
                connect=connect,
                description=p.get_str(body, "description"),
                metadata=p.new_metadata(body),
                api_version=p.get_str(body, "api_version"),
            )

    def add_webhook_endpoint(
        self,
        *,
        url: str,
        enabled_events: list[str],
        connect: bool = False,
        secret: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        api_version: str | None = None,
    ) -> JSON:
        """Create an endpoint (also for the simulator's own configuration); the
        response is the only one that shows ``secret``, as on Stripe."""
        with self.lock:
            endpoint: JSON = {
                "id": new_id("we_1"),
                "object": "webhook_endpoint",
                "api_version": api_version,
                "application": None,
                "created": self.now(),
                "description": description,
                "enabled_events": list(enabled_events),
                "livemode": False,
                "metadata": metadata or {},
                "status": "enabled",
                "url": url,
            }
            self._store(endpoint, None)
            self._endpoint_meta[endpoint["id"]] = {
                "connect": connect,
                "secret": secret or "whsec_" + secrets.token_hex(16),
            }
            return {
                **copy.deepcopy(endpoint),
                "secret": self._endpoint_meta[endpoint["id"]]["secret"],
            }

    def set_endpoint_url(self, endpoint_id: str, url: str, secret: str | None = None) -> None:
        with self.lock:
            self._records[endpoint_id].obj["url"] = url
            if secret is not None:
                self._endpoint_meta[endpoint_id]["secret"] = secret

    def retrieve_webhook_endpoint(self, ctx: Ctx, endpoint_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        _platform_only(ctx, "read webhook endpoints")
        with self.lock:
            endpoint = self._find("webhook_endpoint", endpoint_id, None, "webhook endpoint")
            return self.render(endpoint, p.get_expand(query), None)

    def list_webhook_endpoints(self, ctx: Ctx, query: Params) -> JSON:
        _platform_only(ctx, "list webhook endpoints")
        p.reject_unknown(query, ("limit", "starting_after", "ending_before", "expand"))
        listing = self._list("webhook_endpoint", None, query, "/v1/webhook_endpoints")
        return self.render(listing, p.get_expand(query), None)

    def delete_webhook_endpoint(self, ctx: Ctx, endpoint_id: str, query: Params) -> JSON:
        _platform_only(ctx, "delete webhook endpoints")
        p.reject_unknown(query, ())
        with self.lock:
            self._find("webhook_endpoint", endpoint_id, None, "webhook endpoint")
            self.remove_webhook_endpoint(endpoint_id)
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    def remove_webhook_endpoint(self, endpoint_id: str) -> None:
        with self.lock:
            if self._records.pop(endpoint_id, None) is not None:
                self._by_kind["webhook_endpoint"].remove(endpoint_id)
            self._endpoint_meta.pop(endpoint_id, None)

    def event_payload(self, event_id: str) -> tuple[str, JSON] | None:
        """(type, event) as it is now, for a webhook attempt."""
        with self.lock:
            record = self._records.get(event_id)
            if record is None:
                return None
            return record.obj["type"], copy.deepcopy(record.obj)

    def webhook_result(self, event_id: str, delivered: bool) -> None:
        """A delivery to one endpoint succeeded: one endpoint fewer is waiting for it."""
        with self.lock:
            record = self._records.get(event_id)
            if record is not None and delivered:
                record.obj["pending_webhooks"] = max(record.obj["pending_webhooks"] - 1, 0)
                self._delivered.add(event_id)

    def retrieve_event(self, ctx: Ctx, event_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            return copy.deepcopy(self._find("event", event_id, ctx.account, "event"))

    def list_events(self, ctx: Ctx, query: Params) -> JSON:
        p.reject_unknown(
            query,
            (
                "type",
                "types",
                "created",
                "delivery_success",
                "limit",
                "starting_after",
                "ending_before",
                "expand",
            ),
        )
        type_ = p.get_str(query, "type")
        types = p.as_list(query["types"], "types") if "types" in query else None
        if type_ and types:
            raise invalid_request("You may pass either type or types, not both.", param="types")
        delivered = p.get_bool(query, "delivery_success")

        def wanted(event: JSON) -> bool:
            name = event["type"]
            if type_ and not _type_matches(type_, name):
                return False
            if types and not any(_type_matches(t, name) for t in types):
                return False
            if delivered is not None and (event["id"] in self._delivered) != delivered:
                return False
            return True

        return self._list("event", ctx.account, query, "/v1/events", wanted)

    # ------------------------------------------------------------------ lists
    def _list(
        self,
        kind: str,
        owner: str | None,
        query: Params,
        url: str,
        keep: Callable[[JSON], bool] | None = None,
        *,
        ids: list[str] | None = None,
    ) -> JSON:
        """Stripe's cursor pagination: newest first, ``limit`` 1..100 (default 10)."""
        limit = p.get_int(query, "limit", minimum=1, maximum=100)
        limit = 10 if limit is None else limit
        created = p.created_filter(query)
        after = p.get_str(query, "starting_after")
        before = p.get_str(query, "ending_before")
        if after and before:
            raise invalid_request(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        with self.lock:
            source = ids if ids is not None else self._by_kind.get(kind, [])
            items: list[JSON] = []
            for object_id in reversed(source):
                record = self._records[object_id]
                if record.owner != owner and ids is None:
                    continue
                if not p.matches_range(record.obj.get("created", 0), created):
                    continue
                if keep is not None and not keep(record.obj):
                    continue
                items.append(record.obj)
            position = {obj["id"]: i for i, obj in enumerate(items)}
            if after:
                if after not in position:
                    raise no_such(kind.replace("_", " "), after, param="starting_after")
                rest = items[position[after] + 1 :]
                page, has_more = rest[:limit], len(rest) > limit
            elif before:
                if before not in position:
                    raise no_such(kind.replace("_", " "), before, param="ending_before")
                newer = items[: position[before]]
                page, has_more = newer[-limit:], len(newer) > limit
            else:
                page, has_more = items[:limit], len(items) > limit
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": has_more,
                "url": url,
            }

    # -------------------------------------------------------------- expansion
    def render(self, obj: JSON, expand: list[str], owner: str | None) -> JSON:
        """A deep copy of ``obj`` with the ``expand[]`` paths replaced by objects."""
        with self.lock:
            out = copy.deepcopy(obj)
            for path in expand:
                self._expand(out, path.split("."), path, owner)
            return out

    def _expand(self, obj: Any, parts: list[str], full: str, owner: str | None) -> None:
        if not parts or not isinstance(obj, dict):
            return
        head, rest = parts[0], parts[1:]
        kind = obj.get("object")
        if kind == "list":
            if head != "data":
                raise invalid_request(
                    f"This property cannot be expanded ({full}). You may want to try expanding "
                    f"'data.{full}' instead.",
                    param="expand",
                )
            for item in obj.get("data", []):
                self._expand(item, rest, full, owner)
            return
        expandable = _EXPANDABLE.get(str(kind), {})
        if head not in expandable:
            raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
        target = expandable[head]
        if target is None:
            raise invalid_request(
                f"The Fairtask Stripe simulator does not implement expanding {head!r} on "
                f"{kind} objects.",
                param="expand",
            )
        if head == "line_items":
            obj["line_items"] = self._line_items_list(obj["id"], {})
        else:
            value = obj.get(head)
            if isinstance(value, str):
                record = self._records.get(value)
                if record is None or record.obj["object"] != target:
                    raise no_such(target, value, param="expand")
                obj[head] = copy.deepcopy(record.obj)
        self._expand(obj.get(head), rest, full, owner)

    # ------------------------------------------------------- checkout sessions
    def _expire_due_sessions(self) -> None:
        now = self.now()
        for session_id in self._by_kind.get("checkout.session", []):
            record = self._records[session_id]
            session = record.obj
            if session["status"] == "open" and session["expires_at"] <= now:
                self._expire_session(session, record.owner, Ctx(record.owner))

    def create_checkout_session(self, ctx: Ctx, body: Params) -> JSON:
        p.reject_unknown(body, _CHECKOUT_CREATE)
        mode = p.get_str(body, "mode", required=True, choices=("payment", "setup", "subscription"))
        if mode != "payment":
            raise invalid_request(
                "The Fairtask Stripe simulator implements only mode=payment Checkout Sessions.",
                param="mode",
            )
        ui_mode = p.get_str(body, "ui_mode", choices=("hosted",), default="hosted")
        success_url = p.get_str(body, "success_url", required=True)
        cancel_url = p.get_str(body, "cancel_url")
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise invalid_request("Not a valid URL", param=name, code="url_invalid")
        client_reference_id = p.get_str(body, "client_reference_id", max_length=200)
        customer_email = p.get_str(body, "customer_email", max_length=800)
        locale = p.get_str(body, "locale")
        submit_type = p.get_str(body, "submit_type", choices=("auto", "book", "donate", "pay"))
        methods = body.get("payment_method_types")
        if methods is not None and p.as_list(methods, "payment_method_types") != ["card"]:
            raise invalid_request(
                "The Fairtask Stripe simulator accepts only payment_method_types[]=card.",
                param="payment_method_types",
            )
        metadata = p.new_metadata(body)
        pi_data = p.as_hash(body.get("payment_intent_data", {}), "payment_intent_data")
        p.reject_unknown(pi_data, _PI_DATA, prefix="payment_intent_data")
        pi_metadata = p.new_metadata(pi_data)
        for name in (
            "description",
            "transfer_group",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "receipt_email",
        ):
            p.get_str(pi_data, name, param=f"payment_intent_data[{name}]")
        p.get_str(
            pi_data,
            "capture_method",
            choices=("automatic",),
            param="payment_intent_data[capture_method]",
        )
        now = self.now()
        expires_at = p.get_int(body, "expires_at")
        if expires_at is None:
            expires_at = now + self.options.checkout_ttl
        elif not now + 1800 <= expires_at <= now + 24 * 3600:
            raise invalid_request(
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                param="expires_at",
            )
        raw_items = p.as_list(body.get("line_items", []), "line_items")
        if not raw_items:
            raise invalid_request(
                "You must specify either `line_items` or `subscription_data` in `payment` mode.",
                param="line_items",
                code="parameter_missing",
            )
        currency: str | None = p.get_currency(body, required=False)
        items: list[JSON] = []
        for index, raw in enumerate(raw_items):
            item, currency = self._line_item(raw, index, currency, now)
            items.append(item)
        assert currency is not None
        total = sum(item["amount_total"] for item in items)
        minimum = MIN_CHARGE.get(currency, 1)
        if total < minimum:
            raise invalid_request(
                f"The Checkout Session's total amount due must add up to at least "
                f"{format_amount(minimum, currency)} {currency}",
                param="line_items",
                code="amount_too_small",
            )
        with self.lock:
            session_id = new_id("cs_test_a1", 56)
            session: JSON = {
                "id": session_id,
                "object": "checkout.session",
                "after_expiration": None,
                "allow_promotion_codes": None,
                "amount_subtotal": total,
                "amount_total": total,
                "automatic_tax": {"enabled": False, "status": None},
                "billing_address_collection": None,
                "cancel_url": cancel_url,
                "client_reference_id": client_reference_id,
                "consent": None,
                "consent_collection": None,
                "created": now,
                "currency": currency,
                "currency_conversion": None,
                "custom_fields": [],
                "custom_text": {"shipping_address": None, "submit": None},
                "customer": None,
                "customer_creation": "if_required",
                "customer_details": None,
                "customer_email": customer_email,
                "expires_at": expires_at,
                "invoice": None,
                "invoice_creation": {
                    "enabled": False,
                    "invoice_data": {
                        "account_tax_ids": None,
                        "custom_fields": None,
                        "description": None,
                        "footer": None,
                        "metadata": {},
                        "rendering_options": None,
                    },
                },
                "livemode": False,
                "locale": locale,
                "metadata": metadata,
                "mode": "payment",
                "payment_intent": None,
                "payment_link": None,
                "payment_method_collection": "if_required",
                "payment_method_options": {},
                "payment_method_types": ["card"],
                "payment_status": "unpaid",
                "phone_number_collection": {"enabled": False},
                "recovered_from": None,
                "setup_intent": None,
                "shipping_address_collection": None,
                "shipping_cost": None,
                "shipping_details": None,
                "shipping_options": [],
                "status": "open",
                "submit_type": submit_type,
                "subscription": None,
                "success_url": success_url,
                "tax_id_collection": {"enabled": False},
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
                "ui_mode": ui_mode,
                "url": f"{self._base_url()}/checkout/pay/{session_id}",
            }
            self._line_items[session_id] = items
            self._payment_intents[session_id] = {
                "metadata": pi_metadata,
                "description": pi_data.get("description"),
                "transfer_group": pi_data.get("transfer_group"),
            }
            self._store(session, ctx.account)
            return self.render(session, p.get_expand(body), ctx.account)

    def _line_item(self, raw: Any, index: int, currency: str | None, now: int) -> tuple[JSON, str]:
        label = f"line_items[{index}]"
        item = p.as_hash(raw, label)
        p.reject_unknown(item, ("price_data", "quantity"), prefix=label)
        if "price_data" not in item:
            raise invalid_request(
                "The Fairtask Stripe simulator needs price_data on every line item "
                "(stored Prices are not implemented).",
                param=f"{label}[price_data]",
                code="parameter_missing",
            )
        quantity = p.get_int(
            item, "quantity", required=True, minimum=1, maximum=999_999, param=f"{label}[quantity]"
        )
        assert quantity is not None
        price_label = f"{label}[price_data]"
        price_data = p.as_hash(item["price_data"], price_label)
        p.reject_unknown(
            price_data,
            ("currency", "unit_amount", "unit_amount_decimal", "product_data", "tax_behavior"),
            prefix=price_label,
        )
        item_currency = p.get_currency(price_data, param=f"{price_label}[currency]")
        assert item_currency is not None
        if currency is not None and item_currency != currency:
            raise invalid_request(
                "All line items in a Checkout Session must use the same currency.",
                param=f"{price_label}[currency]",
            )
        unit_amount = p.get_int(
            price_data, "unit_amount", minimum=0, param=f"{price_label}[unit_amount]"
        )
        if unit_amount is None:
            decimal = p.get_str(price_data, "unit_amount_decimal")
            if decimal is None:
                raise invalid_request(
                    "Missing required param: unit_amount or unit_amount_decimal.",
                    param=f"{price_label}[unit_amount]",
                    code="parameter_missing",
                )
            try:
                as_float = float(decimal)
            except ValueError:
                raise invalid_request(
                    f"Invalid decimal: {decimal}", param=f"{price_label}[unit_amount_decimal]"
                ) from None
            if as_float != int(as_float) or as_float < 0:
                raise invalid_request(
                    "The Fairtask Stripe simulator needs whole-unit unit_amount_decimal values.",
                    param=f"{price_label}[unit_amount_decimal]",
                )
            unit_amount = int(as_float)
        tax_behavior = p.get_str(
            price_data,
            "tax_behavior",
            choices=("exclusive", "inclusive", "unspecified"),
            default="unspecified",
            param=f"{price_label}[tax_behavior]",
        )
        product_label = f"{price_label}[product_data]"
        if "product_data" not in price_data:
            raise invalid_request(
                "The Fairtask Stripe simulator needs price_data[product_data] "
                "(stored Products are not implemented).",
                param=product_label,
                code="parameter_missing",
            )
        product = p.as_hash(price_data["product_data"], product_label)
        p.reject_unknown(
            product, ("name", "description", "metadata", "images", "tax_code"), prefix=product_label
        )
        name = p.get_str(product, "name", required=True, param=f"{product_label}[name]")
        p.get_str(product, "description", param=f"{product_label}[description]")
        p.get_metadata(product, param=f"{product_label}[metadata]")
        assert name is not None
        amount = unit_amount * quantity
        price: JSON = {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now,
            "currency": item_currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod_", 14),
            "recurring": None,
            "tax_behavior": tax_behavior,
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        line: JSON = {
            "id": new_id("li_"),
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": amount,
            "amount_tax": 0,
            "amount_total": amount,
            "currency": item_currency,
            "description": name,
            "price": price,
            "quantity": quantity,
        }
        return line, item_currency

    def _line_items_list(self, session_id: str, query: Params) -> JSON:
        items = self._line_items.get(session_id, [])
        for item in items:
            if item["id"] not in self._records:
                self._records[item["id"]] = _Record(item, None, 0)
        return self._list(
            "item",
            None,
            query,
            f"/v1/checkout/sessions/{session_id}/line_items",
            ids=[item["id"] for item in reversed(items)],
        )

    def list_line_items(self, ctx: Ctx, session_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("limit", "starting_after", "ending_before", "expand"))
        with self.lock:
            self._find("checkout.session", session_id, ctx.account, "checkout.session")
            listing = self._line_items_list(session_id, query)
            return self.render(listing, p.get_expand(query), ctx.account)

    def retrieve_checkout_session(self, ctx: Ctx, session_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            self._expire_due_sessions()
            session = self._find("checkout.session", session_id, ctx.account, "checkout.session")
            return self.render(session, p.get_expand(query), ctx.account)

    def update_checkout_session(self, ctx: Ctx, session_id: str, body: Params) -> JSON:
        p.reject_unknown(body, ("metadata", "expand"))
        with self.lock:
            session = self._find("checkout.session", session_id, ctx.account, "checkout.session")
            update = p.get_metadata(body)
            if update is not None:
                session["metadata"] = p.merge_metadata(session["metadata"], update)
            return self.render(session, p.get_expand(body), ctx.account)

    def list_checkout_sessions(self, ctx: Ctx, query: Params) -> JSON:
        p.reject_unknown(
            query,
            (
                "limit",
                "starting_after",
                "ending_before",
                "expand",
                "created",
                "payment_intent",
                "status",
                "customer_details",
            ),
        )
        payment_intent = p.get_str(query, "payment_intent")
        status = p.get_str(query, "status", choices=("open", "complete", "expired"))
        details = p.as_hash(query.get("customer_details", {}), "customer_details")
        p.reject_unknown(details, ("email",), prefix="customer_details")
        email = p.get_str(details, "email", param="customer_details[email]")

        def keep(session: JSON) -> bool:
            if payment_intent and session["payment_intent"] != payment_intent:
                return False
            if status and session["status"] != status:
                return False
            if email and (session["customer_details"] or {}).get("email") != email:
                return False
            return True

        with self.lock:
            self._expire_due_sessions()
            listing = self._list(
                "checkout.session", ctx.account, query, "/v1/checkout/sessions", keep
            )
            return self.render(listing, p.get_expand(query), ctx.account)

    def expire_checkout_session(self, ctx: Ctx, session_id: str, body: Params) -> JSON:
        p.reject_unknown(body, ("expand",))
        with self.lock:
            self._expire_due_sessions()
            session = self._find("checkout.session", session_id, ctx.account, "checkout.session")
            if session["status"] != "open":
                raise invalid_request(
                    f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                    f'Checkout Session has a status of "{session["status"]}".',
                    stored=True,
                )
            self._expire_session(session, ctx.account, ctx)
            return self.render(session, p.get_expand(body), ctx.account)

    def _expire_session(self, session: JSON, owner: str | None, ctx: Ctx) -> None:
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", session, owner, ctx)

    def checkout_page(self, session_id: str) -> tuple[JSON, list[JSON]] | None:
        """The session and its line items, for the hosted payment page."""
        with self.lock:
            self._expire_due_sessions()
            record = self._records.get(session_id)
            if record is None or record.obj["object"] != "checkout.session":
                return None
            return copy.deepcopy(record.obj), copy.deepcopy(self._line_items.get(session_id, []))

    def complete_checkout(self, session_id: str, email: str | None = None) -> JSON:
        """The customer paid on the hosted page: the session completes and money lands."""
        with self.lock:
            self._expire_due_sessions()
            record = self._records.get(session_id)
            if record is None or record.obj["object"] != "checkout.session":
                raise no_such("checkout.session", session_id)
            session, owner = record.obj, record.owner
            if session["status"] != "open":
                raise invalid_request(
                    f"This Checkout Session is {session['status']} and can no longer be paid.",
                    status=409,
                )
            amount, currency = session["amount_total"], session["currency"]
            intent_data = self._payment_intents.setdefault(session_id, {})
            now = self.now()
            intent_id, charge_id = new_id("pi_3"), new_id("ch_3")
            bt = self._charge_funds(
                owner=owner,
                amount=amount,
                currency=currency,
                source=charge_id,
                description=intent_data.get("description"),
            )
            charge: JSON = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "balance_transaction": bt["id"],
                "billing_details": {
                    "address": {
                        "city": None,
                        "country": None,
                        "line1": None,
                        "line2": None,
                        "postal_code": None,
                        "state": None,
                    },
                    "email": email or session["customer_email"],
                    "name": None,
                    "phone": None,
                },
                "captured": True,
                "created": now,
                "currency": currency,
                "description": intent_data.get("description"),
                "disputed": False,
                "livemode": False,
                "metadata": dict(intent_data.get("metadata") or {}),
                "paid": True,
                "payment_intent": intent_id,
                "refunded": False,
                "status": "succeeded",
                "transfer_group": intent_data.get("transfer_group"),
            }
            intent: JSON = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": amount,
                "capture_method": "automatic",
                "confirmation_method": "automatic",
                "created": now,
                "currency": currency,
                "description": intent_data.get("description"),
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": dict(intent_data.get("metadata") or {}),
                "payment_method_types": ["card"],
                "status": "succeeded",
                "transfer_group": intent_data.get("transfer_group"),
            }
            self._store(charge, owner)
            self._store(intent, owner)
            intent_data.update({"id": intent_id, "latest_charge": charge_id})
            session.update(
                {
                    "status": "complete",
                    "payment_status": "paid",
                    "payment_intent": intent_id,
                    "url": None,
                    "customer_details": {
                        "address": None,
                        "email": email or session["customer_email"] or "customer@example.com",
                        "name": None,
                        "phone": None,
                        "tax_exempt": "none",
                        "tax_ids": [],
                    },
                }
            )
            self._emit("checkout.session.completed", session, owner, Ctx(owner))
            return copy.deepcopy(session)

    # ---------------------------------------------------------------- accounts
    def require_account_header(self, account: str) -> None:
        """A ``Stripe-Account`` must name a connected account of this platform."""
        with self.lock:
            record = self._records.get(account)
            if record is None or record.obj["object"] != "account":
                raise StripeError(
                    403,
                    "invalid_request_error",
                    f"The provided key does not have access to account '{account}' (or that "
                    "account does not exist). Application access may have been revoked.",
                    code="account_invalid",
                )

    def create_account(self, ctx: Ctx, body: Params) -> JSON:
        _platform_only(ctx, "create connected accounts")
        p.reject_unknown(
            body,
            (
                "type",
                "country",
                "email",
                "capabilities",
                "metadata",
                "business_type",
                "business_profile",
                "default_currency",
                "expand",
            ),
        )
        type_ = p.get_str(body, "type", required=True, choices=("custom", "express", "standard"))
        country = (p.get_str(body, "country", max_length=2) or "US").upper()
        email = p.get_str(body, "email")
        business_type = p.get_str(
            body,
            "business_type",
            choices=("company", "government_entity", "individual", "non_profit"),
        )
        default_currency = p.get_currency(body, "default_currency", required=False) or "usd"
        capabilities = p.as_hash(body.get("capabilities", {}), "capabilities")
        requested: list[str] = []
        for name, spec in capabilities.items():
            label = f"capabilities[{name}]"
            if name not in _CAPABILITIES:
                raise invalid_request(
                    f"Received unknown parameter: {label}", param=label, code="parameter_unknown"
                )
            spec_hash = p.as_hash(spec, label)
            p.reject_unknown(spec_hash, ("requested",), prefix=label)
            if p.get_bool(spec_hash, "requested", param=f"{label}[requested]"):
                requested.append(name)
        if type_ in ("express", "custom") and not requested:
            raise invalid_request(
                "You must request the `transfers` capability (or `card_payments`) for "
                f"{type_} accounts, e.g. capabilities[transfers][requested]=true.",
                param="capabilities",
                code="parameter_missing",
            )
        profile = p.as_hash(body.get("business_profile", {}), "business_profile")
        p.reject_unknown(profile, _BUSINESS_PROFILE, prefix="business_profile")
        now = self.now()
        with self.lock:
            account_id = new_id("acct_1", 15)
            due = list(_ONBOARDING_REQUIREMENTS)
            account: JSON = {
                "id": account_id,
                "object": "account",
                "business_profile": {key: profile.get(key) or None for key in _BUSINESS_PROFILE}
                | {"support_address": None},
                "business_type": business_type,
                "capabilities": dict.fromkeys(sorted(requested), "inactive"),
                "charges_enabled": False,
                "controller": {"is_controller": True, "type": "application"},
                "country": country,
                "created": now,
                "default_currency": default_currency,
                "details_submitted": False,
                "email": email,
                "external_accounts": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": f"/v1/accounts/{account_id}/external_accounts",
                },
                "future_requirements": _requirements([], None),
                "metadata": p.new_metadata(body),
                "payouts_enabled": False,
                "requirements": _requirements(due, "requirements.past_due"),
                "settings": _account_settings(),
                "tos_acceptance": {
                    "date": None,
                    "ip": None,
                    "user_agent": None,
                    "service_agreement": "full",
                },
                "type": type_,
            }
            self._store(account, None)
            return self.render(account, p.get_expand(body), None)

    def retrieve_account(self, ctx: Ctx, account_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            if ctx.account not in (None, account_id):
                raise no_such("account", account_id)
            account = self._find("account", account_id, None, "account")
            return self.render(account, p.get_expand(query), None)

    def update_account(self, ctx: Ctx, account_id: str, body: Params) -> JSON:
        p.reject_unknown(body, ("email", "metadata", "business_profile", "expand"))
        with self.lock:
            if ctx.account not in (None, account_id):
                raise no_such("account", account_id)
            account = self._find("account", account_id, None, "account")
            previous: JSON = {}
            email = p.get_str(body, "email")
            if email is not None and email != account["email"]:
                previous["email"] = account["email"]
                account["email"] = email
            update = p.get_metadata(body)
            if update is not None:
                merged = p.merge_metadata(account["metadata"], update)
                if merged != account["metadata"]:
                    previous["metadata"] = account["metadata"]
                    account["metadata"] = merged
            profile = p.as_hash(body.get("business_profile", {}), "business_profile")
            p.reject_unknown(profile, _BUSINESS_PROFILE, prefix="business_profile")
            if profile:
                previous["business_profile"] = copy.deepcopy(account["business_profile"])
                for key, value in profile.items():
                    account["business_profile"][key] = value or None
            if previous:
                self._emit("account.updated", account, account_id, ctx, previous)
            return self.render(account, p.get_expand(body), None)

    def list_accounts(self, ctx: Ctx, query: Params) -> JSON:
        _platform_only(ctx, "list connected accounts")
        p.reject_unknown(query, ("limit", "starting_after", "ending_before", "expand", "created"))
        listing = self._list("account", None, query, "/v1/accounts")
        return self.render(listing, p.get_expand(query), None)

    def create_account_link(self, ctx: Ctx, body: Params) -> JSON:
        _platform_only(ctx, "create account links")
        p.reject_unknown(
            body, ("account", "type", "refresh_url", "return_url", "collect", "expand")
        )
        account_id = p.get_str(body, "account", required=True)
        type_ = p.get_str(
            body, "type", required=True, choices=("account_onboarding", "account_update")
        )
        refresh_url = p.get_str(body, "refresh_url", required=True)
        return_url = p.get_str(body, "return_url", required=True)
        p.get_str(body, "collect", choices=("currently_due", "eventually_due"))
        for name, url in (("refresh_url", refresh_url), ("return_url", return_url)):
            assert url is not None
            if not url.startswith(("http://", "https://")):
                raise invalid_request("Not a valid URL", param=name, code="url_invalid")
        assert account_id is not None and type_ is not None
        with self.lock:
            account = self._find("account", account_id, None, "account")
            if account["type"] == "standard" and type_ == "account_update":
                raise invalid_request(
                    "You cannot create `account_update` type Account Links for Standard accounts.",
                    param="type",
                )
            now = self.now()
            token = secrets.token_urlsafe(18)
            link = _Link(
                account_id, type_, refresh_url, return_url, now + self.options.account_link_ttl
            )
            self._links[token] = link
            return {
                "object": "account_link",
                "created": now,
                "expires_at": link.expires_at,
                "url": f"{self._base_url()}/connect/onboard/{account_id}?link={token}",
            }

    def onboarding_link(self, account_id: str, token: str | None) -> tuple[JSON, _Link | None, str]:
        """(account, link, state) for the hosted page; state: ok|expired|used|none."""
        with self.lock:
            account = self._find("account", account_id, None, "account")
            link = self._links.get(token) if token else None
            if token and (link is None or link.account != account_id):
                link, state = None, "expired"
            elif link is None:
                state = "none"
            elif link.used:
                state = "used"
            elif link.expires_at <= self.now():
                state = "expired"
            else:
                state = "ok"
            return copy.deepcopy(account), copy.copy(link), state

    def use_link(self, token: str | None) -> None:
        with self.lock:
            link = self._links.get(token) if token else None
            if link is not None:
                link.used = True

    def complete_onboarding(self, account_id: str) -> JSON:
        """The account holder finished onboarding: the account can receive and pay out."""
        with self.lock:
            account = self._find("account", account_id, None, "account")
            if account["details_submitted"] and account["payouts_enabled"]:
                return copy.deepcopy(account)
            previous = {
                key: copy.deepcopy(account[key])
                for key in (
                    "business_type",
                    "capabilities",
                    "charges_enabled",
                    "details_submitted",
                    "external_accounts",
                    "payouts_enabled",
                    "requirements",
                    "tos_acceptance",
                )
            }
            now = self.now()
            bank: JSON = {
                "id": new_id("ba_1"),
                "object": "bank_account",
                "account": account_id,
                "account_holder_name": None,
                "account_holder_type": None,
                "account_type": None,
                "available_payout_methods": ["standard"],
                "bank_name": "STRIPE TEST BANK",
                "country": account["country"],
                "currency": account["default_currency"],
                "default_for_currency": True,
                "fingerprint": new_id("", 16),
                "future_requirements": _external_requirements(),
                "last4": "6789",
                "metadata": {},
                "requirements": _external_requirements(),
                "routing_number": "110000000",
                "status": "new",
            }
            self._store(bank, account_id)
            account.update(
                {
                    "business_type": account["business_type"] or "individual",
                    "capabilities": dict.fromkeys(account["capabilities"], "active"),
                    "charges_enabled": True,
                    "details_submitted": True,
                    "payouts_enabled": True,
                    "requirements": _requirements([], None),
                    "tos_acceptance": {
                        "date": now,
                        "ip": "127.0.0.1",
                        "user_agent": "Fairtask Stripe simulator",
                        "service_agreement": "full",
                    },
                }
            )
            account["external_accounts"].update({"data": [bank], "total_count": 1})
            self._emit("account.updated", account, account_id, Ctx(account_id), previous)
            return copy.deepcopy(account)

    def _account_default_bank(self, owner: str | None) -> str:
        if owner is None:
            return self._platform_bank
        account = self._records[owner].obj
        data = account["external_accounts"]["data"]
        if not data:
            raise invalid_request(
                "This connected account has no external account to pay out to; finish onboarding "
                "first.",
                code="no_external_account",
                stored=True,
            )
        return str(data[0]["id"])

    # --------------------------------------------------------------- transfers
    def create_transfer(self, ctx: Ctx, body: Params) -> JSON:
        _platform_only(ctx, "create transfers")
        p.reject_unknown(
            body,
            (
                "amount",
                "currency",
                "destination",
                "transfer_group",
                "metadata",
                "description",
                "source_type",
                "expand",
            ),
        )
        amount = p.get_int(body, "amount", required=True, minimum=1)
        currency = p.get_currency(body)
        destination = p.get_str(body, "destination", required=True)
        transfer_group = p.get_str(body, "transfer_group")
        description = p.get_str(body, "description")
        p.get_str(body, "source_type", choices=("card",))
        metadata = p.new_metadata(body)
        assert amount is not None and currency is not None and destination is not None
        with self.lock:
            record = self._records.get(destination)
            if record is None or record.obj["object"] != "account":
                raise invalid_request(
                    f"No such destination: '{destination}'",
                    param="destination",
                    code="resource_missing",
                )
            account = record.obj
            if account["capabilities"].get("transfers") != "active":
                raise invalid_request(
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    param="destination",
                    code="insufficient_capabilities_for_transfer",
                    stored=True,
                )
            bucket = self._bucket(None, currency)
            if bucket["available"] < amount:
                raise invalid_request(
                    "You have insufficient available funds in your Stripe account. Try adding "
                    "funds directly to your available balance by creating Charges using the "
                    "4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
                    code="balance_insufficient",
                    stored=True,
                )
            bucket["available"] -= amount
            self._bucket(destination, currency)["available"] += amount
            transfer_id = new_id("tr_1")
            transfer: JSON = {
                "id": transfer_id,
                "object": "transfer",
                "amount": amount,
                "amount_reversed": 0,
                "balance_transaction": new_id("txn_1"),
                "created": self.now(),
                "currency": currency,
                "description": description,
                "destination": destination,
                "destination_payment": new_id("py_1"),
                "livemode": False,
                "metadata": metadata,
                "reversals": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": f"/v1/transfers/{transfer_id}/reversals",
                },
                "reversed": False,
                "source_transaction": None,
                "source_type": "card",
                "transfer_group": transfer_group,
            }
            self._store(transfer, None)
            self._emit("transfer.created", transfer, None, ctx)
            return self.render(transfer, p.get_expand(body), None)

    def retrieve_transfer(self, ctx: Ctx, transfer_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            transfer = self._find("transfer", transfer_id, ctx.account, "transfer")
            return self.render(transfer, p.get_expand(query), ctx.account)

    def update_transfer(self, ctx: Ctx, transfer_id: str, body: Params) -> JSON:
        p.reject_unknown(body, ("description", "metadata", "expand"))
        with self.lock:
            transfer = self._find("transfer", transfer_id, ctx.account, "transfer")
            previous: JSON = {}
            description = p.get_str(body, "description")
            if "description" in body and description != transfer["description"]:
                previous["description"] = transfer["description"]
                transfer["description"] = description
            update = p.get_metadata(body)
            if update is not None:
                merged = p.merge_metadata(transfer["metadata"], update)
                if merged != transfer["metadata"]:
                    previous["metadata"] = transfer["metadata"]
                    transfer["metadata"] = merged
            if previous:
                self._emit("transfer.updated", transfer, None, ctx, previous)
            return self.render(transfer, p.get_expand(body), ctx.account)

    def list_transfers(self, ctx: Ctx, query: Params) -> JSON:
        p.reject_unknown(
            query,
            (
                "limit",
                "starting_after",
                "ending_before",
                "expand",
                "created",
                "destination",
                "transfer_group",
            ),
        )
        destination = p.get_str(query, "destination")
        group = p.get_str(query, "transfer_group")

        def keep(transfer: JSON) -> bool:
            return (not destination or transfer["destination"] == destination) and (
                not group or transfer["transfer_group"] == group
            )

        listing = self._list("transfer", ctx.account, query, "/v1/transfers", keep)
        return self.render(listing, p.get_expand(query), ctx.account)

    def create_reversal(self, ctx: Ctx, transfer_id: str, body: Params) -> JSON:
        p.reject_unknown(
            body, ("amount", "description", "metadata", "refund_application_fee", "expand")
        )
        amount = p.get_int(body, "amount", minimum=1)
        metadata = p.new_metadata(body)
        p.get_str(body, "description")
        p.get_bool(body, "refund_application_fee")
        with self.lock:
            transfer = self._find("transfer", transfer_id, ctx.account, "transfer")
            remaining = transfer["amount"] - transfer["amount_reversed"]
            if remaining <= 0:
                raise invalid_request(
                    f"Transfer {transfer_id} has already been fully reversed.", stored=True
                )
            if amount is None:
                amount = remaining
            if amount > remaining:
                raise invalid_request(
                    f"Amount ({amount}) is greater than the unreversed amount of the transfer "
                    f"({remaining}).",
                    param="amount",
                    stored=True,
                )
            previous = {
                "amount_reversed": transfer["amount_reversed"],
                "reversed": transfer["reversed"],
                "reversals": copy.deepcopy(transfer["reversals"]),
            }
            currency = transfer["currency"]
            # Stripe lets a reversal take the connected balance negative.
            self._bucket(transfer["destination"], currency)["available"] -= amount
            self._bucket(None, currency)["available"] += amount
            reversal: JSON = {
                "id": new_id("trr_1"),
                "object": "transfer_reversal",
                "amount": amount,
                "balance_transaction": new_id("txn_1"),
                "created": self.now(),
                "currency": currency,
                "destination_payment_refund": new_id("pyr_1"),
                "metadata": metadata,
                "source_refund": None,
                "transfer": transfer_id,
            }
            self._store(reversal, ctx.account)
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
            reversals = transfer["reversals"]
            reversals["data"] = ([reversal] + reversals["data"])[:10]
            reversals["total_count"] = reversals.get("total_count", 0) + 1
            reversals["has_more"] = reversals["total_count"] > len(reversals["data"])
            self._emit("transfer.reversed", transfer, None, ctx, previous)
            return self.render(reversal, p.get_expand(body), ctx.account)

    def list_reversals(self, ctx: Ctx, transfer_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("limit", "starting_after", "ending_before", "expand"))
        with self.lock:
            self._find("transfer", transfer_id, ctx.account, "transfer")
            listing = self._list(
                "transfer_reversal",
                ctx.account,
                query,
                f"/v1/transfers/{transfer_id}/reversals",
                lambda r: r["transfer"] == transfer_id,
            )
            return self.render(listing, p.get_expand(query), ctx.account)

    def retrieve_reversal(
        self, ctx: Ctx, transfer_id: str, reversal_id: str, query: Params
    ) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            reversal = self._find(
                "transfer_reversal", reversal_id, ctx.account, "transfer reversal"
            )
            if reversal["transfer"] != transfer_id:
                raise no_such("transfer reversal", reversal_id)
            return self.render(reversal, p.get_expand(query), ctx.account)

    # ----------------------------------------------------------------- payouts
    def create_payout(self, ctx: Ctx, body: Params, *, fail: tuple[str, str] | None = None) -> JSON:
        p.reject_unknown(
            body,
            (
                "amount",
                "currency",
                "description",
                "metadata",
                "method",
                "statement_descriptor",
                "destination",
                "source_type",
                "expand",
            ),
        )
        amount = p.get_int(body, "amount", required=True, minimum=1)
        currency = p.get_currency(body)
        description = p.get_str(body, "description")
        method = p.get_str(body, "method", choices=("standard", "instant"), default="standard")
        descriptor = p.get_str(body, "statement_descriptor", max_length=22)
        p.get_str(body, "source_type", choices=("card",))
        destination = p.get_str(body, "destination")
        metadata = p.new_metadata(body)
        assert amount is not None and currency is not None
        owner = ctx.account
        with self.lock:
            if owner is not None and not self._records[owner].obj["payouts_enabled"]:
                raise invalid_request(
                    "Payouts are not enabled on this account: it has not finished onboarding.",
                    code="payouts_not_allowed",
                    stored=True,
                )
            bank = self._account_default_bank(owner)
            if destination is not None and destination != bank:
                raise invalid_request(
                    f"No such external account: '{destination}'",
                    param="destination",
                    code="resource_missing",
                )
            bucket = self._bucket(owner, currency)
            if bucket["available"] < amount:
                raise invalid_request(
                    "You have insufficient funds in your Stripe account for this transfer. Your "
                    "card balance is too low. You can use the /v1/balance endpoint to view your "
                    "Stripe balance (for more details, see stripe.com/docs/api#balance).",
                    code="balance_insufficient",
                    stored=True,
                )
            bucket["available"] -= amount
            now = self.now()
            payout: JSON = {
                "id": new_id("po_1"),
                "object": "payout",
                "amount": amount,
                "arrival_date": now + (1800 if method == "instant" else 2 * 86400),
                "automatic": False,
                "balance_transaction": new_id("txn_1"),
                "created": now,
                "currency": currency,
                "description": description,
                "destination": bank,
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": metadata,
                "method": method,
                "original_payout": None,
                "reconciliation_status": "not_applicable",
                "reversed_by": None,
                "source_type": "card",
                "statement_descriptor": descriptor,
                "status": "pending",
                "type": "bank_account",
            }
            self._store(payout, owner)
            if fail is not None:
                self._payout_failures[payout["id"]] = fail
            self._emit("payout.created", payout, owner, ctx)
            response = self.render(payout, p.get_expand(body), owner)
            if self.options.payout_settlement == "immediate":
                self._settle_payout(payout, owner)
            return response

    def settle_payout(
        self, payout_id: str, *, fail: bool = False, failure_code: str | None = None
    ) -> JSON:
        """Finish a pending payout: ``paid``, or ``failed`` with the money returned."""
        with self.lock:
            record = self._records.get(payout_id)
            if record is None or record.obj["object"] != "payout":
                raise no_such("payout", payout_id)
            if record.obj["status"] != "pending":
                raise invalid_request(f"Payout {payout_id} is {record.obj['status']}, not pending.")
            if fail:
                self._payout_failures[payout_id] = (
                    failure_code or "account_closed",
                    _FAILURE_MESSAGES.get(failure_code or "account_closed", "The payout failed."),
                )
            self._settle_payout(record.obj, record.owner)
            return copy.deepcopy(record.obj)

    def pending_payouts(self) -> list[str]:
        with self.lock:
            return [
                pid
                for pid in self._by_kind.get("payout", [])
                if self._records[pid].obj["status"] == "pending"
            ]

    def _settle_payout(self, payout: JSON, owner: str | None) -> None:
        failure = self._payout_failures.pop(payout["id"], None)
        ctx = Ctx(owner)
        if failure is None:
            previous = {
                "status": payout["status"],
                "reconciliation_status": payout["reconciliation_status"],
            }
            payout["status"] = "paid"
            payout["reconciliation_status"] = "completed"
            self._emit("payout.paid", payout, owner, ctx, previous)
            return
        code, message = failure
        previous = {
            "status": payout["status"],
            "failure_code": None,
            "failure_message": None,
            "failure_balance_transaction": None,
        }
        self._bucket(owner, payout["currency"])["available"] += payout["amount"]
        payout.update(
            {
                "status": "failed",
                "failure_code": code,
                "failure_message": message,
                "failure_balance_transaction": new_id("txn_1"),
            }
        )
        self._emit("payout.failed", payout, owner, ctx, previous)

    def retrieve_payout(self, ctx: Ctx, payout_id: str, query: Params) -> JSON:
        p.reject_unknown(query, ("expand",))
        with self.lock:
            payout = self._find("payout", payout_id, ctx.account, "payout")
            return self.render(payout, p.get_expand(query), ctx.account)

    def update_payout(self, ctx: Ctx, payout_id: str, body: Params) -> JSON:
        p.reject_unknown(body, ("metadata", "expand"))
        with self.lock:
            payout = self._find("payout", payout_id, ctx.account, "payout")
            update = p.get_metadata(body)
            if update is not None:
                merged = p.merge_metadata(payout["metadata"] or {}, update)
                if merged != payout["metadata"]:
                    previous = {"metadata": payout["metadata"]}
                    payout["metadata"] = merged
                    self._emit("payout.updated", payout, ctx.account, ctx, previous)
            return self.render(payout, p.get_expand(body), ctx.account)

    def list_payouts(self, ctx: Ctx, query: Params) -> JSON:
        p.reject_unknown(
            query,
            (
                "limit",
                "starting_after",
                "ending_before",
                "expand",
                "created",
                "status",
                "destination",
                "arrival_date",
            ),
        )
        status = p.get_str(query, "status", choices=("pending", "paid", "failed", "canceled"))
        destination = p.get_str(query, "destination")
        arrival = p.created_filter(query, "arrival_date")

        def keep(payout: JSON) -> bool:
            return (
                (not status or payout["status"] == status)
                and (not destination or payout["destination"] == destination)
                and p.matches_range(payout["arrival_date"], arrival)
            )

        listing = self._list("payout", ctx.account, query, "/v1/payouts", keep)
        return self.render(listing, p.get_expand(query), ctx.account)

    # ------------------------------------------------------------------ tools
    def snapshot(self) -> JSON:
        """Counts, balances and ids, for ``GET /_sim/state`` and debugging."""
        with self.lock:
            return {
                "clock_offset": self._clock_offset,
                "balances": {
                    (owner or "platform"): copy.deepcopy(currencies)
                    for owner, currencies in self._balances.items()
                },
                "objects": {kind: list(ids) for kind, ids in self._by_kind.items()},
            }


def _type_matches(pattern: str, name: str) -> bool:
    """Stripe's event type filter: exact, or a ``*`` wildcard such as ``payout.*``."""
    if "*" not in pattern:
        return pattern == name
    prefix, _, suffix = pattern.partition("*")
    return name.startswith(prefix) and name.endswith(suffix)


def _platform_only(ctx: Ctx, what: str) -> None:
    if ctx.account is not None:
        raise invalid_request(
            f"Only the platform can {what}; do not send a Stripe-Account header for this request."
        )


def _requirements(due: list[str], disabled_reason: str | None) -> JSON:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _external_requirements() -> JSON:
    return {"currently_due": [], "errors": [], "past_due": [], "pending_verification": []}


def _account_settings() -> JSON:
    return {
        "bacs_debit_payments": {},
        "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
        "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
        "card_payments": {
            "decline_on": {"avs_failure": False, "cvc_failure": False},
            "statement_descriptor_prefix": None,
            "statement_descriptor_prefix_kana": None,
            "statement_descriptor_prefix_kanji": None,
        },
        "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
        "payments": {
            "statement_descriptor": None,
            "statement_descriptor_kana": None,
            "statement_descriptor_kanji": None,
            "statement_descriptor_prefix_kana": None,
            "statement_descriptor_prefix_kanji": None,
        },
        "payouts": {
            "debit_negative_balances": True,
            "schedule": {"delay_days": 2, "interval": "daily"},
            "statement_descriptor": None,
        },
        "sepa_debit_payments": {},
    }


_CHECKOUT_CREATE = (
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata",
    "customer_email",
    "payment_intent_data",
    "expires_at",
    "currency",
    "locale",
    "submit_type",
    "payment_method_types",
    "ui_mode",
    "expand",
)
_PI_DATA = (
    "metadata",
    "description",
    "transfer_group",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "receipt_email",
    "capture_method",
)
_BUSINESS_PROFILE = (
    "mcc",
    "name",
    "product_description",
    "support_email",
    "support_phone",
    "support_url",
    "url",
)
_CAPABILITIES = frozenset(
    {"transfers", "card_payments", "tax_reporting_us_1099_k", "tax_reporting_us_1099_misc"}
)
_ONBOARDING_REQUIREMENTS = (
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
)
_FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "no_account": "The bank account details on file are probably incorrect.",
    "could_not_process": "The bank could not process this payout.",
}
#: Expandable fields per object type: the object kind they expand to, or ``None``
#: for a field Stripe can expand but the simulator does not model.
_EXPANDABLE: dict[str, dict[str, str | None]] = {
    "checkout.session": {
        "line_items": "list",
        "payment_intent": "payment_intent",
        "customer": None,
        "invoice": None,
        "payment_link": None,
        "setup_intent": None,
        "subscription": None,
    },
    "transfer": {
        "destination": "account",
        "balance_transaction": None,
        "destination_payment": None,
        "source_transaction": None,
    },
    "transfer_reversal": {
        "transfer": "transfer",
        "balance_transaction": None,
        "destination_payment_refund": None,
        "source_refund": None,
    },
    "payout": {
        "destination": "bank_account",
        "balance_transaction": None,
        "failure_balance_transaction": None,
        "original_payout": "payout",
        "reversed_by": "payout",
    },
    "bank_account": {"account": "account"},
    "payment_intent": {
        "latest_charge": "charge",
        "customer": None,
        "payment_method": None,
        "invoice": None,
        "on_behalf_of": None,
        "review": None,
        "application": None,
    },
    "charge": {
        "balance_transaction": "balance_transaction",
        "payment_intent": "payment_intent",
        "customer": None,
        "invoice": None,
        "transfer": None,
    },
    "balance_transaction": {"source": "charge"},
    "webhook_endpoint": {},
    "item": {},
}
