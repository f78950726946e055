"""What an export reads: a JSON-serialisable `source`, checked here and turned into SQL.

    {"kind": "all"}
    {"kind": "filter", "filters": {"search": "acme", "tag": "vip", "status": "active",
                                   "created_from": "2024-01-01", "created_to": "2024-12-31"},
     "list_id": 3}                                  # list_id optional: filter within a list
    {"kind": "list", "list_id": 3}
    {"kind": "ids", "ids": [1, 2, 3]}
    {"kind": "segment", "segment_id": 5}            # members as of its last refresh

plus an optional "label" shown in the export history. The contacts are those that exist when
the export runs (ids of deleted or unknown contacts are skipped).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from contacts.forms import ContactFilterForm
from contacts.models import Contact, Tag
from contacts.selectors import filter_contacts

KINDS = ("all", "filter", "list", "ids", "segment")
FILTER_KEYS = ("search", "tag", "status", "created_from", "created_to", "score_band")
MAX_IDS = 100_000
MAX_LABEL = 255


class SourceError(ValueError):
    """A source that cannot be exported; str() is for the user."""


def clean_source(source: Any) -> dict[str, Any]:
    """The source checked and normalised. Raises SourceError with the user's message."""
    if not isinstance(source, dict):
        raise SourceError('The source must be an object such as {"kind": "all"}.')
    kind = source.get("kind")
    if kind not in KINDS:
        raise SourceError(f"Unknown source kind {str(kind)[:50]!r}; use one of: {', '.join(KINDS)}.")
    cleaned: dict[str, Any] = {"kind": kind}
    if kind == "filter":
        cleaned["filters"] = _clean_filters(source.get("filters"))
    if kind == "list" or (kind == "filter" and source.get("list_id") is not None):
        cleaned["list_id"] = _clean_list_id(source.get("list_id"))
    if kind == "ids":
        cleaned["ids"] = _clean_ids(source.get("ids"))
    if kind == "segment":
        cleaned["segment_id"] = _clean_segment_id(source.get("segment_id"))
    label = source.get("label")
    if label is not None and not isinstance(label, str):
        raise SourceError("The label must be text.")
    cleaned["label"] = (label or "").strip()[:MAX_LABEL] or describe_source(cleaned)
    return cleaned


def _clean_filters(filters: Any) -> dict[str, str]:
    if not isinstance(filters, dict):
        raise SourceError("A filter source needs “filters”: an object of search, tag, status, "
                          "created_from and created_to.")
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise SourceError(f"Unknown filter {unknown[0][:50]!r}; use: {', '.join(FILTER_KEYS)}.")
    values = {k: str(v) for k, v in filters.items() if v not in (None, "")}
    _filter_kwargs(values)  # raises when a value is not valid
    return values


def _filter_kwargs(filters: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments of contacts.selectors.filter_contacts, validated by the contact
    table's own filter form (so the export means exactly what the table showed)."""
    data = {("q" if key == "search" else key): value for key, value in filters.items()}
    form = ContactFilterForm(data, tag_names=list(Tag.objects.values_list("name", flat=True)))
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        name = "search" if field == "q" else field
        raise SourceError(f"Filter “{name}”: {errors[0]}")
    return form.filters()


def _clean_list_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SourceError("“list_id” must be the id of a list.")
    from segments.models import StaticList

    if not StaticList.objects.filter(pk=value).exists():
        raise SourceError(f"There is no list with id {value}.")
    return value


def _clean_segment_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SourceError("“segment_id” must be the id of a segment.")
    from segments.models import Segment

    if not Segment.objects.filter(pk=value).exists():
        raise SourceError(f"There is no segment with id {value}.")
    return value


def _clean_ids(ids: Any) -> list[int]:
    if not isinstance(ids, list) or not ids:
        raise SourceError("An ids source needs “ids”: a list of contact ids.")
    if len(ids) > MAX_IDS:
        raise SourceError(f"At most {MAX_IDS:,} ids can be listed; export a search or a list "
                          "instead.")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
        raise SourceError("“ids” must hold contact ids (positive whole numbers).")
    return sorted(set(ids))


def describe_source(source: dict[str, Any]) -> str:
    kind = source["kind"]
    if kind == "all":
        return "All contacts"
    if kind == "ids":
        count = len(source["ids"])
        return f"{count:,} selected contact{'s' if count != 1 else ''}"
    if kind == "segment":
        from segments.models import Segment

        name = Segment.objects.filter(pk=source["segment_id"]).values_list("name", flat=True)
        return f"Segment “{name.first() or source['segment_id']}”"
    parts = []
    if source.get("list_id"):
        from segments.models import StaticList

        name = StaticList.objects.filter(pk=source["list_id"]).values_list("name", flat=True)
        parts.append(f"List “{name.first() or source['list_id']}”")
    for key, value in (source.get("filters") or {}).items():
        parts.append(f"{key.replace('_', ' ')} “{value}”")
    return " · ".join(parts) or "All contacts"


def source_queryset(source: dict[str, Any]) -> QuerySet[Contact] | None:
    """The contacts of a list / filter / segment source as a queryset; None for all contacts
    and ids."""
    qs = None
    if source["kind"] == "segment":
        from segments.models import Segment
        from segments.selectors import segment_members

        segment = Segment.objects.filter(pk=source["segment_id"]).first()
        if segment is None:
            raise SourceError("The segment of this export no longer exists.")
        return segment_members(segment)
    if source.get("list_id") is not None:
        from segments.models import StaticList
        from segments.selectors import list_members

        static_list = StaticList.objects.filter(pk=source["list_id"]).first()
        if static_list is None:
            raise SourceError("The list of this export no longer exists.")
        qs = list_members(static_list)
    if source["kind"] == "filter":
        qs = filter_contacts(qs, **_filter_kwargs(source.get("filters") or {}))
    return qs


def source_ids_sql(source: dict[str, Any]) -> tuple[str, list] | None:
    """A SELECT of the ids of the source's contacts and its parameters; None for "all"
    (no restriction at all, the fastest plan)."""
    if source["kind"] == "all":
        return None
    if source["kind"] == "ids":
        return "SELECT unnest(%s::bigint[])", [source["ids"]]
    sql, params = source_queryset(source).order_by().values("pk").query.sql_with_params()
    return sql, list(params)
