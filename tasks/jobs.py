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


@shared_task(name="tasks.jobs.notify_reviewed", acks_late=True)
def notify_reviewed(kind: str, ids: list[int]) -> int:
    """Email workers about a decision (approved, rejected, bonus) after it committed,
    and the requester when a batch is completely reviewed (once: a cache key)."""
    from django.core.cache import cache

    from tasks import notifications

    sent = notifications.send(notifications.reviewed_messages(kind, ids))
    if kind in ("approved", "rejected"):
        for batch_id in notifications.batches_completed(ids):
            if cache.add(f"fairtask:batch-complete-mail:{batch_id}", 1, timeout=30 * 86400):
                sent += notifications.send([notifications.batch_complete_message(batch_id)])
    return sent


@shared_task(name="tasks.jobs.auto_approve", acks_late=True)
def auto_approve() -> int:
    """Approve submitted assignments past their frozen auto-approval time (beat: every
    minute). Safe to run twice or concurrently (``SKIP LOCKED``, state re-checked)."""
    from tasks import review

    total = 0
    while True:
        n = review.assignments_auto_approve()
        total += n
        if n < 5000:
            return total


@shared_task(name="tasks.jobs.release_rejections", acks_late=True)
def release_rejections() -> int:
    """Return rejected work's reward + fee to the requester once the dispute window
    closed (beat: every 10 minutes); each under its own locks, idempotent by key."""
    from tasks import review

    return review.rejections_release()
