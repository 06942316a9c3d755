"""Stripe's idempotent requests.

A POST carrying ``Idempotency-Key`` runs at most once per key and scope (API key
plus ``Stripe-Account``): a retry with the same method, path and parameters
gets the first response byte for byte (with ``Idempotent-Replayed: true``);
different parameters or another endpoint get a 400 ``idempotency_error``; a
retry while the first is still running gets a 409. Requests rejected before the
endpoint ran (validation, injected ``server_error``) keep nothing, so they can
be retried with the same key. Keys are forgotten after 24 hours.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import StripeError, idempotency_error

Scope = tuple[str, str | None, str]

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass
class Stored:
    method: str
    path: str
    fingerprint: str
    created: float
    done: bool = False
    status: int = 0
    body: bytes = b""
    request_id: str = ""


def fingerprint(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class IdempotencyStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Scope, Stored] = {}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def to_state(self) -> list[Any]:
        """Finished keys, JSON-able (a request still running is not kept)."""
        with self._lock:
            return [
                [list(scope), {**vars(e), "body": base64.b64encode(e.body).decode()}]
                for scope, e in self._entries.items()
                if e.done
            ]

    def load_state(self, state: list[Any]) -> None:
        with self._lock:
            self._entries = {
                (scope[0], scope[1], scope[2]): Stored(
                    **{**entry, "body": base64.b64decode(entry["body"])}
                )
                for scope, entry in state
            }

    def begin(self, scope: Scope, method: str, path: str, params: dict[str, Any]) -> Stored | None:
        """Reserve ``scope`` for this request, or return the response to replay.

        Raises the ``idempotency_error`` Stripe would send for a reused key.
        """
        key = scope[2]
        if len(key) > MAX_KEY_LENGTH:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long.",
            )
        prints = fingerprint(params)
        now = time.time()
        with self._lock:
            entry = self._entries.get(scope)
            if entry is not None and now - entry.created > TTL_SECONDS:
                del self._entries[scope]
                entry = None
            if entry is None:
                self._entries[scope] = Stored(method, path, prints, now)
                return None
            if (entry.method, entry.path) != (method, path):
                raise idempotency_error(
                    "Keys for idempotent requests can only be used for the same endpoint they were "
                    f"first used for ('{entry.method} {entry.path}' vs '{method} {path}'). Try "
                    f"using a key other than '{key}' if you meant to execute a different request."
                )
            if entry.fingerprint != prints:
                raise idempotency_error(
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request."
                )
            if not entry.done:
                raise idempotency_error(
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    status=409,
                )
            return entry

    def finish(
        self, scope: Scope, *, status: int, body: bytes, request_id: str, keep: bool
    ) -> None:
        with self._lock:
            entry = self._entries.get(scope)
            if entry is None or entry.done:
                return
            if not keep:
                del self._entries[scope]
                return
            entry.done, entry.status, entry.body, entry.request_id = True, status, body, request_id

    def abandon(self, scope: Scope) -> None:
        """Drop a reservation whose request died without a result."""
        with self._lock:
            entry = self._entries.get(scope)
            if entry is not None and not entry.done:
                del self._entries[scope]
