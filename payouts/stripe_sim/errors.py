"""Errors in Stripe's shape: ``{"error": {"type", "message", "code", "param", ...}}``.

The official library picks its exception class from the HTTP status and
``error.type`` (400/404 -> InvalidRequestError or IdempotencyError, 401 ->
AuthenticationError, 402 -> CardError, 409/500 -> APIError), so both must match
what Stripe sends. ``code`` and ``param`` are left out when empty, as Stripe does:
the published schema types them as non-nullable strings.
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An API error the simulator answers with.

    ``stored`` says whether an idempotent request that failed this way keeps its
    result: Stripe saves the outcome of any request whose endpoint started to run
    (a declined card, insufficient funds), but not of requests rejected before that
    (bad parameters, authentication, an outage), which can be retried with the
    same key.
    """

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        stored: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.stored = stored
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if request_id:
            error["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}?t=simulated"
            )
        return {"error": error}


def invalid_request(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    stored: bool = False,
) -> StripeError:
    return StripeError(
        status, "invalid_request_error", message, code=code, param=param, stored=stored
    )


def missing_param(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def no_such(kind: str, object_id: str, *, param: str = "id") -> StripeError:
    return invalid_request(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404
    )


def authentication(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message)


def card_declined(message: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(
        402,
        "card_error",
        message or "Your card was declined.",
        code=code or "card_declined",
        decline_code="generic_decline",
        stored=True,
    )


def api_error(
    message: str = "An unknown error occurred (simulated by the Fairtask Stripe simulator).",
) -> StripeError:
    return StripeError(500, "api_error", message)


def idempotency_error(message: str, status: int = 400) -> StripeError:
    return StripeError(status, "idempotency_error", message)
