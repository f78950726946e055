"""Reads of the contact table: search, filters, sorts and fast pages at 1M rows."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Contact, ContactTag, Tag, search_document
from engagement.models import ContactScore, ScoreBand

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
    # Unique: the order needs no tie-breaker, and the unique index serves it as is.
    "email": ("email_normalized",),
    "-email": ("-email_normalized",),
    # Score sorts are paged by _score_page_ids (contacts without a score row count as 0); this
    # order is what they mean, not how they are run.
    "score": ("score", "id"),
    "-score": ("-score", "-id"),
}
SCORE_SORTS = ("score", "-score")
DEFAULT_SORT = "-created"
BANDS = tuple(ScoreBand.values)
# The runs of letters and digits, as the search document splits the contact's text.
_WORD = re.compile(r"[^\W_]+")
# No word of a contact is longer than its longest searched column (the email's 254).
_LONGEST_WORD = 254


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
    if not words or max(map(len, words)) > _LONGEST_WORD:
        # No words, or one longer than any column: only the email prefix can match.
        return qs.filter(email_prefix)
    # Each word a prefix ('jan':*), all required; parsed as the search document is. The words
    # hold only letters and digits, so none is read as tsquery syntax.
    query = SearchQuery(" & ".join(f"{w}:*" for w in words[:8]), search_type="raw",
                        config="simple")
    # The same expression as the GIN index contact_search_idx, so the index answers it.
    return qs.alias(_search=search_document()).filter(Q(_search=query) | email_prefix)


def filter_contacts(
    qs: QuerySet[Contact] | None = None,
    *,
    search: str = "",
    email: str = "",
    tag: str = "",
    status: str = "",
    created_from: dt.date | dt.datetime | None = None,
    created_to: dt.date | None = None,
    score_band: str | list[str] = "",
    score_min: int | None = None,
    score_max: int | None = None,
) -> QuerySet[Contact]:
    """Apply the contact table / API filters. `tag` is a tag name (case-insensitive);
    `score_band` one band or a list of them; contacts without a score are cold and 0."""
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
    if score_band:
        qs = filter_score_bands(qs, [score_band] if isinstance(score_band, str) else score_band)
    if score_min is not None or score_max is not None:
        qs = filter_score_range(qs, low=score_min, high=score_max)
    return qs


# Score filters join engagement_contactscore on its primary key (one row per contact at most)
# rather than testing EXISTS: the score sorts below add conditions on the same joined row, so
# the planner can check the band while it walks the (score, contact) index.
_NO_SCORE = Q(lead_score__isnull=True)


def filter_score_bands(qs: QuerySet[Contact], bands: list[str]) -> QuerySet[Contact]:
    """Contacts in one of `bands`; a contact without a score row is cold."""
    wanted = sorted({band for band in bands if band in BANDS})
    if not wanted or len(wanted) == len(BANDS):
        return qs
    in_bands = Q(lead_score__band__in=wanted)
    return qs.filter(_NO_SCORE | in_bands if ScoreBand.COLD in wanted else in_bands)


def filter_score_range(
    qs: QuerySet[Contact], *, low: int | None, high: int | None
) -> QuerySet[Contact]:
    """Contacts whose score (0 without a row) is within [low, high] (either may be None)."""
    if low is None and high is None:
        return qs
    if low is not None and high is not None and low > high:
        return qs.none()
    inside = Q()
    if low is not None:
        inside &= Q(lead_score__score__gte=low)
    if high is not None:
        inside &= Q(lead_score__score__lte=high)
    zero_inside = (low is None or low <= 0) and (high is None or high >= 0)
    return qs.filter(_NO_SCORE | inside if zero_inside else inside)


def with_scores(qs: QuerySet[Contact]) -> QuerySet[Contact]:
    """Annotate `score` (0 without a ContactScore row) and `score_band` ("cold" without one):
    one LEFT JOIN on the score's primary key, so a page of contacts costs no extra query."""
    return qs.annotate(
        score=Coalesce("lead_score__score", 0),
        score_band=Coalesce("lead_score__band", Value(ScoreBand.COLD.value)),
    )


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
    if sort in SCORE_SORTS:
        ids = _score_page_ids(qs, descending=sort == "-score", offset=offset,
                              limit=page_size + 1)
    else:
        ids = list(
            qs.order_by(*order).values_list("pk", flat=True)[offset : offset + page_size + 1]
        )
    has_next = len(ids) > page_size
    ids = ids[:page_size]
    rows = with_scores(Contact.objects.filter(pk__in=ids)).prefetch_related("tags")
    by_id = {c.pk: c for c in rows}
    return Page([by_id[i] for i in ids if i in by_id], number, page_size, total, estimated, has_next)


