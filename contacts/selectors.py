"""Reads of the contact table: search, filters, sorts and fast pages at 1M rows."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery
from django.db.models import Exists, OuterRef, Q, QuerySet

from contacts.models import Contact, ContactTag

# sort key → ORDER BY; each has a matching index (see Contact.Meta.indexes).
SORTS: dict[str, tuple[str, ...]] = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "-updated": ("-updated_at", "-id"),
    "updated": ("updated_at", "id"),
    "company": ("company", "id"),
    "-company": ("-company", "-id"),
    "name": ("last_name", "first_name", "id"),
    "-name": ("-last_name", "-first_name", "-id"),
    "email": ("email_normalized",),
    "-email": ("-email_normalized",),
}
DEFAULT_SORT = "-created"
_WORD = re.compile(r"\w+", re.UNICODE)


def search_contacts(qs: QuerySet[Contact], text: str) -> QuerySet[Contact]:
    """Match `text` as an email prefix, or every word as a prefix of a word of the email,
    name or company ("jan acme" finds Jane Doe at Acme Corp)."""
    text = (text or "").strip()
    if not text:
        return qs
    lowered = text.lower()
    email_prefix = Q(email_normalized__startswith=lowered)
    if "@" in lowered:
        return qs.filter(email_prefix)
    words = _WORD.findall(lowered)
    if not words:
        return qs.filter(email_prefix)
    raw = " & ".join(f"{w}:*" for w in words[:8])
    query = SearchQuery(raw, search_type="raw", config="simple")
    return qs.filter(Q(search_document=query) | email_prefix)


def filter_contacts(
    qs: QuerySet[Contact] | None = None,
    *,
    search: str = "",
    email: str = "",
    tag: str = "",
    status: str = "",
    created_from: dt.date | dt.datetime | None = None,
    created_to: dt.date | None = None,
) -> QuerySet[Contact]:
    """Apply the contact table / API filters. `tag` is a tag name (case-insensitive)."""
    qs = Contact.objects.all() if qs is None else qs
    qs = search_contacts(qs, search)
    if email:
        qs = qs.filter(email_normalized=email.strip().lower())
    if tag:
        qs = qs.filter(
            Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag__name__iexact=tag))
        )
    if status:
        qs = qs.filter(status=status)
    if created_from:
        if isinstance(created_from, dt.datetime):
            qs = qs.filter(created_at__gte=created_from)
        else:
            qs = qs.filter(created_at__date__gte=created_from)
    if created_to:
        qs = qs.filter(created_at__date__lte=created_to)
    return qs


@dataclass
class Page:
    contacts: list[Contact]
    number: int
    page_size: int
    total: int

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return 0 if not self.total else (self.number - 1) * self.page_size + 1

    @property
    def end_index(self) -> int:
        return min(self.number * self.page_size, self.total)


def page_of_contacts(
    qs: QuerySet[Contact], *, sort: str = DEFAULT_SORT, number: int = 1, page_size: int = 50
) -> Page:
    """One page of `qs` in `sort` order.

    The page's ids come from a narrow ordered scan (a "deferred join"), so skipping deep into
    the table reads index entries rather than whole rows; only the page's rows are fetched."""
    order = SORTS.get(sort, SORTS[DEFAULT_SORT])
    total = qs.count()
    num_pages = max(1, -(-total // page_size))
    number = min(max(1, number), num_pages)
    offset = (number - 1) * page_size
    ids = list(qs.order_by(*order).values_list("pk", flat=True)[offset : offset + page_size])
    rows = Contact.objects.filter(pk__in=ids).prefetch_related("tags")
    by_id = {c.pk: c for c in rows}
    return Page([by_id[i] for i in ids if i in by_id], number, page_size, total)
