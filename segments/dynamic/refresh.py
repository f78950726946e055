"""Materialising segment membership: full refreshes (diff against the current members) and
incremental updates for a few changed contacts.

Both are set-based. A full refresh selects the matching ids into a temporary table, deletes
the members that left and inserts those that entered (two statements, whatever the size), and
records one SegmentRefresh row (entered, left, size after) for the analytics. An incremental
update runs one statement per segment restricted to the changed ids, with the segment's SQL
compiled at most once a minute per process (see _incremental_sql). Both take a transaction
advisory lock per segment (schema + id): two refreshes of one segment never overlap — the
second waits for the first, then computes from fresh data — while different segments run in
parallel. Segments that refer to other segments are processed after them (dependency order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from contacts.models import Contact, CustomField
from penguinleads.realtime import push
from segments.models import Segment, SegmentRefresh, SegmentRefreshKind
from segments.rules import (
    RuleError,
    compile_rules,
    dependency_order,
    referenced_fields,
    referenced_segments,
)
from webhooks.services import emit_many

logger = logging.getLogger(__name__)


def lock_segment(segment_id: int) -> None:
    """Wait for, then hold until the transaction ends, the refresh lock of one segment."""
    lock_segments([segment_id])


def lock_segments(segment_ids: list[int]) -> None:
    """lock_segment for many segments in one round trip, in id order (a fixed order, so two
    such callers cannot deadlock; a full refresh holds one segment's lock at a time)."""
    if not segment_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            # unnest yields the sorted array in order, so the locks are taken in that order
            "SELECT count(pg_advisory_xact_lock(hashtextextended(%s || ':segment:' || id, 0))) "
            "FROM unnest(%s::bigint[]) AS id",
            [connection.schema_name, sorted(segment_ids)],
        )


def rules_sql(segment: Segment, *, custom_fields=None) -> tuple[str, tuple]:
    """SELECT of the ids of the contacts matching the segment now (raises RuleError)."""
    q = compile_rules(segment.rules, exclude=segment.exclude or None,
                      custom_fields=custom_fields)
    return Contact.objects.filter(q).order_by().values("pk").query.sql_with_params()


# (schema, segment id) -> (compiled at, segment.updated_at, sql, params)
_COMPILED: dict[tuple[str, int], tuple[float, object, str, tuple]] = {}
COMPILED_SECONDS = 60.0


def _incremental_sql(segment: Segment, custom_fields) -> tuple[str, tuple]:
    """rules_sql for incremental updates, kept for COMPILED_SECONDS per process: compiling a
    tree through the ORM costs ~5 ms, the update itself well under one. A rule edit changes
    updated_at and recompiles at once; what a minute-old compilation can miss (relative dates
    moved on by under a minute, a tag or custom field created since) the next full refresh
    puts right."""
    key, now = (connection.schema_name, segment.pk), time.monotonic()
    cached = _COMPILED.get(key)
    if cached and now - cached[0] < COMPILED_SECONDS and cached[1] == segment.updated_at:
        return cached[2], cached[3]
    sql, params = rules_sql(segment, custom_fields=custom_fields)
    _COMPILED[key] = (now, segment.updated_at, sql, params)
    return sql, params


def _push(segment_id: int, action: str) -> None:
    push(schema_name=connection.schema_name, topic="segments",
         event={"action": action, "segment_id": segment_id})


def _record(segment: Segment, *, kind: str, started, t0: float, size: int, entered: int,
            left: int) -> SegmentRefresh:
    finished = timezone.now()
    refresh = SegmentRefresh.objects.create(
        segment_id=segment.pk, kind=kind, started_at=started, finished_at=finished,
        size_after=size, entered=entered, left=left,
        duration_ms=int((time.monotonic() - t0) * 1000),
    )
    values = {"member_count": size, "refresh_error": ""}
    if kind == SegmentRefreshKind.FULL:
        values["last_refreshed_at"] = finished
    Segment.objects.filter(pk=segment.pk).update(**values)
    segment.member_count, segment.refresh_error = size, ""
    _push(segment.pk, "refreshed")
    emit_many(events=[(f"segment.{way}", {"segment": {"id": segment.pk, "name": segment.name},
                                          "count": count, "size": size, "refresh": kind})
                      for way, count in (("entered", entered), ("left", left)) if count])
    return refresh


