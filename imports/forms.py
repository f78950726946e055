"""Forms of the import pages. They validate what the browser sent; the services in
imports/services.py read the file, check the mapping against it and do every write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from contacts.models import CustomField, CustomFieldType
from contacts.services import clean_tag_names
from imports.mapping import TARGETS
from imports.models import STRATEGY_HELP, ImportJob, Strategy

ACCEPTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".xls")
ACCEPTED_FORMATS = "CSV, TSV or TXT (any delimiter), Excel XLSX or XLS"
IGNORE = "ignore"
ENCODINGS = [
    ("utf-8", "UTF-8"),
    ("utf-8-sig", "UTF-8 with BOM"),
    ("utf-16", "UTF-16"),
    ("cp1252", "Windows-1252 (Western European)"),
    ("latin-1", "Latin-1 (ISO-8859-1)"),
]
DELIMITERS = [(",", "Comma  ,"), (";", "Semicolon  ;"), ("\t", "Tab"), ("|", "Pipe  |")]
QUOTECHARS = [('"', 'Double quote  "'), ("'", "Single quote  '")]
SPREADSHEET_FORMATS = {"xlsx", "xls"}


def format_bytes(size: int) -> str:
    """512 * 1024 * 1024 → "512 MB" (the way people read upload limits)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


class UploadForm(forms.Form):
    """The file only. The size is checked here, before the service is called, so an oversize
    upload gets the same message with or without JavaScript."""

    file = forms.FileField(
        label="File",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_EXTENSIONS)}),
        error_messages={
            "required": "Choose a file to import.",
            "empty": "This file is empty.",
        },
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"This file is {format_bytes(upload.size)}; the limit is {format_bytes(limit)}. "
                "Split it into smaller files, or remove columns you don't need."
            )
        return upload


class ReadSettingsForm(forms.Form):
    """How to read the file: changing any of these re-reads the preview. CSV files get
    encoding, delimiter and quote character; spreadsheets get the sheet."""

    encoding = forms.ChoiceField(label="Encoding", choices=ENCODINGS)
    delimiter = forms.ChoiceField(label="Delimiter", choices=DELIMITERS)
    quotechar = forms.ChoiceField(label="Quote character", choices=QUOTECHARS)
    header_row = forms.IntegerField(
        label="Header row",
        min_value=0,
        max_value=1000,
        help_text="The line with the column names; 0 if the file has none.",
    )
    sheet = forms.ChoiceField(label="Sheet", required=False)

    def __init__(self, *args: Any, job: ImportJob, **kwargs: Any) -> None:
        current = job.read_settings or {}
        kwargs.setdefault("initial", {k: current.get(k) for k in self.base_fields})
        super().__init__(*args, **kwargs)
        self.is_spreadsheet = job.file_format in SPREADSHEET_FORMATS
        if self.is_spreadsheet:
            for name in ("encoding", "delimiter", "quotechar"):
                del self.fields[name]
            sheets = [str(s) for s in current.get("sheets") or []]
            self.fields["sheet"].choices = [(s, s) for s in sheets]
            self.fields["sheet"].required = bool(sheets)
        else:
            del self.fields["sheet"]
            # A sniffed value we do not list (say a colon delimiter) stays selectable.
            for name in ("encoding", "delimiter", "quotechar"):
                _keep_choice(self.fields[name], current.get(name))

    def read_settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k in self.fields}


def _keep_choice(field: forms.ChoiceField, value: Any) -> None:
    if value and value not in {key for key, _label in field.choices}:
        field.choices = [*field.choices, (value, repr(value) if value.isspace() else value)]


def target_label(target: str, custom_labels: dict[str, str]) -> str:
    """What a mapping target is called on the page: "Email", "Plan (custom field)",
    "Plan (new number field)"."""
    if target in TARGETS:
        return TARGETS[target]
    kind, _, rest = target.partition(":")
    if kind == "custom":
        return f"{custom_labels.get(rest, rest)} (custom field)"
    if kind == "new":
        field_type, _, label = rest.partition(":")
        return f"{label} (new {field_type} field)"
    return target


