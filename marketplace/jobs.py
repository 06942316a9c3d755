"""Celery jobs of the marketplace app."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from marketplace.models import WorkerHeartbeat


@shared_task(name="marketplace.jobs.heartbeat", acks_late=True)
def heartbeat(hostname: str | None = None) -> str:
    """Record that a worker ran a job just now (beat runs this every 30 s)."""
    host = hostname or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(hostname=host, defaults={"last_seen": timezone.now()})
    return host
