"""Ingestion of email events: set-based, idempotent by the sender's event id, with the scores of
the touched contacts recomputed in the same transaction (see engagement.scoring)."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.changes import contacts_changed
from contacts.models import Contact
from engagement.consumers import push_contact_activity
from engagement.models import EmailEvent
from engagement.scoring import recompute_scores
from engagement.validation import ItemResult, check_event
from penguinleads.realtime import push
from segments.models import Campaign

MAX_BATCH = 5000
_EVENT_COLUMNS = {
    "event_id": "varchar", "contact_id": "bigint", "campaign_id": "bigint", "type": "varchar",
    "occurred_at": "timestamptz", "received_at": "timestamptz", "url": "varchar",
    "subject": "varchar", "preview": "varchar", "message_id": "varchar",
    "bounce_type": "varchar",
}


@transaction.atomic
def ingest_events(*, events: list[Any], source: str) -> list[ItemResult]:
    """Store `events` (dicts, see engagement.validation) and return one result per item in
    order: accepted (stored now), duplicate (its event_id was stored before, or earlier in this
    batch) or error (nothing stored for it). Side effects: inserts EmailEvent rows and Campaigns
    named for the first time; a hard bounce sets the contact's status to bounced, an unsubscribe
    an active contact's to unsubscribed (with a ContactChange attributed to `source`);
    recomputes the touched contacts' scores (ContactScore, ScoreChange); pushes realtime events."""
    results, valid = _check_all(events)
    _resolve_contacts(valid)
    _resolve_campaigns(valid)
    valid = [(r, e) for r, e in valid if not r.errors]
    inserted = _insert_events([e for _r, e in valid])
    for result, event in valid:
        row = inserted.get(event["event_id"])
        if row is None or row["index"] != result.index:
            result.status = "duplicate"
        else:
            result.status, result.id, result.contact_id = "accepted", row["id"], row["contact_id"]
    rows = list(inserted.values())
    touched = sorted({row["contact_id"] for row in rows})
    _apply_status_changes(rows, source=source)
    recompute_scores(contact_ids=touched, reason="new events")
    contacts_changed(contact_ids=touched)  # segments on events and scores re-evaluate them
    if touched:
        push(schema_name=connection.schema_name, topic="engagement",
             event={"action": "events", "contact_ids": touched})
        push_contact_activity(schema_name=connection.schema_name, contact_ids=touched)
    return results


def _check_all(events: list[Any]) -> tuple[list[ItemResult], list[tuple[ItemResult, dict]]]:
    results, valid, seen = [], [], set()
    for index, item in enumerate(events):
        event, errors = check_event(item)
        result = ItemResult(index=index, event_id=event.get("event_id", ""), status="error",
                            errors=errors)
        results.append(result)
        if errors:
            continue
        event["index"] = index
        if event["event_id"] in seen:
            result.status = "duplicate"  # a repeat inside the batch: only the first is stored
            continue
        seen.add(event["event_id"])
        valid.append((result, event))
    return results, valid


def _resolve_contacts(valid: list[tuple[ItemResult, dict]]) -> None:
    emails = {event["email_normalized"] for _r, event in valid}
    ids = dict(
        Contact.objects.filter(email_normalized__in=emails).values_list("email_normalized", "id")
    )
    for result, event in valid:
        event["contact_id"] = ids.get(event["email_normalized"])
        if event["contact_id"] is None:
            result.errors["email"] = ["No contact with this email in this workspace."]


