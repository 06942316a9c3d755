"""Forms of the worker pages: the task browser's filters and the worker's preferences.
Money is typed in dollars and parsed by ``core.money`` (one parser everywhere)."""

from __future__ import annotations

from typing import Any

from django import forms

from core.money import clean_dollars
from marketplace.models import TemplateKind
from tasks.discovery import SORT_LABELS, BrowseFilters

MAX_HOURLY_CENTS = 100_000  # $1,000/h: anything above filters everything out anyway
MAX_KEYWORD_TEXT = 100


def _no_control_characters(value: str) -> str:
    # NUL cannot be stored or compared by PostgreSQL (a DataError, i.e. a 500), and a
    # lone surrogate cannot be encoded: both are refused as bad input.
    if any(ord(c) < 32 and c not in "\t" for c in value) or any(
        0xD800 <= ord(c) <= 0xDFFF for c in value
    ):
        raise forms.ValidationError("Use letters, digits and punctuation only.", code="invalid")
    return value


class BrowseForm(forms.Form):
    """The browser's filters (GET). Every field is optional; a bad value is shown next
    to its field and ignored."""

    q = forms.CharField(label="Keywords", required=False, max_length=MAX_KEYWORD_TEXT)
    min_hourly = forms.CharField(label="Minimum hourly rate ($/h)", required=False, max_length=20)
    min_reward = forms.CharField(label="Minimum reward ($)", required=False, max_length=20)
    max_minutes = forms.IntegerField(
        label="Maximum time (minutes)", required=False, min_value=1, max_value=24 * 60
    )
    kind = forms.ChoiceField(
        label="Task type",
        required=False,
        choices=[("", "Any type"), *[(k, label) for k, label in TemplateKind.choices]],
    )
    qualified = forms.BooleanField(label="Only what I qualify for", required=False)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=list(SORT_LABELS.items()))

    def clean_q(self) -> str:
        return _no_control_characters(self.cleaned_data.get("q", "")).strip()

    def clean_min_hourly(self) -> int:
        raw = self.cleaned_data.get("min_hourly", "").strip()
        if not raw:
            return 0
        return clean_dollars(
            raw, what="The minimum hourly rate", minimum_cents=0, maximum_cents=MAX_HOURLY_CENTS
        )

    def clean_min_reward(self) -> int:
        raw = self.cleaned_data.get("min_reward", "").strip()
        if not raw:
            return 0
        return clean_dollars(raw, what="The minimum reward", minimum_cents=0)

    def filters(self) -> BrowseFilters:
        """The filters from the fields that are valid (the others are left out)."""
        data: dict[str, Any] = getattr(self, "cleaned_data", {})
        minutes = data.get("max_minutes")
        return BrowseFilters(
            min_hourly_cents=data.get("min_hourly") or 0,
            min_reward_cents=data.get("min_reward") or 0,
            max_seconds=minutes * 60 if minutes else None,
            keywords=tuple((data.get("q") or "").split()),
            kind=data.get("kind") or "",
            qualified_only=bool(data.get("qualified")),
            sort=data.get("sort") or "rate",
        )


class PreferencesForm(forms.Form):
    min_hourly = forms.CharField(
        label="Hide work paying less than ($/h)",
        required=False,
        max_length=20,
        help_text="Leave empty to see everything. Applies to the task browser.",
    )
    accept_next = forms.BooleanField(
        label="Accept next: after I submit, open the next task of the same project",
        required=False,
    )
    daily_cap_minutes = forms.IntegerField(
        label="Daily time cap (minutes)",
        required=False,
        min_value=1,
        max_value=24 * 60,
        help_text="We tell you to stop once today's work time reaches it. Empty: no cap.",
    )
    daily_cap = forms.CharField(
        label="Daily earnings cap ($)",
        required=False,
        max_length=20,
        help_text="We tell you to stop once today's earnings reach it. Empty: no cap.",
    )
    sprint_minutes = forms.IntegerField(
        label="Sprint length (minutes)", min_value=1, max_value=240, initial=25
    )

    def clean_min_hourly(self) -> int:
        raw = self.cleaned_data.get("min_hourly", "").strip()
        if not raw:
            return 0
        return clean_dollars(
            raw, what="The minimum hourly rate", minimum_cents=0, maximum_cents=MAX_HOURLY_CENTS
        )

    def clean_daily_cap(self) -> int | None:
        raw = self.cleaned_data.get("daily_cap", "").strip()
        if not raw:
            return None
        return clean_dollars(raw, what="The daily earnings cap", maximum_cents=10_000_000)