# --- ordering by score ----------------------------------------------------------------------
# Ordering by coalesce(score, 0) over a LEFT JOIN would sort every contact for each page. The
# order is instead run as two index walks one after the other: contacts with a positive score
# in (score, contact) order, read from engagement_contactscore's (score, contact) index, and
# all the others (no row, or 0) in id order, read from the primary key with a left join.
# Descending: positive first, then the rest; ascending: the rest first. Scores are never
# negative (overrides are checked), so this is exactly ORDER BY coalesce(score, 0), id.


@dataclass
class _Half:
    rows: QuerySet  # (id, score) rows in this half's order
    positive: bool
    score: str  # lookup names of the score and the contact id in `rows`
    pk: str


def _score_halves(qs: QuerySet[Contact], *, descending: bool) -> list[_Half]:
    if not qs.query.where:
        # Every contact, unfiltered: the positive half is the score table alone (every row has
        # its contact), an index-only walk even for deep pages and counts.
        positive = _Half(ContactScore.objects.filter(score__gt=0)
                         .values_list("contact_id", "score"), True, "score", "contact_id")
    else:
        positive = _Half(qs.filter(lead_score__score__gt=0)
                         .values_list("pk", "lead_score__score"), True, "lead_score__score", "pk")
    rest = _Half(qs.filter(_NO_SCORE | Q(lead_score__score__lte=0)).values_list("pk", Value(0)),
                 False, "", "pk")
    sign = "-" if descending else ""
    positive.rows = positive.rows.order_by(f"{sign}{positive.score}", f"{sign}{positive.pk}")
    rest.rows = rest.rows.order_by(f"{sign}pk")
    return [positive, rest] if descending else [rest, positive]


def _score_page_ids(qs: QuerySet[Contact], *, descending: bool, offset: int,
                    limit: int) -> list[int]:
    """Ids of rows offset … offset + limit in score order (see above). The second half is read
    only when the page reaches it; its offset needs the first half's size, which the first
    query tells unless the page starts beyond it (then one count)."""
    first, second = (half.rows for half in _score_halves(qs, descending=descending))
    ids = [pk for pk, _score in first[offset : offset + limit]]
    if len(ids) == limit:
        return ids
    first_size = offset + len(ids) if ids or not offset else first.count()
    skip = max(0, offset - first_size)
    return ids + [pk for pk, _score in second[skip : skip + limit - len(ids)]]


def score_keyset(
    qs: QuerySet[Contact], *, descending: bool, after: tuple[int, int] | None, limit: int
) -> list[tuple[int, int]]:
    """Up to `limit` (id, score) rows in score order (ties by id) that come strictly after
    the row `after` = (score, id), or from the start: the keyset pages of the API."""
    found: list[tuple[int, int]] = []
    lookup = "lt" if descending else "gt"
    for half in _score_halves(qs, descending=descending):
        rows = half.rows
        if after is not None:
            score, pk = after
            if half.positive != (score > 0):
                # `after` lies in the other half: this one comes wholly before or after it.
                if half.positive == descending:
                    continue  # wholly before
            elif half.positive:
                # (score, id) beyond `after`, with a plain bound on score for the index range.
                rows = rows.filter(
                    Q(**{f"{half.score}__{lookup}": score})
                    | Q(**{half.score: score, f"{half.pk}__{lookup}": pk}),
                    **{f"{half.score}__{lookup}e": score},
                )
            else:
                rows = rows.filter(**{f"pk__{lookup}": pk})
        found += list(rows[: limit - len(found)])
        if len(found) >= limit:
            break
    return found
