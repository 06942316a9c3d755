"""Template filters for integer-cent amounts. Formatting only; no arithmetic that
decides money lives here."""

from __future__ import annotations

from django import template

from core.money import format_cents

register = template.Library()


@register.filter
def cents(value: int | None) -> str:
    """``1234`` → ``$12.34``; ``-5`` → ``−$0.05``."""
    if value is None or value == "":
        return ""
    return format_cents(int(value))
