from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsRequester(BasePermission):
    """Signed in (API key or session) and signed up as a requester. Which objects: the
    views fetch through ``selectors.project_for``/``batch_for`` (404 for others')."""

    message = "Only requesters can use this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_requester)
