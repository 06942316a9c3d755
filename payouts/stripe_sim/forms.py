"""Stripe's v1 wire format: ``application/x-www-form-urlencoded`` with bracketed keys.

The official libraries flatten nested parameters as ``metadata[k]=v``,
``line_items[0][price_data][unit_amount]=500`` and ``expand[]=x``. Stripe's server
turns them back into hashes and arrays; the simulator must do the same so that an
endpoint sees exactly the structure the caller meant (and can reject what Stripe
would reject, such as a scalar and a hash under the same name).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote

from .errors import invalid_request

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT_RE = re.compile(r"\[([^\[\]]*)\]")

Params = dict[str, Any]


def split_key(key: str) -> list[str]:
    """``a[b][0][]`` -> ``["a", "b", "0", ""]``; ``""`` marks an array append."""
    match = _KEY_RE.match(key)
    if not match:
        raise invalid_request(f"Invalid parameter name: {key}", param=key)
    return [match.group(1), *_SEGMENT_RE.findall(match.group(2))]


def parse_form(body: str) -> Params:
    """Decode a Stripe form body or query string into nested dicts and lists.

    Hashes whose keys are all integers become arrays ordered by index, which is how
    Stripe reads ``line_items[0]...``; ``[]`` appends. Blank values are kept: Stripe
    reads an empty string as "unset this field" (for example a metadata key).
    """
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        segments = split_key(raw_key)
        node: dict[str, Any] = root
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if segment == "":
                segment = str(len(node))
            if last:
                if isinstance(node.get(segment), dict):
                    raise invalid_request(
                        f"Invalid hash: {'/'.join(segments[: depth + 1])} was given as both a "
                        "hash and a scalar",
                        param=raw_key,
                    )
                node[segment] = value
            else:
                child = node.setdefault(segment, {})
                if not isinstance(child, dict):
                    raise invalid_request(
                        f"Invalid hash: {'/'.join(segments[: depth + 1])} was given as both a "
                        "hash and a scalar",
                        param=raw_key,
                    )
                node = child
    return _arrays(root)


def _arrays(node: Any) -> Any:
    """Turn hashes keyed exactly ``0..n-1`` into lists, depth first.

    Sparse or non-numeric keys stay a hash, so ``metadata[7]=x`` keeps its key.
    """
    if not isinstance(node, dict):
        return node
    converted = {k: _arrays(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indices = sorted(converted, key=int)
        if [int(k) for k in indices] == list(range(len(indices))):
            return [converted[k] for k in indices]
    return converted


def encode_form(params: Params) -> str:
    """The inverse of :func:`parse_form`, as the official libraries encode it.

    Used by tests and by anyone who drives the simulator without a Stripe library.
    """
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]", v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, bool):
            pairs.append((prefix, "true" if value else "false"))
        elif value is None:
            pairs.append((prefix, ""))
        else:
            pairs.append((prefix, str(value)))

    for key, value in params.items():
        walk(key, value)
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs)
