"""One parser and one formatter for every money field (issue 15, defects 1 and 8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms

from core.errors import ApplicationError
from core.money import (
    MAX_AMOUNT_CENTS,
    cents_to_decimal_text,
    clean_dollars,
    format_cents,
    parse_dollars,
)


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("0.01", 1),
        ("0.15", 15),
        (".5", 50),
        ("1", 100),
        ("1.", 100),
        ("$1", 100),
        ("$ 2.50", 250),
        ("  50.00 ", 5000),
        ("1,000.50", 100050),
        ("1,234,567", 123456700),
        ("1000", 100000),
        (7, 700),
        (Decimal("0.07"), 7),
    ],
)
def test_plain_decimal_dollars_are_understood(typed, cents):
    assert parse_dollars(typed) == cents


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("50,00", "type 50.00"),  # a decimal comma would have been $5,000.00
        ("0,05", "type 0.05"),  # would have been a $5.00 reward
        ("1e3", "not an amount in dollars"),
        ("1E-2", "not an amount in dollars"),
        ("٥٠", "not an amount in dollars"),  # Arabic-Indic digits
        ("５０", "not an amount in dollars"),  # full-width digits
        ("1,0000", "not an amount in dollars"),  # a comma that is no thousands separator
        ("1,00,000", "not an amount in dollars"),
        ("12,34.5", "not an amount in dollars"),
        ("1.2.3", "not an amount in dollars"),
        ("NaN", "not an amount in dollars"),
        ("Infinity", "not an amount in dollars"),
        ("1e999999", "not an amount in dollars"),
        ("0x10", "not an amount in dollars"),
        ("1_000", "not an amount in dollars"),
        ("0.001", "more than two decimals"),
        ("-1", "cannot be negative"),
        ("0", "at least $0.01"),
        ("0.00", "at least $0.01"),
        ("9" * 40, "at most"),
        (1.5, "written as text"),
        (["1"], "written as text"),
    ],
)
def test_anything_else_is_refused_saying_what_was_understood(typed, says):
    with pytest.raises(ApplicationError) as err:
        parse_dollars(typed, field="amount")
    assert says in err.value.message
    assert err.value.code == "invalid_amount"
    assert err.value.field == "amount"


def test_empty_is_required():
    for typed in ("", "   ", "$", None):
        with pytest.raises(ApplicationError) as err:
            parse_dollars(typed, what="The amount")
        assert err.value.code == "required"
        assert err.value.message == "The amount is required."


def test_bounds_are_the_callers():
    assert parse_dollars("1.00", minimum_cents=100, maximum_cents=500) == 100
    with pytest.raises(ApplicationError, match=r"at least \$1\.00"):
        parse_dollars("0.99", minimum_cents=100)
    with pytest.raises(ApplicationError, match=r"at most \$5\.00 \(you typed \$5\.01\)"):
        parse_dollars("5.01", maximum_cents=500)
    assert parse_dollars(format_cents(MAX_AMOUNT_CENTS)) == MAX_AMOUNT_CENTS


def test_clean_dollars_raises_a_form_error():
    with pytest.raises(forms.ValidationError) as err:
        clean_dollars("50,00", what="The amount")
    assert err.value.code == "invalid_amount"
    assert "type 50.00" in err.value.messages[0]


@pytest.mark.parametrize(
    ("cents", "text", "decimal"),
    [
        (0, "$0.00", "0.00"),
        (1, "$0.01", "0.01"),
        (99, "$0.99", "0.99"),
        (100, "$1.00", "1.00"),
        (123456, "$1,234.56", "1234.56"),
        (-5, "−$0.05", "-0.05"),  # was "$-1.95" in the old requester formatter
        (-5000, "−$50.00", "-50.00"),
        (-123456789, "−$1,234,567.89", "-1234567.89"),
        (9_223_372_036_854_775_807, "$92,233,720,368,547,758.07", "92233720368547758.07"),
    ],
)
def test_one_formatter_for_negatives_and_large_amounts(cents, text, decimal):
    assert format_cents(cents) == text
    assert format_cents(cents, minus="-") == text.replace("−", "-")
    assert cents_to_decimal_text(cents) == decimal
