"""The vendored subset of Stripe's OpenAPI description and a validator over it.

``stripe-subset.json.gz`` is produced by ``extract.py`` (see there for the
source and the pruning). Validation needs ``openapi-schema-validator``, a
development dependency, so it is imported only when used.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

SUBSET_PATH = Path(__file__).resolve().parent / "stripe-subset.json.gz"


@cache
def load_subset() -> dict[str, Any]:
    with gzip.open(SUBSET_PATH, "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _nullable(node: Any) -> Any:
    """Read ``nullable: true`` as Stripe means it: ``null`` is always allowed.

    Stripe puts ``nullable`` next to ``enum`` (without listing ``null``) and next
    to ``anyOf`` (without a ``type``). OpenAPI 3.0.3 and openapi-schema-validator
    read both strictly and reject ``null`` there, so an ``enum`` gains ``None``
    and a composition gains an ``{"enum": [null]}`` branch.
    """
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.get("nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        for combinator in ("anyOf", "oneOf"):
            if combinator in out:
                out[combinator] = [*out[combinator], {"enum": [None]}]
        if "allOf" in out:
            out["anyOf"] = [{"allOf": out.pop("allOf")}, {"enum": [None]}]
    return out


@cache
def _components() -> dict[str, Any]:
    result: dict[str, Any] = _nullable(load_subset()["components"])
    return result


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Messages for every way ``instance`` breaks ``schema`` (refs resolve in the subset)."""
    from openapi_schema_validator import OAS30Validator

    document = {**_nullable(schema), "components": _components()}
    validator = OAS30Validator(document)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def component(name: str) -> dict[str, Any]:
    """A ``$ref`` schema to one component, e.g. ``component("transfer")``."""
    if name not in load_subset()["components"]["schemas"]:
        raise KeyError(f"schema {name!r} is not in the vendored subset")
    return {"$ref": f"#/components/schemas/{name}"}


def operation(method: str, path: str) -> dict[str, Any]:
    """The vendored entry of one operation: response schema and parameter names."""
    key = f"{method.upper()} {path}"
    operations: dict[str, Any] = load_subset()["operations"]
    if key not in operations:
        raise KeyError(f"operation {key!r} is not in the vendored subset")
    result: dict[str, Any] = operations[key]
    return result


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = load_subset()["components"]["schemas"][name]
    return schema


def unknown_fields(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields of ``instance`` the schema does not declare, as dotted paths.

    Stripe's schemas allow additional properties, so validation alone would not
    catch a misspelt field name; this does. Pruned resources and free-form
    hashes (metadata) are not descended into.
    """
    schema = _resolve(schema)
    if "x-pruned" in schema:
        return []
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        candidates = [_resolve(b) for b in branches]
        if isinstance(instance, dict):
            candidates = [c for c in candidates if "properties" in c or "x-pruned" in c]
            if not candidates:
                return []
            best = max(candidates, key=lambda c: len(set(instance) & set(c.get("properties", {}))))
            return unknown_fields(instance, best, path)
        if isinstance(instance, list):
            candidates = [c for c in candidates if c.get("type") == "array"]
            return unknown_fields(instance, candidates[0], path) if candidates else []
        return []
    if isinstance(instance, list) and "items" in schema:
        found: list[str] = []
        for index, item in enumerate(instance):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
        return found
    if isinstance(instance, dict) and "properties" in schema:
        found = []
        properties = schema["properties"]
        for key, value in instance.items():
            where = f"{path}.{key}" if path else key
            if key not in properties:
                found.append(where)
            else:
                found += unknown_fields(value, properties[key], where)
        return found
    return []
