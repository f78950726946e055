"""The columns an export can have: every standard contact field, tags, status, validation,
timestamps and the tenant's custom fields (`custom.<key>`), each with the SQL that reads it.

Text columns are neutralised in SQL (see safety.py), so that PostgreSQL's COPY writes a safe
CSV by itself; the JSON formats take the raw, typed values.
"""

from __future__ import annotations

from dataclasses import dataclass

from contacts.fields import KEY_PATTERN
from contacts.models import CustomField
from imports.exports.safety import neutralise_sql

CUSTOM_PREFIX = "custom."
TEXT_COLUMNS = (
    "email", "first_name", "last_name", "company", "job_title", "phone", "website", "city",
    "country",
)
_ISO = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
# Tags come from one aggregate per chunk joined to the contacts (see writers.chunk_sql): 3×
# faster than a subquery per contact, at 100,000 contacts a chunk.
TAGS_AGGREGATES = {
    "tg.text": "string_agg(t.name, ', ' ORDER BY lower(t.name)) AS text",
    "tg.list": "json_agg(t.name ORDER BY lower(t.name)) AS list",
}
TAGS_JOIN = (
    "LEFT JOIN (SELECT ct.contact_id, {aggregates} FROM contacts_contacttag ct "
    "JOIN contacts_tag t ON t.id = ct.tag_id WHERE ct.contact_id > %s AND ct.contact_id <= %s "
    "GROUP BY ct.contact_id) tg ON tg.contact_id = c.id"
)
TAGS_TEXT_SQL = "coalesce(tg.text, '')"
TAGS_JSON_SQL = "coalesce(tg.list, '[]')"

# key → (label, kind). Kinds: text (neutralised), plain (needs no neutralising), datetime, id.
STANDARD: dict[str, tuple[str, str]] = {
    "id": ("Id", "id"),
    "email": ("Email", "text"),
    "first_name": ("First name", "text"),
    "last_name": ("Last name", "text"),
    "company": ("Company", "text"),
    "job_title": ("Job title", "text"),
    "phone": ("Phone", "text"),
    "website": ("Website", "text"),
    "city": ("City", "text"),
    "country": ("Country", "text"),
    "tags": ("Tags", "tags"),
    "status": ("Status", "plain"),
    "validation_status": ("Validation status", "plain"),
    "validation_reason": ("Validation reason", "text"),
    "source": ("Source", "text"),
    "created_at": ("Created", "datetime"),
    "updated_at": ("Updated", "datetime"),
}
DEFAULT_STANDARD = [
    "email", "first_name", "last_name", "company", "job_title", "phone", "website", "city",
    "country", "tags", "status", "validation_status", "created_at",
]


class ColumnError(ValueError):
    """An unknown or repeated column; str() is for the user."""


@dataclass(frozen=True)
class Column:
    key: str  # "email", "custom.seats"
    header: str  # first row of CSV / XLSX: the field's name, or a custom field's key
    label: str  # for people (the export form)
    kind: str  # id | text | plain | tags | datetime | number | boolean | date
    text_sql: str  # text for CSV / XLSX, neutralised where needed
    json_sql: str  # typed value for JSON (and numbers / booleans for XLSX)

    @property
    def is_custom(self) -> bool:
        return self.key.startswith(CUSTOM_PREFIX)


def _standard(key: str) -> Column:
    label, kind = STANDARD[key]
    if kind == "tags":
        return Column(key, key, label, kind, neutralise_sql(TAGS_TEXT_SQL), TAGS_JSON_SQL)
    if kind == "datetime":
        text = f"to_char(c.{key} AT TIME ZONE 'UTC', {_ISO})"
        return Column(key, key, label, kind, text, text)
    if kind == "id":
        return Column(key, key, label, kind, "c.id::text", "c.id")
    raw = f"c.{key}"
    return Column(key, key, label, kind, neutralise_sql(raw) if kind == "text" else raw, raw)


def _custom(field: CustomField) -> Column:
    if not KEY_PATTERN.match(field.key):  # keys are inlined in SQL: never anything else
        raise ColumnError(f"Custom field key {field.key!r} cannot be exported.")
    # Neutralised whatever the type: a number or date field could hold text written before
    # its type changed; real numbers, dates and booleans pass unchanged.
    text = neutralise_sql(f"coalesce(c.custom_fields ->> '{field.key}', '')")
    return Column(
        CUSTOM_PREFIX + field.key, field.key, field.label, field.field_type, text,
        f"c.custom_fields -> '{field.key}'",
    )


def available_columns(custom_fields: list[CustomField] | None = None) -> list[Column]:
    """Every column, standard ones first, then custom fields in their order."""
    if custom_fields is None:
        custom_fields = list(CustomField.objects.all())
    return [_standard(key) for key in STANDARD] + [_custom(f) for f in custom_fields]


def default_column_keys(custom_fields: list[CustomField] | None = None) -> list[str]:
    if custom_fields is None:
        custom_fields = list(CustomField.objects.all())
    return DEFAULT_STANDARD + [CUSTOM_PREFIX + f.key for f in custom_fields]


def resolve_columns(keys: list[str]) -> list[Column]:
    """The columns named by `keys`, in that order. Raises ColumnError."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ColumnError("Columns must be a list of column names.")
    if not keys:
        raise ColumnError("Choose at least one column.")
    by_key = {column.key: column for column in available_columns()}
    seen: set[str] = set()
    for key in keys:
        if key not in by_key:
            raise ColumnError(f'Unknown column "{key[:100]}".')
        if key in seen:
            raise ColumnError(f'The column "{key}" is chosen twice.')
        seen.add(key)
    return [by_key[key] for key in keys]
