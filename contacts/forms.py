"""Forms of the contact pages. They validate input; services do every write (and the checks
that need the database, such as duplicate emails)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts import fields as field_services
from contacts.models import Contact, ContactStatus, CustomField, CustomFieldType
from contacts.selectors import SORTS
from contacts.services import TEXT_FIELDS, clean_tag_names
from engagement.models import ScoreBand
from engagement.scoring import MAX_SCORE

CF_PREFIX = "cf_"

# key → (heading, sort key or "") of the built-in columns of the contact table.
STANDARD_COLUMNS: dict[str, tuple[str, str]] = {
    "email": ("Email", "email"),
    "name": ("Name", "name"),
    "company": ("Company", "company"),
    "job_title": ("Job title", ""),
    "phone": ("Phone", ""),
    "website": ("Website", ""),
    "city": ("City", ""),
    "country": ("Country", ""),
    "status": ("Status", ""),
    "score": ("Score", "score"),
    "validation": ("Validation", ""),
    "tags": ("Tags", ""),
    "source": ("Source", ""),
    "created": ("Created", "created"),
    "updated": ("Updated", "updated"),
}
DEFAULT_COLUMNS = ["email", "name", "company", "status", "score", "tags", "created"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class ContactFilterForm(forms.Form):
    """The GET form above the contact table. Invalid fields are reported and ignored."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Email, name or company", "autocomplete": "off"}
        ),
    )
    tag = forms.ChoiceField(label="Tag", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *ContactStatus.choices]
    )
    created_from = forms.DateField(label="Created from", required=False, widget=DateInput())
    created_to = forms.DateField(label="Created to", required=False, widget=DateInput())
    score_band = forms.ChoiceField(
        label="Score", required=False, choices=[("", "Any score"), *ScoreBand.choices]
    )
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORTS])

    FILTERS = ("q", "tag", "status", "created_from", "created_to", "score_band")

    def __init__(self, *args, tag_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [("", "Any tag"), *((n, n) for n in tag_names)]

    def filters(self) -> dict[str, Any]:
        """The valid, non-empty filters, as keyword arguments of selectors.filter_contacts."""
        self.is_valid()
        data = {k: v for k, v in self.cleaned_data.items() if k in self.FILTERS and v}
        if "q" in data:
            data["search"] = data.pop("q")
        return data


class ScoreOverrideForm(forms.Form):
    """Pin a contact's lead score by hand (engagement.scoring.set_score_override checks the
    expiry against the clock)."""

    score = forms.IntegerField(
        label="Score", min_value=0, max_value=MAX_SCORE,
        error_messages={"invalid": "Enter the score as a whole number, for example 60.",
                        "required": "Enter the score to pin."},
    )
    reason = forms.CharField(
        label="Reason", max_length=200,
        error_messages={"required": "Give a reason for the override."},
    )
    until = forms.DateTimeField(
        label="Until", required=False, help_text="Empty: until someone removes it.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, for example 2030-05-01 14:00."},
    )

    def clean_until(self):
        # The service checks again at write time; this shows the error with the others.
        until = self.cleaned_data["until"]
        if until is not None and until <= timezone.now():
            raise ValidationError("The override must end in the future.")
        return until


def column_choices(custom_fields: list[CustomField]) -> list[tuple[str, str]]:
    """Every column the table can show: built-in ones, then the tenant's custom fields."""
    choices = [(key, heading) for key, (heading, _sort) in STANDARD_COLUMNS.items()]
    choices += [(f"{CF_PREFIX}{f.key}", f.label) for f in custom_fields]
    return choices


