"""Reads of the contact table: search, filters, sorts and fast pages at 1M rows."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from contacts.models import Contact, ContactTag, Tag

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
    "email": ("email_normalized", "id"),
    "-email": ("-email_normalized", "-id"),
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
        # Resolve the tag first: a literal tag_id lets the planner use its statistics for
        # tag_id and pick the right plan for rare and common tags alike.
        tag_id = Tag.objects.filter(name__iexact=tag.strip()).values_list("pk", flat=True).first()
        qs = qs.filter(Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag_id=tag_id)))
    if status:
        qs = qs.filter(status=status)
    # Bounds as timestamps (not created_at::date) so the created_at index serves them.
    if created_from:
        qs = qs.filter(created_at__gte=_start_of(created_from))
    if created_to:
        qs = qs.filter(created_at__lt=_start_of(created_to + dt.timedelta(days=1)))
    return qs


def _start_of(day: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(day, dt.datetime):
        return day if timezone.is_aware(day) else timezone.make_aware(day)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# Counting a million rows exactly costs more than the whole rest of a page, so totals are exact
# up to this many and an estimate ("about 1,000,000") beyond it.
COUNT_CAP = 10_000


@dataclass
class Page:
    contacts: list[Contact]
    number: int
    page_size: int
    total: int
    total_is_estimate: bool
    has_next: bool

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.page_size + 1 if self.contacts else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.page_size + len(self.contacts)


def count_contacts(qs: QuerySet[Contact]) -> tuple[int, bool]:
    """Return (count, is_estimate): exact up to COUNT_CAP, else the planner's estimate."""
    capped = qs.order_by()[: COUNT_CAP + 1].count()
    if capped <= COUNT_CAP:
        return capped, False
    return max(_estimate(qs), COUNT_CAP + 1), True


def _estimate(qs: QuerySet[Contact]) -> int:
    with connection.cursor() as cursor:
        if not qs.query.where:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [Contact._meta.db_table])
            estimate = cursor.fetchone()[0]
            if estimate >= 0:
                return estimate
        sql, params = qs.order_by().values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def page_of_contacts(
    qs: QuerySet[Contact], *, sort: str = DEFAULT_SORT, number: int = 1, page_size: int = 50
) -> Page:
    """One page of `qs` in `sort` order.

    The page's ids come from a narrow ordered scan (a "deferred join"), so skipping deep into
    the table reads index entries rather than whole rows; only the page's rows are fetched."""
    order = SORTS.get(sort, SORTS[DEFAULT_SORT])
    total, estimated = count_contacts(qs)
    number = max(1, number)
    if not estimated:
        number = min(number, max(1, -(-total // page_size)))
    offset = (number - 1) * page_size
    ids = list(qs.order_by(*order).values_list("pk", flat=True)[offset : offset + page_size + 1])
    has_next = len(ids) > page_size
    ids = ids[:page_size]
    rows = Contact.objects.filter(pk__in=ids).prefetch_related("tags")
    by_id = {c.pk: c for c in rows}
    return Page([by_id[i] for i in ids if i in by_id], number, page_size, total, estimated, has_next)
