from __future__ import annotations

from django import forms

from core.errors import ApplicationError
from marketplace.services import user_set_roles


class RoleSignupForm(forms.Form):
    """Extra fields on allauth's signup form: which role(s) the person signs up for."""

    ROLE_CHOICES = [
        ("worker", "Worker: find tasks and get paid"),
        ("requester", "Requester: post tasks and get results"),
        ("both", "Both"),
    ]
    display_name = forms.CharField(max_length=80, required=False, label="Display name")
    role = forms.ChoiceField(
        choices=ROLE_CHOICES, widget=forms.RadioSelect, initial="worker", label="I want to"
    )

    def signup(self, request, user) -> None:  # called by allauth after the user is saved
        role = self.cleaned_data["role"]
        user.display_name = self.cleaned_data.get("display_name", "")
        user.save(update_fields=["display_name"])
        try:
            user_set_roles(
                user=user,
                worker=role in ("worker", "both"),
                requester=role in ("requester", "both"),
            )
        except ApplicationError as exc:  # pragma: no cover - choices make this unreachable
            raise forms.ValidationError(exc.message) from exc
