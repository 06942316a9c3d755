"""Checks behind /healthz: does the database answer, does the broker answer."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from kombu import Connection


def check_database() -> tuple[bool, str]:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the message says which
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, "ok"


def check_broker() -> tuple[bool, str]:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport=getattr(settings, "CELERY_BROKER_TRANSPORT", None),
            transport_options=options,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            # default_channel makes the transport do a real round trip (e.g. Redis PING).
            conn.default_channel  # noqa: B018
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, "ok"
