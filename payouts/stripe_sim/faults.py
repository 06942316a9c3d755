"""Injected faults: the failures tests need and real Stripe only shows by chance.

A fault matches a method and a path (exact, or a glob such as ``/v1/transfers/*``)
and fires ``count`` times (``None``: until cleared). The modes and where each
acts, in the order a request meets them:

``server_error``
    500 ``api_error`` before anything runs: no effect, nothing kept under the
    idempotency key, so a retry with the same key runs afresh.
``delay``
    sleeps ``delay`` seconds after the idempotency key is reserved and before the
    endpoint runs; a second request with the same key meanwhile gets a 409.
``decline``
    the endpoint runs and refuses: 402 ``card_error`` (``card_declined``) in
    general, 400 ``invalid_request_error`` with a code for transfers
    (``transfers_not_allowed``) and payouts (``payouts_not_allowed``), and a
    "declined" message on the hosted checkout page. Kept under the key, as Stripe
    keeps a decline.
``fail``
    payouts only: created, then ``failed`` instead of ``paid`` (``payout.failed``,
    money back in the balance, ``failure_code`` = ``code`` or ``account_closed``).
``lost_response``
    the endpoint runs and its result is kept under the key, then the response is
    lost: the connection is closed without a reply, or, with ``status`` set, that
    status (e.g. 500) is sent with an ``api_error`` body. A retry with the same key
    replays the stored result, so the effect happens exactly once.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultMode = Literal["decline", "server_error", "lost_response", "fail", "delay"]
MODES: tuple[str, ...] = ("decline", "server_error", "lost_response", "fail", "delay")

_ids = itertools.count(1)


@dataclass
class Fault:
    method: str
    path: str
    mode: FaultMode
    count: int | None = 1
    code: str | None = None
    message: str | None = None
    delay: float = 0.0
    status: int | None = None
    id: int = field(default_factory=lambda: next(_ids))
    fired: int = 0

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; expected one of {MODES}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1, or None for a fault that never runs out")
        if self.mode == "fail" and not fnmatch.fnmatchcase("/v1/payouts", self.path):
            raise ValueError("mode 'fail' applies to POST /v1/payouts only")
        if self.mode == "delay" and self.delay <= 0:
            raise ValueError("mode 'delay' needs delay > 0 (seconds)")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (4xx/5xx)")

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and (
            self.path == path or fnmatch.fnmatchcase(path, self.path)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {"method", "path", "mode", "count", "code", "message", "delay", "status"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        for name in ("method", "path", "mode"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"fault needs a string {name!r}")
        return cls(
            method=data["method"],
            path=data["path"],
            mode=data["mode"],
            count=data.get("count", 1),
            code=data.get("code"),
            message=data.get("message"),
            delay=float(data.get("delay", 0.0)),
            status=data.get("status"),
        )


class FaultRegistry:
    """Thread-safe list of armed faults; :meth:`take` consumes one firing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, path: str, modes: tuple[str, ...]) -> Fault | None:
        """The first armed fault for this request among ``modes``, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.mode in modes and fault.matches(method, path):
                    fault.fired += 1
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
