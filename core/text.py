"""Text as people and programs send it: the one check every text field goes through
(forms and API alike, called by the services), and the one check for JSON values.

PostgreSQL ``text`` and ``jsonb`` cannot hold U+0000, and a lone surrogate (which a JSON
``\\ud800`` escape can produce) cannot be encoded as UTF-8; both would be a database
error (a 500) if they got that far. They are refused here with a message instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core import limits
from core.errors import ApplicationError


def bad_character(value: str) -> str | None:
    """Why ``value`` cannot be stored (None if it can)."""
    if "\x00" in value:
        return "contains a NUL character (\\0)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an invalid character (a lone surrogate)"
    return None


def clean_text(
    value: object,
    *,
    label: str,
    maximum: int,
    field: str | None = None,
    required: bool = False,
    code: str | None = None,
    strip: bool = True,
) -> str:
    """``value`` as storable text: a ``str``, without NUL or lone surrogates, stripped
    (unless ``strip=False``), at most ``maximum`` characters, non-empty if ``required``.

    Raises ``ApplicationError`` with ``field`` and a specific code (``not_text``,
    ``invalid_character``, ``required``, ``too_long``), or ``code`` for all of them.
    """
    if not isinstance(value, str):
        raise ApplicationError(f"{label} must be text.", code=code or "not_text", field=field)
    problem = bad_character(value)
    if problem:
        raise ApplicationError(f"{label} {problem}.", code=code or "invalid_character", field=field)
    if strip:
        value = value.strip()
    if required and not value:
        raise ApplicationError(f"{label} is required.", code=code or "required", field=field)
    if len(value) > maximum:
        raise ApplicationError(
            f"{label} can be at most {maximum:,} characters.", code=code or "too_long", field=field
        )
    return value


def check_json_value(
    value: Any,
    *,
    label: str,
    field: str | None = None,
    code: str = "invalid",
    max_depth: int = limits.MAX_JSON_DEPTH,
) -> None:
    """Refuse a JSON value that cannot be stored or is not worth walking: nesting
    deeper than ``max_depth``, NUL or lone surrogates in any string or key, floats that
    are not finite, integers beyond ``MAX_JSON_INT``. Iterative (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ApplicationError(
                f"{label} is nested too deeply (at most {max_depth} levels).",
                code=code,
                field=field,
            )
        if isinstance(item, str):
            problem = bad_character(item)
            if problem:
                raise ApplicationError(f"{label} {problem}.", code=code, field=field)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > limits.MAX_JSON_INT:
                raise ApplicationError(
                    f"{label} contains a number that is too large.", code=code, field=field
                )
        elif isinstance(item, float):
            if not math.isfinite(item) or abs(item) > limits.MAX_JSON_INT:
                raise ApplicationError(
                    f"{label} contains a number that is too large.", code=code, field=field
                )
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                stack.append((key, depth + 1))
                stack.append((sub, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((sub, depth + 1) for sub in item)
        else:
            raise ApplicationError(
                f"{label} contains a value of an unknown type.", code=code, field=field
            )
