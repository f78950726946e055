"""Keyset pages of the contact list ordered by lead score (`?ordering=-score` or `score`).

DRF's CursorPagination positions on the first ordering field only and skips ties by offset:
with a million contacts at score 0 that turns into huge offsets (and it stops at 1,000). Here
the cursor holds the last (score, id) seen, so every page is two short index walks
(contacts.selectors.score_keyset), however deep."""

from __future__ import annotations

import base64
import binascii

from django.db.models import QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from contacts.models import Contact
from contacts.selectors import score_keyset
from penguinleads.api.errors import InvalidCursor

MAX_ID = 2**63 - 1
MAX_SCORE = 2**31 - 1


def encode_cursor(*, backwards: bool, score: int, pk: int) -> str:
    raw = f"{'b' if backwards else 'f'}:{score}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[bool, int, int]:
    """(backwards, score, id) of a cursor; InvalidCursor for anything we did not make."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        direction, score, pk = raw.split(":")
        score, pk = int(score), int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor() from None
    if direction not in ("f", "b") or not 0 <= score <= MAX_SCORE or not 0 < pk <= MAX_ID:
        raise InvalidCursor()
    return direction == "b", score, pk


class ScoreCursorPagination(BasePagination):
    """Pages in (score, id) order, highest first for `ordering=-score`. Same query parameters
    (`cursor`, `limit`) and answer (`next`, `previous`, `results`) as the default order."""

    page_size = 50
    max_page_size = 500

    def paginate_queryset(self, queryset: QuerySet[Contact], request, view=None):
        self.request = request
        descending = request.query_params.get("ordering") == "-score"
        size = self._page_size(request)
        cursor = request.query_params.get("cursor")
        backwards, after = False, None
        if cursor:
            backwards, score, pk = decode_cursor(cursor)
            after = (score, pk)
        rows = score_keyset(queryset, descending=descending != backwards, after=after,
                            limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        self.next = self.previous = None
        if rows:
            first, last = rows[0], rows[-1]
            if more or backwards:
                self.next = self._link(backwards=False, row=last)
            if (more and backwards) or (cursor and not backwards):
                self.previous = self._link(backwards=True, row=first)
        by_id = {c.pk: c for c in queryset.filter(pk__in=[pk for pk, _score in rows])}
        return [by_id[pk] for pk, _score in rows if pk in by_id]

    def _page_size(self, request) -> int:
        try:
            size = int(request.query_params.get("limit", self.page_size))
        except (TypeError, ValueError):
            return self.page_size
        return min(size, self.max_page_size) if size > 0 else self.page_size

    def _link(self, *, backwards: bool, row: tuple[int, int]) -> str:
        pk, score = row
        url = self.request.build_absolute_uri()
        return replace_query_param(
            url, "cursor", encode_cursor(backwards=backwards, score=score, pk=pk)
        )

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.next, "previous": self.previous, "results": data})