def target_choices(header: str, custom_fields: list[CustomField]) -> list:
    """The <select> above one column: "Don't import", the contact fields, existing custom
    fields, and "New custom field…" of each type named after the column's header."""
    standard = [(key, label) for key, label in TARGETS.items() if key != IGNORE]
    groups: list = [(IGNORE, TARGETS.get(IGNORE, "Don't import")), ("Contact fields", standard)]
    if custom_fields:
        groups.append(("Custom fields", [(f"custom:{f.key}", f.label) for f in custom_fields]))
    groups.append(
        (
            "New custom field…",
            [
                (f"new:{value}:{header}", f"New {label.lower()} field “{header}”")
                for value, label in CustomFieldType.choices
            ],
        )
    )
    return groups


def _flat_values(choices: list) -> set[str]:
    values = set()
    for key, label in choices:
        if isinstance(label, list):  # an <optgroup>: (group name, [(value, label), …])
            values.update(value for value, _label in label)
        else:
            values.add(key)
    return values


class MappingForm(forms.Form):
    """One target per column (col_0, col_1, …) and the options of the import."""

    strategy = forms.ChoiceField(
        label="When a contact already exists",
        choices=Strategy.choices,
        widget=forms.RadioSelect,
    )
    tags = forms.CharField(
        label="Tags to add to every row",
        required=False,
        max_length=1000,
        help_text="Separate tags with commas, e.g. “webinar, 2024”.",
    )
    skip_undeliverable = forms.BooleanField(
        label="Skip rows whose domain is disposable or cannot receive mail",
        required=False,
        help_text="Otherwise these rows are imported and flagged.",
    )
    target_list = forms.ModelChoiceField(
        label="Add the rows to a list",
        queryset=ImportJob.objects.none(),  # set in __init__: the workspace's active lists
        required=False,
        empty_label="No list",
        help_text="Rows that are imported or match an existing contact join the list.",
        error_messages={"invalid_choice": "That list no longer exists; choose another."},
    )
    new_list = forms.CharField(
        label="or a new list named", required=False, max_length=200,
    )
    preset_name = forms.CharField(
        label="Save this mapping as a preset named",
        required=False,
        max_length=100,
        help_text="Files with the same columns will be mapped this way next time.",
    )

    def __init__(
        self, *args: Any, job: ImportJob, custom_fields: list[CustomField], **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "initial",
            {
                "strategy": job.strategy,
                "tags": ", ".join(job.tags or []),
                "skip_undeliverable": job.skip_undeliverable,
                "target_list": job.target_list_id,
            },
        )
        super().__init__(*args, **kwargs)
        self._set_list_choices(job)
        self.headers = [str(h) for h in job.headers or []]
        current = job.mapping or {}
        for index, header in enumerate(self.headers):
            name = header.strip() or f"Column {index + 1}"
            choices = target_choices(name, custom_fields)
            chosen = current.get(str(index), IGNORE)
            if chosen not in _flat_values(choices):  # e.g. a preset's new field named otherwise
                choices.append((chosen, target_label(chosen, {})))
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=f"Column {index + 1} “{name}” imports as",
                choices=choices,
                initial=chosen,
            )

    def _set_list_choices(self, job: ImportJob) -> None:
        from segments.models import StaticList
        from segments.selectors import active_lists

        current = StaticList.objects.filter(pk=job.target_list_id)
        self.fields["target_list"].queryset = (active_lists() | current).order_by("name")

    def clean_new_list(self) -> str:
        from segments.services import clean_list_name

        name = self.cleaned_data["new_list"]
        return clean_list_name(name) if name.strip() else ""

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"col_{index}"] for index in range(len(self.headers))]

    def strategy_options(self) -> list[tuple[Any, str]]:
        """Each radio button with its one-line explanation."""
        return [(radio, STRATEGY_HELP[radio.data["value"]]) for radio in self["strategy"]]

    def clean_tags(self) -> list[str]:
        return clean_tag_names(self.cleaned_data["tags"])

    def mapping(self) -> dict[str, str]:
        return {str(index): self.cleaned_data[f"col_{index}"] for index in range(len(self.headers))}
