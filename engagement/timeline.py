"""A contact's activity timeline: one page, newest first, merged from five sources.

- email events (EmailEvent: sent, opened, clicked, replied, bounced, unsubscribed),
- score changes (ScoreChange),
- status changes and imports (ContactChange: rows that change `status`, and rows written by an
  import or its rollback, source `import:<id>` / `rollback:<id>`),
- list additions (ListMembership.added_at: the lists the contact is in now) and list removals
  (ListRemoval, written by every removal in segments.services; a removal row keeps the
  addition's time, whose own entry went with the membership). Both are the type "list".

Paging is by keyset, never OFFSET: an entry's key is (occurred_at, kind, id) and a page holds
the entries before a cursor key in descending order. Each source reads at most `limit + 1` rows
through its (contact, time desc) index and the rows are merged here, so a page of a contact
with 10,000 events costs the same as the first page. `after` is the live update of an open
profile: the entries from LIVE_OVERLAP before that key on (the page merges what it lacks)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from contacts.models import ContactChange
from engagement.models import EmailEvent, EventType, ScoreChange
from segments.models import ListMembership, ListRemoval

PAGE_SIZE = 25
MAX_NEW = 100  # entries one live update may bring; beyond, the page offers a reload
# A live update reads from this long before the newest entry the page shows, and the page
# keeps the entries it does not have yet. Entries do not always become visible in the order
# of their keys: rows are stamped before their transaction commits, the sources are read
# by separate statements, and two ingestions commit in either order. Without the overlap an
# entry committed just after a read, with a key below the page's newest, would never show.
LIVE_OVERLAP = dt.timedelta(minutes=2)

# Source codes, also the tie-break of entries at the same instant (descending: s, r, l, e, c;
# a removal comes after an addition to the same list in one transaction).
EMAIL, SCORE, CHANGE, LIST, REMOVAL = "e", "s", "c", "l", "r"
KINDS = (EMAIL, SCORE, CHANGE, LIST, REMOVAL)

EMAIL_TYPES = tuple(EventType.values)
TYPE_LABELS = {
    **dict(EventType.choices),
    "score": "Score changes",
    "status": "Status changes",
    "import": "Imports",
    "list": "List changes",
}
TYPES = tuple(TYPE_LABELS)
ENTRY_LABELS = {**dict(EventType.choices), "score": "Score", "status": "Status",
                "import": "Import", "list": "List"}
IMPORT_SOURCES = ("import:", "rollback:")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CURSOR = re.compile(r"^(-?\d{1,18})\.([a-z])\.(\d{1,19})$")


class TimelineError(ValueError):
    """A parameter of the timeline that cannot be used; the message is for the user."""


@dataclass(frozen=True, order=True)
class Cursor:
    """The key of one entry. Encoded as `<microseconds since 1970>.<kind>.<id>`."""

    occurred_at: dt.datetime
    kind: str
    id: int

    def encode(self) -> str:
        micros = (self.occurred_at - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{micros}.{self.kind}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = _CURSOR.match(text or "")
        if match is None or match.group(2) not in KINDS or int(match.group(3)) >= 2**63:
            raise TimelineError(
                "This paging link is not valid (it may have been cut off); "
                "start again from the newest activity."
            )
        try:
            when = _EPOCH + dt.timedelta(microseconds=int(match.group(1)))
        except OverflowError:
            raise TimelineError(
                "This paging link points outside the calendar; "
                "start again from the newest activity."
            ) from None
        return cls(when, match.group(2), int(match.group(3)))


@dataclass
class Entry:
    kind: str  # EMAIL, SCORE, CHANGE, LIST or REMOVAL
    type: str  # one of TYPES
    occurred_at: dt.datetime
    id: int
    obj: Any  # the EmailEvent, ScoreChange, ContactChange, ListMembership or ListRemoval

    @property
    def key(self) -> Cursor:
        return Cursor(self.occurred_at, self.kind, self.id)

    @property
    def cursor(self) -> str:
        return self.key.encode()

    @property
    def label(self) -> str:
        return ENTRY_LABELS[self.type]

    @property
    def import_id(self) -> int | None:
        """The import of an import entry (source `import:<id>` or `rollback:<id>`)."""
        _prefix, _colon, ref = getattr(self.obj, "source", "").partition(":")
        return int(ref) if self.type == "import" and ref.isdigit() else None

    @property
    def is_rollback(self) -> bool:
        return self.type == "import" and self.obj.source.startswith("rollback:")


@dataclass
class TimelinePage:
    entries: list[Entry] = field(default_factory=list)
    next_cursor: str = ""  # the "Older" link's cursor; empty on the last page
    truncated: bool = False  # `after`: more new entries than returned


@dataclass(frozen=True)
class TimelineQuery:
    """What to show: `types` (empty: everything), a date range as aware datetimes
    [start, end), and where to start: before `cursor`, or for a live update `after` (the
    page's newest key)."""

    types: frozenset[str] = frozenset()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    cursor: Cursor | None = None
    after: Cursor | None = None

    def wants(self, *types: str) -> set[str]:
        chosen = self.types or set(TYPES)
        return {t for t in types if t in chosen}


def contact_timeline(
    *, contact_id: int, query: TimelineQuery, limit: int = PAGE_SIZE
) -> TimelinePage:
    """One page of `contact_id`'s timeline (read only): at most `limit` entries before
    `query.cursor` (or the newest), or with `query.after` the newest MAX_NEW entries from
    LIVE_OVERLAP before it on (`truncated` when there were more)."""
    wanted = MAX_NEW if query.after is not None else limit
    rows: list[Entry] = []
    for kind, read in _SOURCES.items():
        rows.extend(read(contact_id, query, kind, wanted + 1))
    rows.sort(key=lambda entry: entry.key, reverse=True)
    if query.after is not None:
        return TimelinePage(entries=rows[:wanted], truncated=len(rows) > wanted)
    page = rows[:wanted]
    more = len(rows) > wanted
    return TimelinePage(entries=page, next_cursor=page[-1].cursor if more and page else "")


def _window(qs: QuerySet, time: str, id_field: str, kind: str, query: TimelineQuery
            ) -> QuerySet:
    """The date range and the keyset condition on one source. Written as a range on the time
    column (an index condition) plus a filter that only bites on rows at the cursor's instant."""
    if query.start is not None:
        qs = qs.filter(**{f"{time}__gte": query.start})
    if query.end is not None:
        qs = qs.filter(**{f"{time}__lt": query.end})
    if query.cursor is not None:  # older than the cursor
        t, k, i = query.cursor.occurred_at, query.cursor.kind, query.cursor.id
        if kind < k:
            qs = qs.filter(**{f"{time}__lte": t})
        elif kind > k:
            qs = qs.filter(**{f"{time}__lt": t})
        else:
            qs = qs.filter(**{f"{time}__lte": t}).filter(
                Q(**{f"{time}__lt": t}) | Q(**{f"{id_field}__lt": i}))
    if query.after is not None:  # the live update: from a little before `after` on
        qs = qs.filter(**{f"{time}__gte": query.after.occurred_at - LIVE_OVERLAP})
    return qs.order_by(f"-{time}", f"-{id_field}")


def _email_events(contact_id: int, query: TimelineQuery, kind: str, n: int) -> list[Entry]:
    types = query.wants(*EMAIL_TYPES)
    if not types:
        return []
    # contact_id + ORDER BY occurred_at DESC, id DESC: emailevent_timeline_idx, read backwards
    # from the cursor; a type filter is checked on the rows the index yields.
    qs = EmailEvent.objects.filter(contact_id=contact_id).select_related("campaign")
    if len(types) < len(EMAIL_TYPES):
        qs = qs.filter(type__in=sorted(types))
    qs = _window(qs, "occurred_at", "id", kind, query)
    return [Entry(kind, e.type, e.occurred_at, e.id, e) for e in qs[:n]]


def _score_changes(contact_id: int, query: TimelineQuery, kind: str, n: int) -> list[Entry]:
    if not query.wants("score"):
        return []
    qs = _window(ScoreChange.objects.filter(contact_id=contact_id), "created_at", "id", kind,
                 query)
    return [Entry(kind, "score", c.created_at, c.id, c) for c in qs[:n]]


def _import_q() -> Q:
    return Q(source__startswith=IMPORT_SOURCES[0]) | Q(source__startswith=IMPORT_SOURCES[1])


def _contact_changes(contact_id: int, query: TimelineQuery, kind: str, n: int) -> list[Entry]:
    types = query.wants("status", "import")
    if not types:
        return []
    which = Q()
    if "status" in types:
        which |= Q(changes__has_key="status")
    if "import" in types:
        which |= _import_q()
    qs = ContactChange.objects.filter(which, contact_id=contact_id).select_related("actor")
    qs = _window(qs, "created_at", "id", kind, query)
    return [
        Entry(kind, "import" if c.source.startswith(IMPORT_SOURCES) and "import" in types
              else "status", c.created_at, c.id, c)
        for c in qs[:n]
    ]


def _list_additions(contact_id: int, query: TimelineQuery, kind: str, n: int) -> list[Entry]:
    if not query.wants("list"):
        return []
    qs = ListMembership.objects.filter(contact_id=contact_id).select_related(
        "static_list", "static_list__campaign", "added_by")
    qs = _window(qs, "added_at", "static_list_id", kind, query)
    return [Entry(kind, "list", m.added_at, m.static_list_id, m) for m in qs[:n]]


def _list_removals(contact_id: int, query: TimelineQuery, kind: str, n: int) -> list[Entry]:
    if not query.wants("list"):
        return []
    # contact_id + ORDER BY removed_at DESC, id DESC: the primary key (contact_id,
    # removed_at, id), read backwards from the cursor.
    qs = ListRemoval.objects.filter(contact_id=contact_id).select_related(
        "static_list", "static_list__campaign", "actor")
    qs = _window(qs, "removed_at", "id", kind, query)
    return [Entry(kind, "list", r.removed_at, r.id, r) for r in qs[:n]]


_SOURCES = {
    EMAIL: _email_events,
    SCORE: _score_changes,
    CHANGE: _contact_changes,
    LIST: _list_additions,
    REMOVAL: _list_removals,
}

# What a watching socket compares once a second: the newest row of each source (each read is
# the top of a (contact, time desc) index) and whether the contact still exists.
_HEAD_SQL = """
SELECT EXISTS (SELECT 1 FROM contacts_contact WHERE id = %(id)s),
       (SELECT id FROM engagement_emailevent WHERE contact_id = %(id)s
        ORDER BY occurred_at DESC, id DESC LIMIT 1),
       (SELECT id FROM engagement_scorechange WHERE contact_id = %(id)s
        ORDER BY created_at DESC, id DESC LIMIT 1),
       (SELECT id FROM contacts_contactchange WHERE contact_id = %(id)s
        ORDER BY created_at DESC, id DESC LIMIT 1),
       (SELECT max(added_at) FROM segments_listmembership WHERE contact_id = %(id)s),
       (SELECT id FROM segments_listremoval WHERE contact_id = %(id)s
        ORDER BY removed_at DESC, id DESC LIMIT 1)
"""


def activity_head(*, contact_id: int) -> tuple | None:
    """A value that changes when `contact_id` gets a new newest entry in any source; None when
    there is no such contact in the current schema. One cheap statement."""
    if not 0 < contact_id < 2**63:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SQL, {"id": contact_id})
        exists, *head = cursor.fetchone()
    return tuple(head) if exists else None
