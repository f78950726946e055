"""Forms of the bulk pages: which action, and the action's options (list, tags, …)."""

from __future__ import annotations

from django import forms

from contacts.models import BulkKind, ContactStatus

EXPORT = "export"
ACTION_CHOICES = [*BulkKind.choices[:-1], (EXPORT, "Export"), BulkKind.choices[-1]]
# Which option fields each action asks for on its confirmation page.
OPTION_FIELDS = {
    BulkKind.ADD_TO_LIST: ("list_id", "new_list"),
    BulkKind.REMOVE_FROM_LIST: ("list_id",),
    BulkKind.ADD_TO_CAMPAIGN: ("campaign_id",),
    BulkKind.ADD_TAGS: ("tags",),
    BulkKind.REMOVE_TAGS: ("tags",),
    BulkKind.CHANGE_STATUS: ("status",),
    BulkKind.DELETE: (),
    EXPORT: ("file_format",),
}


class BulkOptionsForm(forms.Form):
    """The action's options. Choices of lists and campaigns are filled by the view; the
    service checks again that what was chosen still exists."""

    # Plain text behind a select: a list deleted since the page was shown must reach the
    # service, which says so, rather than fail as "not one of the choices".
    list_id = forms.CharField(label="List", required=False, widget=forms.Select)
    new_list = forms.CharField(
        label="…or a new list named", required=False, max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    campaign_id = forms.CharField(label="Campaign", required=False, widget=forms.Select)
    tags = forms.CharField(
        label="Tags", required=False, max_length=2000, help_text="Separate tags with commas.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    status = forms.ChoiceField(
        label="New status", required=False, choices=[("", "Choose…"), *ContactStatus.choices]
    )
    file_format = forms.ChoiceField(
        label="Format", required=False,
        choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("json", "JSON")],
    )

    def __init__(self, *args, action: str, lists=(), campaigns=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.action = action
        self.fields["list_id"].widget.choices = [
            ("", "Choose a list…"), *((str(item.pk), item.name) for item in lists)
        ]
        self.fields["campaign_id"].widget.choices = [
            ("", "Choose a campaign…"), *((str(item.pk), item.name) for item in campaigns)
        ]
        for name in list(self.fields):
            if name not in OPTION_FIELDS[action]:
                del self.fields[name]

    def options(self) -> dict:
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
