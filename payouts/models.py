from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class PlatformSettings(models.Model):
    """The platform's money terms, edited by admins. One row (pk=1); read it through
    ``payouts.fees.platform_settings()``."""

    fee_rate_bp = models.PositiveIntegerField(
        "fee rate (basis points)", default=2000, validators=[MaxValueValidator(10000)],
        help_text="Platform fee on each reward and bonus, in basis points: 2000 = 20%.",
    )
    fee_minimum_cents = models.PositiveIntegerField(default=1, help_text="Minimum fee per assignment and per bonus.")
    pay_floor_cents_per_hour = models.PositiveIntegerField(
        default=800, validators=[MinValueValidator(1)], help_text="Reward ÷ estimated time must reach this."
    )
    withdrawal_minimum_cents = models.PositiveIntegerField(default=100)
    topup_minimum_cents = models.PositiveIntegerField(default=500)
    topup_maximum_cents = models.PositiveIntegerField(default=1_000_000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "platform settings"
        verbose_name_plural = "platform settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="platform_settings_singleton"),
            models.CheckConstraint(condition=models.Q(fee_rate_bp__lte=10000), name="platform_fee_rate_at_most_100pct"),
            models.CheckConstraint(
                condition=models.Q(topup_minimum_cents__lte=models.F("topup_maximum_cents")),
                name="platform_topup_min_le_max",
            ),
        ]

    def __str__(self) -> str:
        return "Platform settings"
