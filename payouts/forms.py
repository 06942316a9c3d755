from __future__ import annotations

from django import forms

from core.money import clean_dollars


class AddFundsForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        max_length=12,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "50.00"}
        ),
    )

    def clean_amount(self) -> int:
        return clean_dollars(self.cleaned_data["amount"], what="The amount")


class WithdrawForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        max_length=12,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "10.00"}
        ),
    )

    def clean_amount(self) -> int:
        return clean_dollars(self.cleaned_data["amount"], what="The amount")
