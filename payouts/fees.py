"""Fees and the pay floor: the only place that does this arithmetic.

Rounding rule: **half-up to the cent** (``ROUND_HALF_UP``), applied once to the exact
product in ``Decimal``; then the per-item minimum applies. So at 20% a 2¢ reward has a
0.4¢ → 0¢ → 1¢ (minimum) fee, a 3¢ reward 0.6¢ → 1¢, a 12¢ reward 2.4¢ → 2¢, a 13¢
reward 2.6¢ → 3¢. An exact half cannot occur at 20% (reward ÷ 5); at 10% a 25¢ reward's
2.5¢ fee rounds up to 3¢.

The pay floor is checked in integers: ``reward_cents * 3600 >= floor_cents_per_hour *
estimated_seconds``, so no rate is ever rounded in the worker's disfavour.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from payouts.models import PlatformSettings

ROUNDING = ROUND_HALF_UP
BASIS_POINTS = 10_000
MIN_REWARD_CENTS = 1


def platform_settings() -> PlatformSettings:
    settings, _ = PlatformSettings.objects.get_or_create(pk=1)
    return settings


@dataclass(frozen=True)
class Terms:
    fee_rate_bp: int
    fee_minimum_cents: int
    pay_floor_cents_per_hour: int
    withdrawal_minimum_cents: int

    @property
    def fee_percent(self) -> Decimal:
        # Not .normalize() alone: Decimal("20").normalize() is Decimal("2E+1"), which the
        # landing page printed as "2E+1%".
        percent = Decimal(self.fee_rate_bp) / 100
        if percent == percent.to_integral_value():
            return percent.quantize(Decimal(1))
        return percent.normalize()


def current_terms() -> Terms:
    s = platform_settings()
    return Terms(
        s.fee_rate_bp, s.fee_minimum_cents, s.pay_floor_cents_per_hour, s.withdrawal_minimum_cents
    )


def fee_cents(amount_cents: int, *, rate_bp: int, minimum_cents: int) -> int:
    """The platform fee on one reward or one bonus of ``amount_cents``."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise TypeError("amounts are integer cents")
    if amount_cents < MIN_REWARD_CENTS:
        raise ValueError("an amount must be at least 1 cent")
    if not 0 <= rate_bp <= BASIS_POINTS:
        raise ValueError(f"a fee rate is 0 to {BASIS_POINTS} basis points; got {rate_bp}")
    if minimum_cents < 0:
        raise ValueError(f"a minimum fee cannot be negative; got {minimum_cents}")
    exact = Decimal(amount_cents) * Decimal(rate_bp) / Decimal(BASIS_POINTS)
    rounded = int(exact.quantize(Decimal(1), rounding=ROUNDING))
    return max(rounded, minimum_cents)


def reward_fee_cents(reward_cents: int, terms: Terms | None = None) -> int:
    terms = terms or current_terms()
    return fee_cents(reward_cents, rate_bp=terms.fee_rate_bp, minimum_cents=terms.fee_minimum_cents)


def bonus_fee_cents(bonus_cents: int, terms: Terms | None = None) -> int:
    terms = terms or current_terms()
    return fee_cents(bonus_cents, rate_bp=terms.fee_rate_bp, minimum_cents=terms.fee_minimum_cents)


def meets_pay_floor(
    *, reward_cents: int, estimated_seconds: int, floor_cents_per_hour: int
) -> bool:
    if estimated_seconds <= 0:
        raise ValueError("estimated time must be positive")
    return reward_cents * 3600 >= floor_cents_per_hour * estimated_seconds


def minimum_reward_cents(*, estimated_seconds: int, floor_cents_per_hour: int) -> int:
    """The smallest reward that meets the floor for this estimated time (ceiling)."""
    if estimated_seconds <= 0:
        raise ValueError("estimated time must be positive")
    return max(MIN_REWARD_CENTS, -(-floor_cents_per_hour * estimated_seconds // 3600))


def hourly_rate_cents(*, reward_cents: int, seconds: float) -> int:
    """Effective hourly rate, rounded down (never overstates pay to a worker)."""
    if seconds <= 0:
        return 0
    return int(Decimal(reward_cents) * 3600 / Decimal(str(seconds)))
