"""Materialising segment membership: full refreshes (diff against the current members) and
incremental updates for a few changed contacts.

Both are set-based. A full refresh selects the matching ids into a temporary table, deletes
the members that left and inserts those that entered (two statements, whatever the size), and
records one SegmentRefresh row (entered, left, size after) for the analytics. An incremental
update reads each changed contact once and evaluates every segment's condition on it, in one
statement per level of segment-on-segment rules, with the conditions compiled at most once a
minute per process (see _incremental_conditions). Both take a transaction
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
from penguinleads.realtime import push, push_many
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


# (schema, segment id) -> (compiled at, segment.updated_at, condition SQL, segments it names)
_COMPILED: dict[tuple[str, int], tuple[float, object, str, set[int]]] = {}
COMPILED_SECONDS = 60.0


def rules_condition(segment: Segment, *, custom_fields=None) -> str:
    """The segment's rules as one boolean SQL expression over the row "contacts_contact",
    values written in (no placeholders), for evaluating many segments in one statement
    (raises RuleError)."""
    return condition_sql(compile_rules(segment.rules, exclude=segment.exclude or None,
                                       custom_fields=custom_fields))


def condition_sql(q) -> str:
    """`q` (a filter of Contact) as a boolean SQL expression over the row "contacts_contact",
    with its values written in: the WHERE clause of Contact.objects.filter(q) — or, should the
    filter ever need a join, membership of its result."""
    query = Contact.objects.filter(q).order_by().values("pk").query
    compiler = query.get_compiler(connection=connection)
    if len(query.alias_map) == 1:  # no join: the WHERE clause is the condition
        sql, params = compiler.compile(query.where) if query.where else ("TRUE", ())
    else:
        sql, params = compiler.as_sql()
        sql = f'"contacts_contact"."id" IN ({sql})'
    with connection.cursor() as cursor:
        return cursor.mogrify(sql, params)


def _incremental_conditions(segments: list[tuple[int, object]]
                            ) -> dict[int, tuple[str, set[int]]]:
    """{segment id: (rules_condition, ids of the segments its rules name)} for the (id,
    updated_at) pairs given, leaving out segments whose rules no longer compile. Kept for
    COMPILED_SECONDS per process: compiling a tree through the ORM costs ~5 ms, evaluating it
    for a contact well under one, so only segments compiled over a minute ago or edited since
    (updated_at moved) are read and compiled again. What a minute-old compilation can miss
    (relative dates moved on by under a minute, a tag or custom field created since) the next
    full refresh puts right."""
    now, schema, found, stale = time.monotonic(), connection.schema_name, {}, []
    for pk, updated_at in segments:
        cached = _COMPILED.get((schema, pk))
        if cached and now - cached[0] < COMPILED_SECONDS and cached[1] == updated_at:
            found[pk] = cached[2], cached[3]
        else:
            stale.append(pk)
    if stale:
        custom_fields = list(CustomField.objects.all())
        for segment in Segment.objects.filter(pk__in=stale):
            try:
                condition = rules_condition(segment, custom_fields=custom_fields)
            except RuleError:
                continue
            names = referenced_segments(segment.rules) | referenced_segments(segment.exclude)
            _COMPILED[(schema, segment.pk)] = (now, segment.updated_at, condition, names)
            found[segment.pk] = condition, names
    return found


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


def _record_incremental(changes: list[tuple[Segment, int, int, int]], *, started,
                        t0: float) -> list[SegmentRefresh]:
    """_record for the segments of one incremental statement (segment, entered, left, size),
    whose member_count it already moved: one INSERT of their SegmentRefresh rows, one push
    hop and one webhook query for all of them."""
    if not changes:
        return []
    finished, duration = timezone.now(), int((time.monotonic() - t0) * 1000)
    refreshes = SegmentRefresh.objects.bulk_create([
        SegmentRefresh(segment_id=segment.pk, kind=SegmentRefreshKind.INCREMENTAL,
                       started_at=started, finished_at=finished, size_after=size,
                       entered=entered, left=left, duration_ms=duration)
        for segment, entered, left, size in changes])
    for segment, _entered, _left, size in changes:
        segment.member_count, segment.refresh_error = size, ""
    push_many(schema_name=connection.schema_name, topic="segments",
              events=[{"action": "refreshed", "segment_id": segment.pk}
                      for segment, *_counts in changes])
    emit_many(events=(
        (f"segment.{way}", {"segment": {"id": segment.pk, "name": segment.name},
                            "count": count, "size": size, "refresh": "incremental"})
        for segment, entered, left, size in changes
        for way, count in (("entered", entered), ("left", left)) if count))
    return refreshes


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
    memberships — one statement for all the segments that do not refer to other segments, one
    more per level of segment-on-segment rules (a level sees the memberships written by the
    one before). A kind="incremental" SegmentRefresh is recorded only for segments where
    someone entered or left. Segments whose rules no longer compile are skipped. Side
    effects: memberships, SegmentRefresh rows, member_count, pushes on "segments"."""
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return []
    done = []
    with transaction.atomic():  # one transaction: a commit per segment would cost more
        # Segments not refreshed yet are left out: their first full refresh (queued) will see
        # these contacts as they are.
        rows = {pk: (name, updated_at) for pk, name, updated_at in Segment.objects.filter(
            last_refreshed_at__isnull=False).values_list("pk", "name", "updated_at")}
        compiled = _incremental_conditions([(pk, row[1]) for pk, row in rows.items()])
        level, levels = {}, []
        for pk in dependency_order({pk: names for pk, (_c, names) in compiled.items()}):
            level[pk] = 1 + max((level[d] for d in compiled[pk][1] if d in level), default=-1)
            if level[pk] == len(levels):
                levels.append([])
            levels[level[pk]].append((Segment(pk=pk, name=rows[pk][0]), compiled[pk][0]))
        lock_segments(list(level))
        for work in levels:
            started, t0 = timezone.now(), time.monotonic()
            by_id = {segment.pk: segment for segment, _condition in work}
            changes = [(by_id[segment_id], entered, left, size)
                       for segment_id, entered, left, size in _apply_incremental(work, ids)]
            done += _record_incremental(changes, started=started, t0=t0)
    return done


