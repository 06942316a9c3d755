"""Template helpers of the requester pages (rendering only)."""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from core.money import cents_to_decimal_text
from marketplace.models import BatchStatus

register = template.Library()


@register.filter
def accessible(field: BoundField) -> SafeString:
    """The field's widget with ``aria-describedby`` pointing at its help text and
    errors, and ``aria-invalid`` when it has errors (screen readers then read them)."""
    described = []
    attrs: dict[str, str | bool] = {}
    if field.help_text:
        described.append(f"{field.auto_id}_helptext")
    if field.errors:
        described.append(f"{field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)


@register.simple_tag
def add_funds_query(shortfall_cents: int, next_path: str) -> str:
    """The query of the Add-funds link of a batch that cannot be published: the
    shortfall to prefill and the batch to come back to."""
    return urlencode({"amount": cents_to_decimal_text(shortfall_cents), "next": next_path})


@register.filter
def batch_status_label(status: str) -> str:
    """``"importing"`` → "Importing" (the name people see, not the stored value)."""
    try:
        return str(BatchStatus(status).label)
    except ValueError:
        return status


@register.filter
def duration_text(seconds: float | int | None) -> str:
    """``95`` → ``1 min 35 s``, ``612360`` → ``7 days 2 h`` (days from 48 hours on);
    None → ``—``."""
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


@register.filter
def days_text(value) -> str:  # noqa: ANN001 - a timedelta
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    if rest == 0:
        return "1 day" if days == 1 else f"{days} days"
    hours = total / 3600
    return f"{hours:g} hours"


@register.filter
def filesize(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value} bytes"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KB".replace(".0 KB", " KB")
    return f"{value / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


@register.filter
def percent_of(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


@register.filter
def bp_percent(bp: int) -> str:
    """Basis points as a percentage: ``2000`` → ``20%``, ``1250`` → ``12.5%``."""
    value = int(bp) / 100
    return f"{value:g}%"
