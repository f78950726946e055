"""Engagement data through a bulk delete and its undo (hooks registered in apps.py, see
contacts.bulk.hooks). A purge deletes a contact's email events, score and score history with it
(the trigger of migration 0002); so that the undo gives back a contact with its timeline and
score, the delete first copies them into DeletedEmailEvent / DeletedContactScore /
DeletedScoreChange keyed by the operation, and the undo moves them back, with their ids.

All set-based: one statement per call for the copy and one for the move back, whatever the
number of contacts or events (a delete of contacts without events costs three index look-ups
that find nothing). Copies of contacts the undo skipped (their email was used again for a new
contact, so they stay deleted) are never put on that new contact: they stay until the undo
window closes, and go then (expire_engagement_snapshots, from the daily purge) or with their
operation."""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from typing import Any

from django.db import connection, transaction

from engagement.models import (
    ContactScore,
    DeletedContactScore,
    DeletedEmailEvent,
    DeletedScoreChange,
    EmailEvent,
    ScoreChange,
)
from engagement.scoring import recompute_scores
from segments.models import Campaign

logger = logging.getLogger(__name__)
RESTORED_REASON = "restored by undo"
# The ids go into the statement once and are read from there: the driver binds parameters on
# the client, so each mention of %(ids)s would repeat (and Postgres parse) a 20,000-id array.
_IDS_ONCE = "p AS (SELECT %(ids)s::bigint[] AS ids)"
_IN_IDS = "ANY((SELECT ids FROM p)::bigint[])"


def _columns(model) -> list[str]:
    """The live model's columns but `id` (the copies keep it as original_id)."""
    return [f.column for f in model._meta.concrete_fields if f.column != "id"]


def _tables() -> dict[str, str]:
    return {
        "event": EmailEvent._meta.db_table, "score": ContactScore._meta.db_table,
        "change": ScoreChange._meta.db_table, "d_event": DeletedEmailEvent._meta.db_table,
        "d_score": DeletedContactScore._meta.db_table,
        "d_change": DeletedScoreChange._meta.db_table, "campaign": Campaign._meta.db_table,
    }


@cache
def _snapshot_sql() -> str:
    ev, sc, ch = (_columns(m) for m in (EmailEvent, ContactScore, ScoreChange))
    return """
WITH {p}, events AS (
    INSERT INTO {d_event} (operation_id, original_id, {ev})
    SELECT %(op)s, x.id, {x_ev} FROM {event} x WHERE x.contact_id = {in_p}
    ON CONFLICT DO NOTHING
), changes AS (
    INSERT INTO {d_change} (operation_id, original_id, {ch})
    SELECT %(op)s, x.id, {x_ch} FROM {change} x WHERE x.contact_id = {in_p}
    ON CONFLICT DO NOTHING
)
INSERT INTO {d_score} (operation_id, {sc})
SELECT %(op)s, {x_sc} FROM {score} x WHERE x.contact_id = {in_p}
ON CONFLICT DO NOTHING""".format(
        **_tables(), p=_IDS_ONCE, in_p=_IN_IDS,
        ev=", ".join(ev), ch=", ".join(ch), sc=", ".join(sc),
        x_ev=", ".join(f"x.{c}" for c in ev), x_ch=", ".join(f"x.{c}" for c in ch),
        x_sc=", ".join(f"x.{c}" for c in sc),
    )


@cache
def _restore_sql() -> str:
    ev, sc, ch = (_columns(m) for m in (EmailEvent, ContactScore, ScoreChange))
    # A campaign deleted since: the event comes back without it (as EmailEvent's SET_NULL).
    d_ev = ", ".join("g.id" if c == "campaign_id" else f"d.{c}" for c in ev)
    scope = f"d.operation_id = %(op)s AND d.contact_id = {_IN_IDS}"
    return """
WITH {p}, events AS (
    DELETE FROM {d_event} d WHERE {scope} RETURNING d.*
), put_events AS (
    INSERT INTO {event} (id, {ev})
    SELECT d.original_id, {d_ev} FROM events d LEFT JOIN {campaign} g ON g.id = d.campaign_id
    ORDER BY d.original_id
    ON CONFLICT DO NOTHING
    RETURNING contact_id
), scores AS (
    DELETE FROM {d_score} d WHERE {scope} RETURNING d.*
), put_scores AS (
    INSERT INTO {score} ({sc}) SELECT {sc} FROM scores ORDER BY contact_id
    ON CONFLICT DO NOTHING RETURNING contact_id
), changes AS (
    DELETE FROM {d_change} d WHERE {scope} RETURNING d.*
), put_changes AS (
    INSERT INTO {change} (id, {ch}) SELECT original_id, {ch} FROM changes ORDER BY original_id
    ON CONFLICT DO NOTHING RETURNING contact_id
)
SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM put_events),
       (SELECT coalesce(array_agg(DISTINCT contact_id), '{{}}') FROM (
            SELECT contact_id FROM put_events UNION ALL SELECT contact_id FROM put_scores
            UNION ALL SELECT contact_id FROM put_changes) t)""".format(
        **_tables(), p=_IDS_ONCE, scope=scope, d_ev=d_ev,
        ev=", ".join(ev), sc=", ".join(sc), ch=", ".join(ch),
    )


def snapshot_engagement(*, operation_id: int, contact_ids: list[int]) -> None:
    """Copy the email events, score row (with its override) and score changes of
    `contact_ids`, about to be purged by bulk delete `operation_id`, into the Deleted* tables,
    in one statement. Side effects: inserts those rows."""
    with connection.cursor() as cursor:
        cursor.execute(_snapshot_sql(), {"op": operation_id, "ids": contact_ids})


@transaction.atomic
def restore_engagement(*, operation_id: int, contact_ids: list[int]) -> dict[str, Any]:
    """Move the copies of `contact_ids` (restored by the undo of `operation_id`, same ids)
    back into EmailEvent / ContactScore / ScoreChange with their ids, in one statement, then
    recompute those contacts' scores. An event whose event_id was stored again since (the
    sender re-sent it for a new contact) keeps the existing row; the copy is dropped and
    counted. Side effects: as said, plus recompute_scores' (a ScoreChange "restored by undo"
    and a score.band_changed webhook when a score or band is no longer what it was, live
    pushes). Returns {"events_not_restored": n} when n > 0, else {}."""
    with connection.cursor() as cursor:
        cursor.execute(_restore_sql(), {"op": operation_id, "ids": contact_ids})
        copied, restored, touched = cursor.fetchone()
    recompute_scores(contact_ids=touched, reason=RESTORED_REASON)
    if copied == restored:
        return {}
    logger.info("undo of bulk #%s: %s email events not restored (event id used again)",
                operation_id, copied - restored)
    return {"events_not_restored": copied - restored}


def expire_engagement_snapshots(*, before: dt.datetime) -> None:
    """Drop the copies of bulk deletes whose undo window closed before `before` (in the
    current tenant). Side effects: deletes Deleted* rows."""
    for model in (DeletedEmailEvent, DeletedContactScore, DeletedScoreChange):
        model.objects.filter(operation__undo_until__lt=before).delete()
