"""Rates per user (API key or session): ``FAIRTASK_API_RATE`` for every request and a
lower ``FAIRTASK_API_UPLOAD_RATE`` on top for uploads. Counts live in Django's cache:
use a shared cache (Redis) when several web processes serve the API, or each process
counts on its own."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class ApiRateThrottle(UserRateThrottle):
    scope = "api"

    def get_rate(self) -> str:
        return str(settings.FAIRTASK_API_RATE)


class UploadRateThrottle(UserRateThrottle):
    scope = "api_upload"

    def get_rate(self) -> str:
        return str(settings.FAIRTASK_API_UPLOAD_RATE)
