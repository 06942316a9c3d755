"""The API's JSON parser: DRF's, made safe for any body.

``json.loads`` recurses once per nesting level, so a body nested 100,000 deep raised
``RecursionError`` (a 500); numbers like ``1e999999`` parse to ``inf``, which nothing
downstream can store. Both are refused here as a 400 in the API's error shape
(``ParseError``), as is any other body that is not JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = "The request body is too large."


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        # DRF reads the body from the request stream, past Django's own size check
        # (which only guards request.body): apply DATA_UPLOAD_MAX_MEMORY_SIZE here.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        if limit is not None and declared > limit:
            raise BodyTooLarge(
                f"The JSON body is {declared:,} bytes; at most {limit:,} bytes are accepted."
            )
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read(limit + 1) if limit is not None else stream.read()
            if limit is not None and len(raw) > limit:
                raise BodyTooLarge(f"The JSON body is larger than {limit:,} bytes.")
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not valid {encoding}.") from exc
        if not text:
            return {}
        try:
            return json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
        except RecursionError:
            raise ParseError("The JSON body is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"The body is not valid JSON: {exc}") from None
