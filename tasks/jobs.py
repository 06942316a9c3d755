"""Celery jobs of the worker side."""

from __future__ import annotations

from celery import shared_task

from tasks import services


@shared_task(name="tasks.jobs.expire_assignments", acks_late=True)
def expire_assignments() -> int:
    """Expire accepted assignments past their time allotted and free their slots (beat:
    every 30 s). Safe to run twice or concurrently: each is re-checked under its lock."""
    return services.assignments_expire()


@shared_task(name="tasks.jobs.refresh_measured_times", acks_late=True)
def refresh_measured_times() -> int:
    """Median work time per project and per batch from real submissions (beat: every
    5 min), so that pages read stored figures instead of computing medians."""
    return services.measured_times_refresh()