def _failed(segment: Segment, exc: RuleError) -> None:
    message = f"The rules can no longer be evaluated: {exc}"
    Segment.objects.filter(pk=segment.pk).update(refresh_error=message)
    segment.refresh_error = message
    _push(segment.pk, "refresh_failed")


def refresh_segment(*, segment: Segment, kind: str = "full") -> SegmentRefresh | None:
    """Recompute the members of `segment` and apply the difference. Returns the recorded
    SegmentRefresh, or None when the segment is gone or its rules no longer compile (a list or
    segment they name was deleted: refresh_error says why). Waits while another refresh of the
    same segment runs. Side effects: memberships, a SegmentRefresh row, the segment's
    member_count / last_refreshed_at / refresh_error, a push on "segments"."""
    started, t0 = timezone.now(), time.monotonic()
    with transaction.atomic():
        lock_segment(segment.pk)
        fresh = Segment.objects.filter(pk=segment.pk).first()  # rules may have changed
        if fresh is None:
            return None
        segment.rules, segment.exclude, segment.name = fresh.rules, fresh.exclude, fresh.name
        try:
            sql, params = rules_sql(segment)
        except RuleError as exc:
            _failed(segment, exc)
            return None
        size, entered, left = _apply_full(segment.pk, sql, params, timezone.now())
        return _record(segment, kind=kind, started=started, t0=t0, size=size, entered=entered,
                       left=left)


def _apply_full(segment_id: int, sql: str, params, now) -> tuple[int, int, int]:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS segment_refresh_new")
        # Keyed, and the entries inserted with ON CONFLICT: every membership check is then an
        # index probe whatever the planner believes of the membership table (with stale
        # statistics a NOT EXISTS over it became a quadratic scan of dead rows).
        cursor.execute("CREATE TEMP TABLE segment_refresh_new (contact_id bigint PRIMARY KEY) "
                       "ON COMMIT DROP")
        cursor.execute(f"INSERT INTO segment_refresh_new {sql} ON CONFLICT DO NOTHING", params)
        size = cursor.rowcount
        cursor.execute("ANALYZE segment_refresh_new")
        cursor.execute(
            """DELETE FROM segments_segmentmembership m
               WHERE m.segment_id = %s AND NOT EXISTS (
                   SELECT 1 FROM segment_refresh_new n WHERE n.contact_id = m.contact_id)""",
            [segment_id],
        )
        left = cursor.rowcount
        cursor.execute(
            """INSERT INTO segments_segmentmembership (segment_id, contact_id, entered_at)
               SELECT %s, n.contact_id, %s FROM segment_refresh_new n
               ON CONFLICT DO NOTHING""",
            [segment_id, now],
        )
        entered = cursor.rowcount
        cursor.execute("DROP TABLE segment_refresh_new")
    return size, entered, left


def _graph(segments: Iterable[Segment]) -> dict[int, set[int]]:
    return {s.pk: referenced_segments(s.rules) | referenced_segments(s.exclude)
            for s in segments}


def ordered_segments() -> list[Segment]:
    """Every segment of the tenant, each after the segments it refers to."""
    segments = {s.pk: s for s in Segment.objects.all()}
    return [segments[pk] for pk in dependency_order(_graph(segments.values()))]


def dependents_of(segment: Segment) -> list[Segment]:
    """The segments that refer to `segment`, directly or through others, in dependency order
    (not `segment` itself)."""
    ordered = ordered_segments()
    graph = _graph(ordered)
    affected = {segment.pk}
    for s in ordered:  # dependencies come first, so one pass finds every dependent
        if graph[s.pk] & affected:
            affected.add(s.pk)
    return [s for s in ordered if s.pk in affected and s.pk != segment.pk]


