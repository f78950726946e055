"""Forms of the list and campaign pages. They validate; the services write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from imports.forms import ACCEPTED_EXTENSIONS, UploadForm
from segments.models import CampaignStatus, StaticList
from segments.services import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, clean_list_name


class ListForm(forms.Form):
    name = forms.CharField(label="Name", max_length=MAX_NAME_LENGTH,
                           error_messages={"required": "A list needs a name."})
    description = forms.CharField(
        label="Description", required=False, max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ListFromCsvForm(UploadForm):
    """A new list, filled from a file through the import pipeline."""

    name = forms.CharField(label="Name of the new list", max_length=MAX_NAME_LENGTH,
                           error_messages={"required": "A list needs a name."})
    field_order = ["name", "file"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["accept"] = ",".join(ACCEPTED_EXTENSIONS)


class MembershipForm(forms.Form):
    """Add the contact of a profile to a list (existing or new), or remove it from one."""

    action = forms.ChoiceField(choices=[("add", "Add"), ("remove", "Remove")])
    list_id = forms.IntegerField(required=False, min_value=1)
    new_list = forms.CharField(required=False, max_length=MAX_NAME_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if data.get("action") == "add" and data.get("new_list", "").strip():
            data["new_list"] = clean_list_name(data["new_list"])
        elif not data.get("list_id"):
            raise ValidationError("Choose a list.")
        return data


class CampaignForm(forms.Form):
    name = forms.CharField(label="Name", max_length=MAX_NAME_LENGTH,
                           error_messages={"required": "A campaign needs a name."})
    status = forms.ChoiceField(label="Status", choices=CampaignStatus.choices,
                               initial=CampaignStatus.DRAFT)


class CampaignTargetsForm(forms.Form):
    targets = forms.ModelMultipleChoiceField(
        label="Send to the members of", queryset=StaticList.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    exclusions = forms.ModelMultipleChoiceField(
        label="Except the members of", queryset=StaticList.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    target_segments = forms.ModelMultipleChoiceField(
        label="…and of the segments", queryset=StaticList.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    exclude_segments = forms.ModelMultipleChoiceField(
        label="…and of the segments", queryset=StaticList.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, lists, segments=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("targets", "exclusions"):
            self.fields[name].queryset = lists
            self.fields[name].error_messages["invalid_choice"] = (
                "One of the lists chosen no longer exists; it may have been deleted."
            )
            self.fields[name].error_messages["invalid_pk_value"] = "Not a list."
        for name in ("target_segments", "exclude_segments"):
            self.fields[name].queryset = segments if segments is not None else (
                StaticList.objects.none())
            self.fields[name].error_messages["invalid_choice"] = (
                "One of the segments chosen no longer exists; it may have been deleted."
            )
            self.fields[name].error_messages["invalid_pk_value"] = "Not a segment."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        both = set(data.get("targets") or []) & set(data.get("exclusions") or [])
        if both:
            names = ", ".join(sorted(f"“{lst.name}”" for lst in both))
            raise ValidationError(f"A list can't be both a target and an exclusion: {names}.")
        both = set(data.get("target_segments") or []) & set(data.get("exclude_segments") or [])
        if both:
            names = ", ".join(sorted(f"“{s.name}”" for s in both))
            raise ValidationError(
                f"A segment can't be both a target and an exclusion: {names}.")
        return data
