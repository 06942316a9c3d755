from __future__ import annotations

from django import forms

from core.money import clean_dollars


class DollarAmountForm(forms.Form):
    """One amount in dollars, read by the one money parser (``core.money``). No
    placeholder: a grey "10.00" in the box reads as a value already filled in; the help
    text under the field says what to enter."""

    amount = forms.CharField(
        label="Amount (USD)",
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def clean_amount(self) -> int:
        return clean_dollars(self.cleaned_data["amount"], what="The amount")


class AddFundsForm(DollarAmountForm):
    pass


class WithdrawForm(DollarAmountForm):
    pass
