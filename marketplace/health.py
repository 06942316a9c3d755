"""Checks behind the health endpoints.

* ``/healthz/live``: the process is up and serving (no I/O). An orchestrator restarts a
  container whose liveness fails, so nothing outside the process may fail it.
* ``/healthz/ready`` (and ``/healthz``, the same): may this process get traffic? 503
  only when the database does not answer, because then no page works. The broker, the
  cache and the workers are reported with ``ok`` or ``degraded`` but do not fail it:
  with the cache down pages still serve (rate limits fail open, marketplace/cache.py);
  with the broker or every worker down pages serve and jobs wait. Taking web processes
  out of rotation for those would turn a partial outage into a full one.

Details never carry exception text (it can name hosts, users or SQL); the exception is
logged instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone
from kombu import Connection

log = logging.getLogger(__name__)

# The heartbeat job runs every 30 s; three missed beats make the workers "stale".
WORKER_STALE_AFTER = timedelta(seconds=120)


def check_database() -> tuple[bool, str]:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure means "down"; logged, not shown
        log.warning("health: database check failed", exc_info=True)
        return False, "unreachable"
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
    except Exception:  # noqa: BLE001
        log.warning("health: broker check failed", exc_info=True)
        return False, "unreachable"
    return True, "ok"


def check_cache() -> tuple[bool, str]:
    """Write and read back a key. The fail-open cache never raises, so a value that does
    not come back is how an outage shows."""
    key = "fairtask:healthz"
    token = timezone.now().isoformat()
    try:
        cache.set(key, token, 30)
        ok = cache.get(key) == token
    except Exception:  # noqa: BLE001 - a cache without fail-open behaviour
        log.warning("health: cache check failed", exc_info=True)
        ok = False
    return ok, "ok" if ok else "unreachable"


def worker_state(last_seen: datetime | None, *, now: datetime) -> tuple[bool, str]:
    if last_seen is None:
        return False, "never seen"
    if now - last_seen > WORKER_STALE_AFTER:
        return False, "stale"
    return True, "ok"
