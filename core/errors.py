"""The one error type for expected failures. Views turn it into a form error (on
``field`` when it names one) or a 4xx in the API's error shape with its message; it
never becomes a 500."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping


class ApplicationError(Exception):
    """An expected failure with a message for a person.

    ``code`` is a specific machine-readable reason (``insufficient_funds``,
    ``invalid_amount``…), ``field`` the input it is about when there is one (a form
    field name, also used as the API's error key), ``status`` the HTTP status an API
    answers with, ``extra`` further machine-readable detail.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        field: str | None = None,
        status: int = 400,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.status = status
        self.extra = extra or {}


def require_transition(
    transitions: Mapping[str, Collection[str]],
    old: str,
    to: str,
    message: Callable[[], str],
) -> None:
    """The check every state machine (project, batch, assignment, deposit, withdrawal)
    makes before a move: ``to`` must be listed for ``old`` in ``transitions``, else an
    ``illegal_transition`` (409) with ``message()`` and ``{"status", "requested"}``."""
    if to not in transitions.get(old, ()):
        raise ApplicationError(
            message(),
            code="illegal_transition",
            status=409,
            extra={"status": old, "requested": to},
        )
