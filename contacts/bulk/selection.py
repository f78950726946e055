"""What the user selected in a contact table: explicit ids (checkboxes), or every contact
matching the table's search/filters ("select all N matching"), optionally within a static list.

A Selection is plain data (JSON-serialisable); its contacts are computed in SQL whenever asked,
so a bulk job sees the contacts as they are when it runs, not when it was queued."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict

from contacts.forms import ContactFilterForm
from contacts.models import Contact, Tag
from contacts.selectors import filter_contacts

MAX_EXPLICIT_IDS = 10_000
TOO_MANY_IDS = (
    f"You can pick at most {MAX_EXPLICIT_IDS:,} contacts one by one. To act on more, use "
    "“Select all matching” above the table."
)
NOTHING_SELECTED = "Select at least one contact first."
LIST_GONE = "That list no longer exists; it may have been deleted."
SEGMENT_GONE = "That segment no longer exists; it may have been deleted."
FILTER_KEYS = ContactFilterForm.FILTERS


@dataclass
class Selection:
    """`ids` (explicit, may be empty) or `all_matching` with `filters` (the raw values of the
    contact table's filter form: q, tag, status, created_from, created_to); `list_id` limits
    either to the members of one static list, `segment_id` to those of one dynamic segment."""

    ids: list[int] = field(default_factory=list)
    all_matching: bool = False
    filters: dict[str, str] = field(default_factory=dict)
    list_id: int | None = None
    segment_id: int | None = None

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_data(cls, data: QueryDict | dict) -> Selection:
        """From the bulk form: `ids` (repeated or comma-separated), or `all=1` plus the filter
        fields; `scope_list_id` for a list page. Raises ValidationError with the user's message."""
        get = data.getlist if hasattr(data, "getlist") else (lambda k: _as_list(data.get(k)))
        list_id = _positive_int(data.get("scope_list_id"), "list")
        segment_id = _positive_int(data.get("scope_segment_id"), "segment")
        filters = {k: str(data.get(k)).strip() for k in FILTER_KEYS if data.get(k)}
        if str(data.get("all", "")) in ("1", "true", "on"):
            return cls(all_matching=True, filters=filters, list_id=list_id,
                       segment_id=segment_id)
        ids = parse_ids(get("ids"))
        if not ids:
            raise ValidationError(NOTHING_SELECTED)
        return cls(ids=ids, list_id=list_id, segment_id=segment_id)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Selection:
        return cls(
            ids=[int(i) for i in data.get("ids") or []],
            all_matching=bool(data.get("all_matching")),
            filters={k: v for k, v in (data.get("filters") or {}).items() if k in FILTER_KEYS},
            list_id=data.get("list_id"),
            segment_id=data.get("segment_id"),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "all_matching": self.all_matching,
            "filters": self.filters,
            "list_id": self.list_id,
            "segment_id": self.segment_id,
        }

    # --- evaluating -------------------------------------------------------------------------

    def filter_kwargs(self) -> dict[str, Any]:
        """The filters validated again (a tag may have been deleted since): keyword arguments
        of contacts.selectors.filter_contacts."""
        if not self.filters:
            return {}
        form = ContactFilterForm(
            self.filters, tag_names=list(Tag.objects.values_list("name", flat=True))
        )
        return form.filters()

    def base_queryset(self) -> QuerySet[Contact]:
        if self.segment_id is not None:
            return self._segment_members()
        if self.list_id is None:
            return Contact.objects.all()
        from segments.models import StaticList
        from segments.selectors import list_members

        static_list = StaticList.objects.filter(pk=self.list_id).first()
        if static_list is None:
            raise ValidationError(LIST_GONE)
        return list_members(static_list)

    def _segment_members(self) -> QuerySet[Contact]:
        from segments.models import Segment
        from segments.selectors import segment_members

        segment = Segment.objects.filter(pk=self.segment_id).first()
        if segment is None:
            raise ValidationError(SEGMENT_GONE)
        return segment_members(segment)

    def queryset(self) -> QuerySet[Contact]:
        """The selected contacts that exist now (this tenant's schema only)."""
        qs = self.base_queryset()
        if self.all_matching:
            return filter_contacts(qs, **self.filter_kwargs())
        return qs.filter(pk__in=self.ids)

    def ids_sql(self) -> tuple[str, list]:
        """A SELECT of one column `id` giving the selected contacts, and its parameters."""
        sql, params = self.queryset().order_by().values("pk").query.sql_with_params()
        return f"SELECT q.pk AS id FROM ({sql}) q", list(params)

    def as_export_source(self) -> dict[str, Any]:
        """The `source` argument of imports.exports.services.start_export."""
        if not self.all_matching:
            return {"kind": "ids", "ids": self.ids, "label": self.label()}
        if self.segment_id is not None:
            if not self.filters:
                return {"kind": "segment", "segment_id": self.segment_id, "label": self.label()}
            # Filters within a segment: its matching members, by id (re-read when exported).
            ids = list(self.queryset().order_by("pk").values_list("pk", flat=True))
            return {"kind": "ids", "ids": ids, "label": self.label()}
        if self.list_id is not None and not self.filters:
            return {"kind": "list", "list_id": self.list_id, "label": self.label()}
        filters = {k: v.isoformat() if hasattr(v, "isoformat") else v
                   for k, v in self.filter_kwargs().items()}
        source = {"kind": "filter", "filters": filters, "label": self.label()}
        if self.list_id is not None:
            source["list_id"] = self.list_id
        return source

    def label(self) -> str:
        """A short description for reports and history ("12 selected contacts", …)."""
        if not self.all_matching:
            n = len(self.ids)
            where = (" in a segment" if self.segment_id is not None
                     else " in a list" if self.list_id is not None else "")
            return f"{n:,} selected contact{'s' if n != 1 else ''}{where}"
        parts = [f"{k.replace('_', ' ')}: {v}" for k, v in self.filters.items()]
        what = "All contacts" + (f" of list #{self.list_id}" if self.list_id is not None else "")
        what += f" of segment #{self.segment_id}" if self.segment_id is not None else ""
        return what + (f" matching {', '.join(parts)}" if parts else "")


def parse_ids(values: list[Any]) -> list[int]:
    """Ids from form values ("1,2,3" or repeated fields), distinct and sorted. Raises
    ValidationError beyond MAX_EXPLICIT_IDS or on anything that is not a positive integer."""
    ids: set[int] = set()
    for value in values:
        for part in str(value).replace(" ", ",").split(","):
            if not part:
                continue
            if not part.isdigit() or len(part) > 18:
                raise ValidationError("The selection is not valid; reload the page and try again.")
            ids.add(int(part))
            if len(ids) > MAX_EXPLICIT_IDS:
                raise ValidationError(TOO_MANY_IDS)
    return sorted(i for i in ids if i > 0)


def _positive_int(value: Any, what: str) -> int | None:
    if value in (None, ""):
        return None
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise ValidationError(f"The {what} is not valid; reload the page and try again.")
    return int(text)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
