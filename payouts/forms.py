from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms


def parse_dollars(raw: str, *, what: str = "The reward") -> int:
    """Dollars as typed ("0.15", "$1", "1,000.50") → integer cents. Raises
    ``forms.ValidationError`` with a message that says what is wrong."""
    text = (raw or "").strip().replace("$", "").replace(",", "").strip()
    if not text:
        raise forms.ValidationError(f"{what} is required.", code="required")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise forms.ValidationError(
            f"{what} must be an amount in dollars, e.g. 0.15.", code="invalid"
        ) from None
    if not value.is_finite():
        raise forms.ValidationError(
            f"{what} must be an amount in dollars, e.g. 0.15.", code="invalid"
        )
    if value < 0:
        raise forms.ValidationError(f"{what} cannot be negative.", code="invalid")
    if value == 0:
        raise forms.ValidationError(f"{what} must be at least $0.01.", code="invalid")
    if value != value.quantize(Decimal("0.01")):
        raise forms.ValidationError(
            "Use at most two decimals (whole cents), e.g. 0.15.", code="invalid"
        )
    return int(value * 100)


class AddFundsForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        max_length=12,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "50.00"}
        ),
    )

    def clean_amount(self) -> int:
        return parse_dollars(self.cleaned_data["amount"], what="The amount")
