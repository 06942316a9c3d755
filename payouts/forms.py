from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms


class AddFundsForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        max_length=12,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "50.00"}
        ),
    )

    def clean_amount(self) -> int:
        """Dollars as typed ("25", "25.5", "25.50", "$1,000") → integer cents."""
        raw = self.cleaned_data["amount"].strip().replace("$", "").replace(",", "")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise forms.ValidationError("Enter an amount in dollars, e.g. 25.00.") from None
        if not value.is_finite() or value != value.quantize(Decimal("0.01")):
            raise forms.ValidationError("Use at most two decimals (cents).")
        return int(value * 100)
