from __future__ import annotations

from django import forms

from core.money import clean_dollars


class DollarAmountForm(forms.Form):
    """One amount in dollars, read by the one money parser (``core.money``)."""

    placeholder = "50.00"

    amount = forms.CharField(
        label="Amount (USD)",
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.attrs["placeholder"] = self.placeholder

    def clean_amount(self) -> int:
        return clean_dollars(self.cleaned_data["amount"], what="The amount")


class AddFundsForm(DollarAmountForm):
    placeholder = "50.00"


class WithdrawForm(DollarAmountForm):
    placeholder = "10.00"
