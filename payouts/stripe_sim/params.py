"""Reading request parameters with Stripe's checks and error messages.

Every value on the wire is a string; Stripe converts and validates each one and
names the offending parameter in the error (``param``), which the official
library exposes as ``InvalidRequestError.param``. Parameters the simulator does
not implement are rejected rather than ignored, so code that relies on them
fails here instead of behaving differently against real Stripe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import invalid_request, missing_param

Params = dict[str, Any]

_INT_RE = re.compile(r"^-?\d+$")
_CURRENCY_RE = re.compile(r"^[a-z]{3}$")


def reject_unknown(params: Params, allowed: Iterable[str], *, prefix: str = "") -> None:
    """400 ``parameter_unknown`` for any key outside ``allowed``, as Stripe answers."""
    allowed_set = set(allowed)
    for key in params:
        if key not in allowed_set:
            name = f"{prefix}[{key}]" if prefix else key
            raise invalid_request(
                f"Received unknown parameter: {name}. (The Fairtask Stripe simulator implements: "
                f"{', '.join(sorted(allowed_set))}.)",
                param=name,
                code="parameter_unknown",
            )


def as_hash(value: Any, param: str) -> Params:
    if value == "":
        return {}
    if isinstance(value, list):
        # ``metadata[0]=x`` parses as an array; a hash with key "0" was meant.
        return {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object for {param}: expected a hash.", param=param)
    return value


def as_list(value: Any, param: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        raise invalid_request(f"Invalid array for {param}.", param=param)
    raise invalid_request(f"Invalid array for {param}: pass it as {param}[]=...", param=param)


def get_str(
    params: Params,
    name: str,
    *,
    required: bool = False,
    max_length: int = 5000,
    choices: Iterable[str] | None = None,
    param: str | None = None,
    default: str | None = None,
) -> str | None:
    label = param or name
    value = params.get(name)
    if value is None:
        if required:
            raise missing_param(label)
        return default
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {label} must be a string.", param=label)
    if value == "":
        if required:
            raise invalid_request(
                f"You passed an empty string for '{label}'. We assume empty values are an attempt "
                f"to unset a parameter; however '{label}' cannot be unset. You should remove "
                f"'{label}' from your request or supply a non-empty value.",
                param=label,
                code="parameter_invalid_empty",
            )
        return default
    if len(value) > max_length:
        raise invalid_request(
            f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
            param=label,
            code="parameter_invalid_string_too_long" if max_length < 5000 else None,
        )
    if choices is not None:
        options = list(choices)
        if value not in options:
            raise invalid_request(
                f"Invalid {label}: must be one of {', '.join(options)}", param=label
            )
    return value


def get_int(
    params: Params,
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    param: str | None = None,
) -> int | None:
    label = param or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_param(label)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT_RE.match(value):
        number = int(value)
    else:
        raise invalid_request(
            f"Invalid integer: {value}", param=label, code="parameter_invalid_integer"
        )
    if minimum is not None and number < minimum:
        raise invalid_request(
            f"This value must be greater than or equal to {minimum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    if maximum is not None and number > maximum:
        raise invalid_request(
            f"This value must be less than or equal to {maximum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    return number


def get_bool(params: Params, name: str, *, param: str | None = None) -> bool | None:
    label = param or name
    value = params.get(name)
    if value is None or value == "":
        return None
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise invalid_request(f"Invalid boolean: {value}", param=label)


def get_currency(
    params: Params, name: str = "currency", *, required: bool = True, param: str | None = None
) -> str | None:
    value = get_str(params, name, required=required, param=param)
    if value is None:
        return None
    lowered = value.lower()
    if not _CURRENCY_RE.match(lowered):
        raise invalid_request(f"Invalid currency: {value}.", param=param or name)
    return lowered


def get_metadata(
    params: Params, name: str = "metadata", *, param: str | None = None
) -> dict[str, str] | None:
    """Validate Stripe's metadata limits: 50 keys, 40-char keys, 500-char values.

    Returns ``None`` when absent; ``{}`` for ``metadata=""`` (Stripe's "clear all").
    Empty values are kept, so :func:`merge_metadata` can delete those keys.
    """
    label = param or name
    if name not in params:
        return None
    data = as_hash(params[name], label)
    if len(data) > 50:
        raise invalid_request("Invalid metadata: metadata can have up to 50 keys.", param=label)
    result: dict[str, str] = {}
    for key, value in data.items():
        if len(key) > 40:
            raise invalid_request(
                f"Invalid metadata: keys must be at most 40 characters; {key!r} is too long.",
                param=f"{label}[{key}]",
            )
        if not isinstance(value, str):
            raise invalid_request(
                f"Invalid metadata: the value for {key!r} must be a string.",
                param=f"{label}[{key}]",
            )
        if len(value) > 500:
            raise invalid_request(
                f"Invalid metadata: values must be at most 500 characters; the value for {key!r} "
                "is too long.",
                param=f"{label}[{key}]",
            )
        result[key] = value
    return result


def new_metadata(params: Params, name: str = "metadata") -> dict[str, str]:
    """Metadata for a new object: empty values simply are not set."""
    given = get_metadata(params, name) or {}
    return {k: v for k, v in given.items() if v != ""}


def merge_metadata(existing: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Stripe's update rule: ``metadata=""`` clears; a key set to ``""`` is deleted."""
    if not update:
        return {}
    merged = dict(existing)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def get_expand(params: Params) -> list[str]:
    if "expand" not in params:
        return []
    values = as_list(params["expand"], "expand")
    for value in values:
        if not isinstance(value, str) or not value:
            raise invalid_request(
                "Invalid expand: each entry must be a non-empty string.", param="expand"
            )
    return [str(v) for v in values]


def created_filter(params: Params, name: str = "created") -> dict[str, int] | None:
    """``created=123`` or ``created[gte]=...``: Stripe's range filter on timestamps."""
    if name not in params:
        return None
    value = params[name]
    if isinstance(value, str):
        exact = get_int(params, name)
        return None if exact is None else {"eq": exact}
    bounds = as_hash(value, name)
    reject_unknown(bounds, ("gt", "gte", "lt", "lte"), prefix=name)
    result: dict[str, int] = {}
    for op in bounds:
        number = get_int(bounds, op, param=f"{name}[{op}]")
        if number is not None:
            result[op] = number
    return result


def matches_range(value: int, spec: dict[str, int] | None) -> bool:
    if not spec:
        return True
    checks = {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(checks[op](value, bound) for op, bound in spec.items())
