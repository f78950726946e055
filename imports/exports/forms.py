"""The export form: format, columns and what to export (a JSON source, see sources.py)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from contacts.models import CustomField
from imports.exports.columns import available_columns, default_column_keys
from imports.exports.sources import FILTER_KEYS, SourceError, clean_source
from imports.models import ExportFormat

FORMAT_HELP = {
    "csv": "Opens in any spreadsheet; the fastest for big exports.",
    "xlsx": "An Excel workbook (at most 1,048,575 contacts).",
    "json": "One JSON array, for small exports and scripts.",
    "jsonl": "One JSON object a line: best for big exports into other systems.",
}


class ExportForm(forms.Form):
    file_format = forms.ChoiceField(
        label="Format", choices=ExportFormat.choices, initial=ExportFormat.CSV,
        widget=forms.RadioSelect,
    )
    columns = forms.MultipleChoiceField(
        label="Columns", widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one column."},
    )
    scope = forms.ChoiceField(
        label="Contacts", choices=[("source", "source"), ("all", "All contacts")],
        initial="source", widget=forms.RadioSelect, required=False,
    )
    source = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, custom_fields: list[CustomField], **kwargs):
        super().__init__(*args, **kwargs)
        columns = available_columns(custom_fields)
        self.fields["columns"].choices = [
            (c.key, f"{c.label} (custom)" if c.is_custom else c.label) for c in columns
        ]
        self.fields["columns"].initial = default_column_keys(custom_fields)

    def clean_source(self) -> dict[str, Any]:
        text = self.cleaned_data["source"] or '{"kind": "all"}'
        try:
            return clean_source(json.loads(text))
        except json.JSONDecodeError:
            raise ValidationError("The contacts to export are not understood.") from None
        except SourceError as exc:
            raise ValidationError(str(exc)) from None

    def export_source(self) -> dict[str, Any]:
        """The source to export: the given one, or all contacts when the user chose so."""
        if self.cleaned_data.get("scope") == "all":
            return {"kind": "all"}
        return self.cleaned_data["source"]


def source_from_query(query: QueryDict) -> dict[str, Any]:
    """The source a link to the export page describes: `segment` (a segment id, exported
    whole), `list` (a list id), `ids` (repeated or
    comma-separated), the contact table's filters (q, tag, status, created_from, created_to),
    or nothing (all contacts). Not validated here: clean_source does that."""
    filters = {
        ("search" if key == "q" else key): query[key]
        for key in ("q", *FILTER_KEYS) if query.get(key) and key != "search"
    }
    list_id = query.get("list")
    if query.get("segment"):
        return {"kind": "segment", "segment_id": _as_int(query["segment"])}
    ids = [part for value in query.getlist("ids") for part in value.split(",") if part.strip()]
    if ids:
        return {"kind": "ids", "ids": [_as_int(i) for i in ids]}
    if filters:
        source: dict[str, Any] = {"kind": "filter", "filters": filters}
        if list_id:
            source["list_id"] = _as_int(list_id)
        return source
    if list_id:
        return {"kind": "list", "list_id": _as_int(list_id)}
    return {"kind": "all"}


def _as_int(value: str) -> int | str:
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else value
