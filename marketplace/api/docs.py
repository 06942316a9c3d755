"""The API's documentation page, rendered on our own server from the OpenAPI schema.

drf-spectacular's Swagger UI and Redoc views load their JavaScript from a CDN, which a
self-hosted marketplace should not depend on (and which cannot load here at all);
``drf-spectacular-sidecar`` would ship those files but is not a dependency. So this
page is plain HTML built from the same schema as ``/api/v1/schema/``: every endpoint
with its parameters, request and response shapes, and every schema. Interactive
requests: DRF's browsable API at /api/v1/ (session login), or curl with a key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_text(schema: dict[str, Any] | None) -> str:
    """A short human reading of a JSON schema: ``integer``, ``array of Batch``..."""
    if not schema:
        return ""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return type_text(schema["allOf"][0])
    for combo in ("oneOf", "anyOf"):
        if combo in schema:
            return " or ".join(type_text(x) for x in schema[combo] if x)
    if "enum" in schema:
        return "one of " + ", ".join(str(x) for x in schema["enum"] if x not in ("", None))
    kind = schema.get("type", "object")
    if kind == "array":
        return f"array of {type_text(schema.get('items'))}"
    if (
        kind == "object"
        and "additionalProperties" in schema
        and isinstance(schema["additionalProperties"], dict)
    ):
        return f"object of {type_text(schema['additionalProperties'])}"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": type_text(prop),
            "ref": _ref_name(prop["$ref"]) if "$ref" in prop else "",
            "required": name in required,
            "read_only": prop.get("readOnly", False),
            "nullable": prop.get("nullable", False),
            "description": prop.get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            body = None
            content = (op.get("requestBody") or {}).get("content", {})
            if content:
                media, spec = next(iter(content.items()))
                body = {
                    "media": media,
                    "type": type_text(spec.get("schema")),
                    "ref": _ref_name(spec["schema"]["$ref"])
                    if "$ref" in spec.get("schema", {})
                    else "",
                }
            responses = []
            for code, response in sorted(op.get("responses", {}).items()):
                media_types: dict[str, Any] = response.get("content", {})
                first: dict[str, Any] = next(iter(media_types.values()), {})
                rschema = first.get("schema")
                responses.append(
                    {
                        "code": code,
                        "description": response.get("description", ""),
                        "type": type_text(rschema),
                        "ref": _ref_name(rschema["$ref"]) if rschema and "$ref" in rschema else "",
                    }
                )
            groups.setdefault((op.get("tags") or ["other"])[0], []).append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": type_text(p.get("schema")),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": body,
                    "responses": responses,
                }
            )
    schemas = [
        {
            "name": name,
            "fields": _fields(spec),
            "type": type_text(spec) if "properties" not in spec else "object",
            "description": spec.get("description", ""),
        }
        for name, spec in sorted(schema.get("components", {}).get("schemas", {}).items())
    ]
    return {"info": schema.get("info", {}), "groups": sorted(groups.items()), "schemas": schemas}


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "marketplace/api_docs.html",
        {
            "doc": _document(),
            "api_rate": settings.FAIRTASK_API_RATE,
            "upload_rate": settings.FAIRTASK_API_UPLOAD_RATE,
            "base_url": request.build_absolute_uri("/api/v1/"),
        },
    )
