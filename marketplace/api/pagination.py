from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

MAX_PAGE = 10**9


def _whole_number(request: Request, name: str, *, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or not 1 <= int(text) <= maximum:
        raise ValidationError({name: [f"{name} must be a whole number from 1 to {maximum:,}."]})
    return int(text)


class Pagination(PageNumberPagination):
    """``?page=2&page_size=100``; the body is ``{count, next, previous, results}``.

    ``page`` and ``page_size`` must be whole numbers in range (the schema says so); a
    bad value is a 400, not silently the default. A page past the last one is a 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        _whole_number(request, self.page_query_param, maximum=MAX_PAGE)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        size = _whole_number(request, self.page_size_query_param, maximum=self.max_page_size)
        return size if size is not None else self.page_size

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number (a page past the last one is a 404).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
