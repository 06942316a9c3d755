"""The one error type for expected failures. Views turn it into a form error or a 4xx
with its message; it never becomes a 500."""

from __future__ import annotations


class ApplicationError(Exception):
    def __init__(
        self, message: str, *, code: str = "invalid", status: int = 400, extra: dict | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.extra = extra or {}