def _resolve_campaigns(valid: list[tuple[ItemResult, dict]]) -> None:
    """Campaign ids must exist; names are matched case-insensitively (the oldest campaign of
    that name) and created when new."""
    wanted = [e["campaign"] for r, e in valid if not r.errors and e["campaign"] is not None]
    ids = {v for v in wanted if isinstance(v, int)}
    names = {v.lower(): v for v in wanted if isinstance(v, str)}
    known_ids = set(Campaign.objects.filter(pk__in=ids).values_list("pk", flat=True))
    by_name: dict[str, int] = {}
    for lowered, pk in (
        Campaign.objects.annotate(lowered=Lower("name")).filter(lowered__in=names)
        .order_by("-created_at", "-id").values_list("lowered", "pk")
    ):
        by_name[lowered] = pk  # newest first, so the oldest wins
    new = [Campaign(name=names[n]) for n in names if n not in by_name]
    for campaign in Campaign.objects.bulk_create(new):
        by_name[campaign.name.lower()] = campaign.pk
    for result, event in valid:
        value = event["campaign"]
        if isinstance(value, int) and value not in known_ids:
            result.errors["campaign"] = [f"No campaign with id {value}."]
        event["campaign_id"] = by_name.get(value.lower()) if isinstance(value, str) else value


def _insert_events(events: list[dict]) -> dict[str, dict]:
    """INSERT … ON CONFLICT (event_id) DO NOTHING; return the stored rows by event_id."""
    if not events:
        return {}
    now = timezone.now().isoformat()
    data = [{**{k: e.get(k) for k in _EVENT_COLUMNS}, "received_at": now} for e in events]
    index_of = {e["event_id"]: e["index"] for e in events}
    names = ", ".join(_EVENT_COLUMNS)
    typed = ", ".join(f"{name} {kind}" for name, kind in _EVENT_COLUMNS.items())
    sql = (
        f"INSERT INTO {EmailEvent._meta.db_table} ({names}) "
        f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({typed}) "
        "ON CONFLICT (event_id) DO NOTHING "
        "RETURNING event_id, id, contact_id, type, bounce_type"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(data, cls=DjangoJSONEncoder)])
        return {
            event_id: {"id": pk, "contact_id": contact_id, "type": kind, "bounce_type": bounce,
                       "index": index_of[event_id]}
            for event_id, pk, contact_id, kind, bounce in cursor.fetchall()
        }


_STATUS_SQL = """
WITH t AS (SELECT * FROM unnest(%(ids)s::bigint[], %(statuses)s::varchar[]) AS t(id, status)),
old AS (
    SELECT c.id, c.email, c.status AS old_status, t.status AS new_status
    FROM contacts_contact c JOIN t USING (id)
    WHERE c.status <> t.status AND (t.status = 'bounced' OR c.status = 'active')
    FOR UPDATE OF c
), up AS (
    UPDATE contacts_contact c SET status = old.new_status, updated_at = %(now)s,
                                 updated_by_id = NULL
    FROM old WHERE c.id = old.id RETURNING c.id
)
INSERT INTO contacts_contactchange
    (contact_id, contact_email, action, changes, actor_id, source, created_at)
SELECT old.id, old.email, 'updated',
       jsonb_build_object('status', jsonb_build_array(old.old_status, old.new_status)),
       NULL, %(source)s, %(now)s
FROM old JOIN up USING (id)
RETURNING contact_id
"""


def _apply_status_changes(rows: list[dict], *, source: str) -> None:
    """Hard bounce → bounced (whatever the status was); unsubscribe → unsubscribed (only an
    active contact: a bounced one stays bounced). One statement for the whole batch."""
    target: dict[int, str] = {}
    for row in rows:
        if row["type"] == "bounced" and row["bounce_type"] == "hard":
            target[row["contact_id"]] = "bounced"
        elif row["type"] == "unsubscribed":
            target.setdefault(row["contact_id"], "unsubscribed")
    if not target:
        return
    ids = sorted(target)
    params = {"ids": ids, "statuses": [target[i] for i in ids], "now": timezone.now(),
              "source": source[:50]}
    with connection.cursor() as cursor:
        cursor.execute(_STATUS_SQL, params)
        changed = [row[0] for row in cursor.fetchall()]
    if changed:
        contacts_changed(contact_ids=changed)
        push(schema_name=connection.schema_name, topic="contacts",
             event={"action": "updated", "ids": changed})
