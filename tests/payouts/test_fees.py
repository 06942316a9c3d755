"""Fees and the pay floor at their edges (payouts/fees.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payouts import fees
from payouts.fees import Terms


@pytest.mark.parametrize(
    ("amount", "rate_bp", "minimum", "expected"),
    [
        # 20%, minimum 1¢: the default terms
        (1, 2000, 1, 1),  # 0.2 → 0 → minimum 1
        (2, 2000, 1, 1),  # 0.4 → 0 → minimum 1
        (3, 2000, 1, 1),  # 0.6 → 1
        (4, 2000, 1, 1),  # 0.8 → 1
        (5, 2000, 1, 1),  # 1.0
        (12, 2000, 1, 2),  # 2.4 → 2
        (13, 2000, 1, 3),  # 2.6 → 3
        (125, 2000, 1, 25),
        (10**12, 2000, 1, 2 * 10**11),
        # minimum 0: a tiny reward may carry no fee
        (1, 2000, 0, 0),
        (2, 2000, 0, 0),
        (3, 2000, 0, 1),
        # minimum 5: applies after rounding
        (1, 2000, 5, 5),
        (22, 2000, 5, 5),  # 4.4 → 4 → 5
        (24, 2000, 5, 5),  # 4.8 → 5
        (25, 2000, 5, 5),  # exactly 5
        (26, 2000, 5, 5),  # 5.2 → 5
        (28, 2000, 5, 6),  # 5.6 → 6
        # exact halves round up (banker's rounding would give 2, 4, 0, 2)
        (25, 1000, 0, 3),  # 2.5 → 3
        (45, 1000, 0, 5),  # 4.5 → 5
        (1, 5000, 0, 1),  # 0.5 → 1
        (5, 1000, 0, 1),  # 0.5 → 1
        (3, 5000, 0, 2),  # 1.5 → 2
        (5000, 1, 0, 1),  # 0.5 → 1
        (1, 4999, 0, 0),  # 0.4999 → 0
        (1, 5001, 0, 1),  # 0.5001 → 1
        (14999, 1, 0, 1),  # 1.4999 → 1
        # rate 0 and 100%
        (100, 0, 0, 0),
        (100, 0, 1, 1),
        (1, 10000, 0, 1),
        (100, 10000, 1, 100),
        (100, 10000, 500, 500),
    ],
)
def test_fee_cents_table(amount, rate_bp, minimum, expected):
    assert fees.fee_cents(amount, rate_bp=rate_bp, minimum_cents=minimum) == expected


@pytest.mark.parametrize("amount", [True, False, 1.0, Decimal(1), "1", None])
def test_fee_cents_refuses_non_integer_amounts(amount):
    with pytest.raises(TypeError, match="integer cents"):
        fees.fee_cents(amount, rate_bp=2000, minimum_cents=1)


@pytest.mark.parametrize("amount", [0, -1, -100])
def test_fee_cents_refuses_amounts_below_one_cent(amount):
    with pytest.raises(ValueError, match="at least 1 cent"):
        fees.fee_cents(amount, rate_bp=2000, minimum_cents=1)


@pytest.mark.parametrize(
    ("rate_bp", "minimum", "message"),
    [(-1, 0, "basis points"), (10001, 0, "basis points"), (2000, -1, "negative")],
)
def test_fee_cents_refuses_impossible_terms(rate_bp, minimum, message):
    with pytest.raises(ValueError, match=message):
        fees.fee_cents(100, rate_bp=rate_bp, minimum_cents=minimum)


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    rate_bp=st.integers(min_value=0, max_value=10000),
    minimum=st.integers(min_value=0, max_value=100),
)
def test_fee_is_the_half_up_rounding_of_the_exact_fee_or_the_minimum(amount, rate_bp, minimum):
    fee = fees.fee_cents(amount, rate_bp=rate_bp, minimum_cents=minimum)
    # Integer-only half-up: floor((2·amount·rate + 10000) / 20000).
    half_up = (2 * amount * rate_bp + fees.BASIS_POINTS) // (2 * fees.BASIS_POINTS)
    assert fee == max(half_up, minimum)


def test_reward_and_bonus_fees_use_the_given_terms():
    terms = Terms(
        fee_rate_bp=1000,
        fee_minimum_cents=3,
        pay_floor_cents_per_hour=800,
        withdrawal_minimum_cents=100,
    )
    assert fees.reward_fee_cents(25, terms) == 3
    assert fees.reward_fee_cents(45, terms) == 5
    assert fees.bonus_fee_cents(1, terms) == 3
    assert fees.bonus_fee_cents(1000, terms) == 100


@pytest.mark.django_db
def test_default_terms_come_from_platform_settings():
    assert fees.current_terms() == Terms(2000, 1, 800, 100)
    assert fees.reward_fee_cents(13) == 3
    assert fees.bonus_fee_cents(2) == 1


@pytest.mark.parametrize(
    ("rate_bp", "shown"),
    [
        (2000, "20"),
        (1250, "12.5"),
        (1, "0.01"),
        (10, "0.1"),
        (0, "0"),
        (10000, "100"),
        (1000, "10"),
    ],
)
def test_fee_percent_is_plain_decimal_notation(rate_bp, shown):
    # Decimal("20").normalize() prints as "2E+1"; the landing page shows this value.
    assert str(Terms(rate_bp, 1, 800, 100).fee_percent) == shown


@pytest.mark.parametrize(
    ("reward", "seconds", "floor", "meets"),
    [
        (2, 9, 800, True),  # 2¢ in 9 s is exactly $8.00/h
        (1, 9, 800, False),  # 1¢ short
        (100, 450, 800, True),  # $1.00 in 7.5 min: exactly the floor
        (99, 450, 800, False),
        (800, 3600, 800, True),
        (799, 3600, 800, False),
        (1, 4, 800, True),  # $9.00/h
        (1, 5, 800, False),  # $7.20/h
        (1, 1, 3600, True),  # exactly $36.00/h
        (1, 1, 3601, False),
        (1, 3600, 1, True),
    ],
)
def test_pay_floor_table(reward, seconds, floor, meets):
    assert (
        fees.meets_pay_floor(
            reward_cents=reward, estimated_seconds=seconds, floor_cents_per_hour=floor
        )
        is meets
    )


@pytest.mark.parametrize("seconds", [0, -1])
def test_pay_floor_needs_a_positive_time(seconds):
    with pytest.raises(ValueError, match="positive"):
        fees.meets_pay_floor(reward_cents=100, estimated_seconds=seconds, floor_cents_per_hour=800)
    with pytest.raises(ValueError, match="positive"):
        fees.minimum_reward_cents(estimated_seconds=seconds, floor_cents_per_hour=800)


@pytest.mark.parametrize(
    ("seconds", "floor", "expected"),
    [
        (9, 800, 2),  # exactly 2.0
        (10, 800, 3),  # 2.22 → 3: always rounded up, in the worker's favour
        (450, 800, 100),
        (451, 800, 101),
        (3600, 800, 800),
        (4, 800, 1),  # 0.89 → 1
        (5, 800, 2),  # 1.11 → 2
        (1, 800, 1),  # 0.22 → 1
        (1, 1, 1),  # never below the 1¢ minimum reward
    ],
)
def test_minimum_reward_cents_table(seconds, floor, expected):
    assert (
        fees.minimum_reward_cents(estimated_seconds=seconds, floor_cents_per_hour=floor) == expected
    )


@given(
    seconds=st.integers(min_value=1, max_value=86_400),
    floor=st.integers(min_value=1, max_value=100_000),
)
def test_minimum_reward_is_the_least_reward_meeting_the_floor(seconds, floor):
    least = fees.minimum_reward_cents(estimated_seconds=seconds, floor_cents_per_hour=floor)
    assert fees.meets_pay_floor(
        reward_cents=least, estimated_seconds=seconds, floor_cents_per_hour=floor
    )
    if least > fees.MIN_REWARD_CENTS:
        assert not fees.meets_pay_floor(
            reward_cents=least - 1, estimated_seconds=seconds, floor_cents_per_hour=floor
        )


@pytest.mark.parametrize(
    ("reward", "seconds", "expected"),
    [(100, 450, 800), (1, 7, 514), (1, 0.5, 7200), (2, 9, 800), (100, 0, 0), (100, -1, 0)],
)
def test_hourly_rate_rounds_down(reward, seconds, expected):
    assert fees.hourly_rate_cents(reward_cents=reward, seconds=seconds) == expected
