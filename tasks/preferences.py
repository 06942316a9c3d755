"""Services for a worker's own preferences (``WorkerPreferences``): the personal
minimum hourly rate, "accept next", daily caps and the sprint timer. The database
bounds every value (CHECK constraints); these services check them first so that a bad
value is a clear ``ApplicationError``, never an IntegrityError."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from marketplace.models import User
from tasks.models import WorkerPreferences


def _bounded(value: int | None, *, field: str, label: str, low: int, high: int) -> None:
    if value is not None and not (low <= value <= high):
        raise ApplicationError(
            f"{label} must be between {low} and {high}.", code="out_of_range", field=field
        )


def _require_worker(user: User) -> None:
    if not user.is_worker:
        raise ApplicationError("Only workers have work preferences.", code="not_worker", status=403)


def preferences_update(
    *,
    user: User,
    min_hourly_cents: int,
    accept_next: bool,
    daily_cap_minutes: int | None,
    daily_cap_cents: int | None,
    sprint_minutes: int,
) -> WorkerPreferences:
    """Save the worker's preferences (creating the row on first save). Raises
    ApplicationError (``out_of_range`` with the field) for a value out of bounds."""
    _require_worker(user)
    _bounded(
        min_hourly_cents,
        field="min_hourly",
        label="The minimum hourly rate (cents)",
        low=0,
        high=100_000,
    )
    _bounded(
        daily_cap_minutes, field="daily_cap_minutes", label="The daily time cap", low=1, high=1440
    )
    _bounded(
        daily_cap_cents,
        field="daily_cap",
        label="The daily earnings cap (cents)",
        low=1,
        high=10_000_000,
    )
    _bounded(sprint_minutes, field="sprint_minutes", label="The sprint length", low=1, high=240)
    prefs, _ = WorkerPreferences.objects.update_or_create(
        user_id=user.pk,
        defaults={
            "min_hourly_cents": min_hourly_cents,
            "accept_next": accept_next,
            "daily_cap_minutes": daily_cap_minutes,
            "daily_cap_cents": daily_cap_cents,
            "sprint_minutes": sprint_minutes,
            "updated_at": timezone.now(),
        },
    )
    return prefs


def sprint_start(*, user: User, now: datetime | None = None) -> WorkerPreferences:
    """Start (or restart) the worker's sprint timer now."""
    _require_worker(user)
    now = now or timezone.now()
    with transaction.atomic():
        prefs, _ = WorkerPreferences.objects.select_for_update().get_or_create(user_id=user.pk)
        prefs.sprint_started_at = now
        prefs.updated_at = now
        prefs.save(update_fields=["sprint_started_at", "updated_at"])
    return prefs


def sprint_stop(*, user: User) -> WorkerPreferences:
    """Stop the sprint timer (nothing happens if none is running)."""
    _require_worker(user)
    with transaction.atomic():
        prefs, _ = WorkerPreferences.objects.select_for_update().get_or_create(user_id=user.pk)
        if prefs.sprint_started_at is not None:
            prefs.sprint_started_at = None
            prefs.updated_at = timezone.now()
            prefs.save(update_fields=["sprint_started_at", "updated_at"])
    return prefs
