"""Forms of the sign-in pages and the Team settings. They validate; services write."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from penguinleads.accounts.models import Role, User


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in with email and password; the message says which workspace was asked, because a
    user of another workspace typing the right password here is the usual mistake."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That email and password do not match an active account in this workspace."
        ),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "type": "email"})


def role_choices_for(actor: User) -> list[tuple[str, str]]:
    """Roles `actor` may hand out: only owners make owners."""
    return [
        (value, label)
        for value, label in Role.choices
        if value != Role.OWNER or actor.can("manage_owners")
    ]


class AddMemberForm(forms.Form):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(label="Name", max_length=200, required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MARKETER)
    password = forms.CharField(
        label="Initial password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to email them a link to choose their own password.",
    )

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices_for(actor)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(f"{email} is already a member of this workspace.")
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, actor: User, member: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices_for(actor)
        self.fields["role"].initial = member.role


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Say where the key is used, e.g. “Zapier” or “CRM sync”.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name
