"""Forms of the webhook pages: they validate and never write (the service checks again)."""

from django import forms

from webhooks import security
from webhooks.models import EVENT_KINDS


class EndpointForm(forms.Form):
    url = forms.CharField(label="URL",  # length checked by security.clean_url, with its message
                          help_text="http:// or https:// address that receives the events.")
    kinds = forms.MultipleChoiceField(
        label="Events", choices=[(k, k) for k in EVENT_KINDS],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event kind."},
    )
    description = forms.CharField(max_length=200, required=False)

    def clean_url(self) -> str:
        return security.clean_url(self.cleaned_data["url"])