def refresh_with_dependents(*, segment: Segment) -> list[SegmentRefresh]:
    """Refresh `segment`, then the segments whose rules depend on it. Side effects: as
    refresh_segment, per segment."""
    done = [refresh_segment(segment=segment)]
    done += [refresh_segment(segment=s) for s in dependents_of(segment)]
    return [r for r in done if r is not None]


def refresh_all_segments() -> list[SegmentRefresh]:
    """Full refresh of every segment of the current tenant, dependencies first; each segment
    in its own transaction. Side effects: as refresh_segment, per segment."""
    done = []
    for segment in ordered_segments():
        refresh = refresh_segment(segment=segment)
        if refresh is not None:
            done.append(refresh)
    return done


def refresh_segments_using(*, fields: Iterable[str]) -> list[SegmentRefresh]:
    """Full refresh of the segments whose rules or exclusions name any of the field tokens
    `fields`, and of the segments depending on them, dependencies first (e.g. after the nightly
    re-aging of scores). Side effects: as refresh_segment, per segment."""
    wanted, ordered = set(fields), ordered_segments()
    graph, affected = _graph(ordered), set()
    for s in ordered:  # dependencies come first, so one pass finds every dependent
        if (referenced_fields(s.rules) | referenced_fields(s.exclude)) & wanted or (
                graph[s.pk] & affected):
            affected.add(s.pk)
    done = [refresh_segment(segment=s) for s in ordered if s.pk in affected]
    return [r for r in done if r is not None]


def refresh_segments_for_contacts(*, contact_ids: list[int]) -> list[SegmentRefresh]:
    """Incremental: re-evaluate every segment for just these contacts and insert/delete their
    memberships (one statement per segment, dependencies first). A kind="incremental"
    SegmentRefresh is recorded only for segments where someone entered or left. Segments
    whose rules no longer compile are skipped. Side effects: memberships, SegmentRefresh rows,
    member_count, pushes on "segments"."""
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return []
    done = []
    custom_fields = list(CustomField.objects.all())
    with transaction.atomic():  # one transaction: a commit per segment would cost more
        work = []
        for segment in ordered_segments():
            if segment.last_refreshed_at is None:
                continue  # its first full refresh (queued) will see these contacts as they are
            try:
                work.append((segment, *_incremental_sql(segment, custom_fields)))
            except RuleError:
                continue
        lock_segments([segment.pk for segment, _sql, _params in work])
        for segment, sql, params in work:
            started, t0 = timezone.now(), time.monotonic()
            entered, left, size = _apply_incremental(segment.pk, sql, params, ids)
            if entered or left:
                done.append(_record(segment, kind=SegmentRefreshKind.INCREMENTAL,
                                    started=started, t0=t0, size=size, entered=entered,
                                    left=left))
    return done


def _apply_incremental(segment_id: int, sql: str, params, ids: list[int]
                       ) -> tuple[int, int, int | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH matched AS (SELECT s.id FROM ({sql}) AS s (id) WHERE s.id = ANY(%s)),
                gone AS (
                    DELETE FROM segments_segmentmembership m
                    WHERE m.segment_id = %s AND m.contact_id = ANY(%s)
                      AND NOT EXISTS (SELECT 1 FROM matched x WHERE x.id = m.contact_id)
                    RETURNING 1),
                came AS (
                    INSERT INTO segments_segmentmembership (segment_id, contact_id, entered_at)
                    SELECT %s, x.id, %s FROM matched x
                    ON CONFLICT DO NOTHING
                    RETURNING 1)
                SELECT (SELECT count(*) FROM came), (SELECT count(*) FROM gone)""",
            [*params, ids, segment_id, ids, segment_id, timezone.now()],
        )
        entered, left = cursor.fetchone()
        if not (entered or left):
            return 0, 0, None
        cursor.execute(
            "UPDATE segments_segment SET member_count = member_count + %s - %s "
            "WHERE id = %s RETURNING member_count",
            [entered, left, segment_id],
        )
        (size,) = cursor.fetchone()
    return entered, left, size
