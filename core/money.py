"""Money as people type and read it. Amounts are integer cents everywhere; this module
turns text into cents (one parser for every money field, forms and API alike) and cents
into text (one formatter for pages, messages and exports). No arithmetic that decides
money lives here (fees are ``payouts.fees``)."""

from __future__ import annotations

import re
from decimal import Decimal

from core.errors import ApplicationError

# Plain decimal dollars in ASCII digits: an optional "$", either digits without
# separators or digits grouped by correct thousands commas, then at most two decimals
# after a dot. "50,00" (a decimal comma), "1e3", "1,0000", "٥٠" are refused rather than
# guessed at: a misread amount moves a hundred times the money.
_AMOUNT = re.compile(r"^(?=\.?[0-9])(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)?(?:\.([0-9]*))?$")
_DECIMAL_COMMA = re.compile(r"^[0-9]+,[0-9]{1,2}$")

# Larger than any amount the platform deals in, small enough that cents fit in a
# PostgreSQL bigint with room for sums.
MAX_AMOUNT_CENTS = 100_000_000_00  # $100,000,000.00


def parse_dollars(
    raw: object,
    *,
    what: str = "The amount",
    field: str | None = None,
    minimum_cents: int = 1,
    maximum_cents: int = MAX_AMOUNT_CENTS,
) -> int:
    """Dollars as typed ("0.15", "$1", "1,000.50") → integer cents.

    Raises ``ApplicationError(code="invalid_amount", field=field)`` with a message that
    says what was understood and what to type instead. Numbers (not text) are accepted
    from JSON only as integers or exact decimals; floats are refused because a float
    cannot say 0.1 exactly.
    """
    if isinstance(raw, bool) or raw is None:
        text = ""
    elif isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, Decimal):
        text = format(raw, "f")
    elif isinstance(raw, str):
        text = raw
    else:
        raise _invalid(f"{what} must be an amount in dollars written as text, e.g. 0.15.", field)
    text = text.strip()
    if text.startswith("$"):
        text = text[1:].strip()
    if not text:
        raise ApplicationError(f"{what} is required.", code="required", field=field)
    shown = text if len(text) <= 20 else text[:20] + "…"
    if text.startswith("-"):
        raise _invalid(f"{what} cannot be negative.", field)
    match = _AMOUNT.match(text)
    if not match:
        if _DECIMAL_COMMA.match(text):
            dot = text.replace(",", ".")
            raise _invalid(
                f"“{shown}” uses a comma for cents: type {dot} (a dot before the cents).", field
            )
        raise _invalid(
            f"“{shown}” is not an amount in dollars: use digits with a dot before the cents, "
            f"e.g. 0.15 or 1,250.00.",
            field,
        )
    decimals = match.group(1)
    if decimals is not None and len(decimals) > 2:
        raise _invalid(f"“{shown}” has more than two decimals: use whole cents, e.g. 0.15.", field)
    value = Decimal(text.replace(",", "") or "0")
    cents = int(value * 100)
    if cents < minimum_cents:
        if cents == 0 and minimum_cents == 1:
            raise _invalid(f"{what} must be at least $0.01.", field)
        raise _invalid(f"{what} must be at least {format_cents(minimum_cents)}.", field)
    if cents > maximum_cents:
        raise _invalid(
            f"{what} can be at most {format_cents(maximum_cents)} "
            f"(you typed {format_cents(cents) if cents < 10**18 else shown}).",
            field,
        )
    return cents


def _invalid(message: str, field: str | None) -> ApplicationError:
    return ApplicationError(message, code="invalid_amount", field=field)


def format_cents(cents: int, *, minus: str = "−") -> str:
    """``1234`` → ``$12.34``; ``-5`` → ``−$0.05`` (a true minus sign by default; pass
    ``minus="-"`` for plain text such as log lines)."""
    cents = int(cents)
    sign = minus if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def cents_to_decimal_text(cents: int) -> str:
    """``-5`` → ``-0.05``: a machine-readable amount for CSV and JSON exports, computed
    in integers (never through a float)."""
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}{dollars}.{rest:02d}"


def clean_dollars(raw: object, **kwargs: object) -> int:
    """``parse_dollars`` for a Django form's ``clean_<field>``: the same rules, raised as
    ``forms.ValidationError`` so the message shows next to the field."""
    from django import forms

    try:
        return parse_dollars(raw, **kwargs)  # type: ignore[arg-type]
    except ApplicationError as exc:
        raise forms.ValidationError(exc.message, code=exc.code) from None