class ColumnsForm(forms.Form):
    columns = forms.MultipleChoiceField(
        label="Columns", required=False, widget=forms.CheckboxSelectMultiple
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, custom_fields: list[CustomField], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["columns"].choices = [
            c for c in column_choices(custom_fields) if c[0] != "email"
        ]

    def clean_columns(self) -> list[str]:
        # Email is always the first column: it is the link to the profile.
        return ["email", *self.cleaned_data["columns"]]


def custom_form_field(definition: CustomField) -> forms.Field:
    """The form field (and input type) for one custom field definition."""
    common = {"label": definition.label, "required": False}
    if definition.field_type == CustomFieldType.NUMBER:
        return forms.DecimalField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
    if definition.field_type == CustomFieldType.DATE:
        return forms.DateField(**common, widget=DateInput())
    if definition.field_type == CustomFieldType.BOOLEAN:
        return forms.BooleanField(**common)
    return forms.CharField(**common, max_length=1000)


class ContactForm(forms.Form):
    email = forms.CharField(
        label="Email",
        max_length=254,
        # type=email would let the browser refuse valid addresses (quoted local parts, IDN);
        # the service checks the syntax and reports the exact problem.
        widget=forms.TextInput(attrs={"inputmode": "email", "autocomplete": "off"}),
    )
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    company = forms.CharField(label="Company", max_length=200, required=False)
    job_title = forms.CharField(label="Job title", max_length=200, required=False)
    phone = forms.CharField(label="Phone", max_length=50, required=False)
    website = forms.CharField(label="Website", max_length=300, required=False)
    city = forms.CharField(label="City", max_length=120, required=False)
    country = forms.CharField(label="Country", max_length=120, required=False)
    status = forms.ChoiceField(label="Status", choices=ContactStatus.choices)
    tags = forms.CharField(
        label="Tags",
        required=False,
        max_length=2000,
        help_text="Separate tags with commas, for example: customer, vip.",
    )

    def __init__(
        self, *args, custom_fields: list[CustomField], contact: Contact | None = None, **kwargs
    ):
        self.custom_fields = custom_fields
        self.contact = contact
        bound = (args[0] if args else kwargs.get("data")) is not None
        if contact is not None and not bound:
            kwargs["initial"] = initial_for(contact, custom_fields)
        super().__init__(*args, **kwargs)
        for definition in custom_fields:
            self.fields[CF_PREFIX + definition.key] = custom_form_field(definition)

    @property
    def custom_field_items(self) -> list[forms.BoundField]:
        return [self[CF_PREFIX + d.key] for d in self.custom_fields]

    @property
    def standard_items(self) -> list[forms.BoundField]:
        return [self[name] for name in ("email", *TEXT_FIELDS, "status")]

    def clean_tags(self) -> list[str]:
        try:
            return clean_tag_names(self.cleaned_data["tags"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def contact_data(self) -> dict[str, Any]:
        """The cleaned values in the shape services.create_contact / update_contact take."""
        data = {name: self.cleaned_data[name] for name in ("email", *TEXT_FIELDS, "status")}
        current = (self.contact.custom_fields if self.contact else None) or {}
        values = {}
        for definition in self.custom_fields:
            value = self.cleaned_data.get(CF_PREFIX + definition.key)
            # An unticked box on a contact that never had the field means "not set", so
            # opening and saving the form does not invent a "No" in the history.
            if value is False and definition.key not in current:
                value = None
            values[definition.key] = value
        if values:
            data["custom_fields"] = values
        return data

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a ValidationError raised by a service on the matching fields."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, errors in error.message_dict.items():
            target = name
            if name.startswith("custom_fields."):
                target = CF_PREFIX + name.removeprefix("custom_fields.")
            self.add_error(target if target in self.fields else None, errors)


def initial_for(contact: Contact, custom_fields: list[CustomField]) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(contact, name) for name in ("email", *TEXT_FIELDS, "status")
    }
    initial["tags"] = ", ".join(t.name for t in contact.tags.all())
    values = contact.custom_fields or {}
    for definition in custom_fields:
        if definition.key in values:
            initial[CF_PREFIX + definition.key] = values[definition.key]
    return initial


class CustomFieldForm(forms.Form):
    key = forms.CharField(
        label="Key",
        max_length=50,
        help_text="Used in imports and the API; lower-case letters, digits and underscores. "
        "It can't be changed later.",
    )
    label = forms.CharField(label="Label", max_length=100)
    field_type = forms.ChoiceField(label="Type", choices=CustomFieldType.choices)
    position = forms.IntegerField(
        label="Position",
        required=False,
        min_value=0,
        max_value=10_000,
        help_text="Fields are listed in ascending position. Leave empty to place it last.",
    )

    def __init__(self, *args, field: CustomField | None = None, **kwargs):
        self.field = field
        if field is not None:
            # Also when bound: the disabled key field takes its value from `initial`.
            kwargs["initial"] = {
                "key": field.key,
                "label": field.label,
                "field_type": field.field_type,
                "position": field.position,
            }
        super().__init__(*args, **kwargs)
        if field is not None:
            # The key is shown but not editable; a disabled field ignores posted values.
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "Used in imports and the API; it can't be changed."
            self.fields[
                "position"
            ].help_text = (
                "Fields are listed in ascending position. Leave empty to keep it where it is."
            )

    def clean_key(self) -> str:
        if self.field is not None:
            return self.field.key
        return field_services.clean_field_key(self.cleaned_data["key"])

    def clean_label(self) -> str:
        label = self.cleaned_data["label"].strip()
        if not label:
            raise ValidationError("Enter a label.")
        return label

    def clean_field_type(self) -> str:
        field_type = self.cleaned_data["field_type"]
        if self.field is not None:
            field_services.check_type_change(field=self.field, field_type=field_type)
        return field_type