def _apply_incremental(work: list[tuple[Segment, str]], ids: list[int]
                       ) -> list[tuple[int, int, int, int]]:
    """One statement: each contact of `ids` is read once and every segment's condition
    evaluated on it; the result is compared with the stored memberships, the difference
    applied and member_count moved by it. Returns (segment id, entered, left, size) for each
    segment where something changed. The statement carries no placeholders (the conditions
    are literal, the ids whole numbers), so the driver does not re-parse ~50 conditions of
    SQL text on every call."""
    segment_ids = "{" + ",".join(str(int(segment.pk)) for segment, _c in work) + "}"
    contact_ids = "{" + ",".join(str(int(i)) for i in ids) + "}"
    conditions = ",\n".join(f"({condition})" for _segment, condition in work)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH matched (segment_id, contact_id) AS (
                    SELECT v.segment_id, "contacts_contact"."id" FROM "contacts_contact"
                    CROSS JOIN LATERAL unnest('{segment_ids}'::bigint[], ARRAY[{conditions}])
                        AS v (segment_id, matches)
                    WHERE "contacts_contact"."id" = ANY('{contact_ids}'::bigint[])
                      AND v.matches),
                gone AS (
                    DELETE FROM segments_segmentmembership m
                    WHERE m.segment_id = ANY('{segment_ids}'::bigint[])
                      AND m.contact_id = ANY('{contact_ids}'::bigint[])
                      AND NOT EXISTS (SELECT 1 FROM matched x WHERE x.segment_id = m.segment_id
                                                                AND x.contact_id = m.contact_id)
                    RETURNING m.segment_id),
                came AS (
                    INSERT INTO segments_segmentmembership (segment_id, contact_id, entered_at)
                    SELECT x.segment_id, x.contact_id, statement_timestamp() FROM matched x
                    ON CONFLICT DO NOTHING
                    RETURNING segment_id),
                moved AS (
                    SELECT segment_id, count(*) FILTER (WHERE came) AS entered,
                           count(*) FILTER (WHERE NOT came) AS left_
                    FROM (SELECT segment_id, true AS came FROM came
                          UNION ALL SELECT segment_id, false FROM gone) AS both_ways
                    GROUP BY segment_id)
                UPDATE segments_segment s
                SET member_count = s.member_count + moved.entered - moved.left_,
                    refresh_error = ''
                FROM moved WHERE s.id = moved.segment_id
                RETURNING s.id, moved.entered, moved.left_, s.member_count"""
        )
        return sorted(cursor.fetchall())
