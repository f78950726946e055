"""Writes to contacts. Every change is recorded as a ContactChange (who, what, when, source)
and pushed to open contact tables of the same tenant after commit."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.changes import contacts_changed
from contacts.emails import InvalidEmail, normalize_email
from contacts.models import (
    ChangeAction,
    Contact,
    ContactChange,
    ContactStatus,
    ContactTag,
    CustomField,
    CustomFieldType,
    Tag,
)
from penguinleads.realtime import push
from webhooks.services import emit_many

# Fields a person or integrator may set directly (email is handled on its own).
TEXT_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "website",
    "city",
    "country",
)
TRACKED_FIELDS = ("email", *TEXT_FIELDS, "status", "custom_fields")
MAX_TAG_LENGTH = 64


class DuplicateEmail(ValidationError):
    """Another contact of this tenant already has this email (see `.existing_id`)."""

    def __init__(self, existing_id: int, email: str):
        self.existing_id = existing_id
        super().__init__(
            f"A contact with the email {email} already exists.", code="duplicate_email"
        )


@dataclass
class ItemResult:
    index: int
    email: str
    status: str  # created | updated | unchanged | error
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "email": self.email, "status": self.status}
        if self.id is not None:
            data["id"] = self.id
        if self.errors:
            data["errors"] = self.errors
        return data


# --- validation of values ---------------------------------------------------------------------


def clean_text_fields(data: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return the text fields present in `data`, trimmed, and per-field errors."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in TEXT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None:
            value = ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            errors[name] = ["Must be text."]
            continue
        value = str(value).strip()
        limit = Contact._meta.get_field(name).max_length
        if len(value) > limit:
            errors[name] = [f"At most {limit} characters (got {len(value)})."]
            continue
        if "\x00" in value:
            errors[name] = ["Contains a NUL character."]
            continue
        cleaned[name] = value
    return cleaned, errors


def clean_status(value: Any) -> str:
    if value not in ContactStatus.values:
        raise ValidationError(
            f"Unknown status {value!r}; use one of: {', '.join(ContactStatus.values)}."
        )
    return value


def custom_field_definitions() -> dict[str, CustomField]:
    return {f.key: f for f in CustomField.objects.all()}


def clean_custom_fields(
    values: Any, definitions: dict[str, CustomField] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check custom field values against the tenant's definitions.

    Returns (cleaned values, errors keyed `custom_fields.<key>`). Unknown keys are errors, not
    silently dropped. Empty values ("" or None) remove the key."""
    if definitions is None:
        definitions = custom_field_definitions()
    if not isinstance(values, dict):
        return {}, {"custom_fields": ["Must be an object of {field key: value}."]}
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            known = ", ".join(sorted(definitions)) or "none defined yet"
            errors[f"custom_fields.{key}"] = [f"Unknown custom field {key!r} (known: {known})."]
            continue
        try:
            cleaned[key] = coerce_custom_value(definition.field_type, value)
        except ValueError as exc:
            errors[f"custom_fields.{key}"] = [str(exc)]
    return cleaned, errors


def coerce_custom_value(field_type: str, value: Any) -> Any:
    """Return the JSON value stored for `value` of a custom field of `field_type`."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if field_type == CustomFieldType.TEXT:
        text = str(value).strip()
        if len(text) > 1000:
            raise ValueError("At most 1000 characters.")
        if "\x00" in text:  # PostgreSQL cannot store it: a 500 otherwise
            raise ValueError("Contains a NUL character.")
        return text
    if field_type == CustomFieldType.NUMBER:
        if isinstance(value, bool):
            raise ValueError("Must be a number.")
        text = str(value).strip()
        if text.isascii() and text.isdigit():  # the common case, without Decimal (10x faster)
            return int(text)
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number.") from None
        if not number.is_finite():
            raise ValueError("Must be a finite number.")
        return int(number) if number == number.to_integral_value() else float(number)
    if field_type == CustomFieldType.DATE:
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD).") from None
    if field_type == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "y", "1"}:
            return True
        if text in {"false", "no", "n", "0"}:
            return False
        raise ValueError(f"{value!r} is not yes/no.")
    raise ValueError(f"Unknown field type {field_type!r}.")


def clean_tag_names(names: Any) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = names.split(",")
    if not isinstance(names, (list, tuple)):
        raise ValidationError("Tags must be a list of names.")
    cleaned: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str):
            raise ValidationError("Each tag must be text.")
        name = " ".join(name.split())
        if not name:
            continue
        if "\x00" in name:  # PostgreSQL cannot store it: a 500 otherwise
            raise ValidationError("Tag names may not contain a NUL character.")
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationError(f"Tag {name[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.")
        cleaned.setdefault(name.lower(), name)
    return list(cleaned.values())


def ensure_tags(names: list[str]) -> list[Tag]:
    """Return Tag rows for `names` (case-insensitive), creating the missing ones in one query."""
    if not names:
        return []
    wanted = {n.lower(): n for n in names}
    existing = {t.name.lower(): t for t in Tag.objects.annotate(l=Lower("name")).filter(l__in=wanted)}
    missing = [Tag(name=n) for key, n in wanted.items() if key not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {
            t.name.lower(): t for t in Tag.objects.annotate(l=Lower("name")).filter(l__in=wanted)
        }
    return [existing[key] for key in wanted]


# --- single contact ---------------------------------------------------------------------------


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in TRACKED_FIELDS}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def _apply(contact: Contact, data: dict[str, Any], definitions=None) -> None:
    """Validate `data` and set it on `contact` (no save). Raises ValidationError by field."""
    errors: dict[str, list[str]] = {}
    if "email" in data:
        try:
            email = normalize_email(data["email"])
        except InvalidEmail as exc:
            errors["email"] = [str(exc)]
        else:
            contact.email, contact.email_normalized = email.display, email.normalized
    texts, text_errors = clean_text_fields(data)
    errors.update(text_errors)
    for name, value in texts.items():
        setattr(contact, name, value)
    if "status" in data:
        try:
            contact.status = clean_status(data["status"])
        except ValidationError as exc:
            errors["status"] = exc.messages
    if "custom_fields" in data:
        values, cf_errors = clean_custom_fields(data["custom_fields"], definitions)
        errors.update(cf_errors)
        merged = {**(contact.custom_fields or {}), **values}
        contact.custom_fields = {k: v for k, v in merged.items() if v is not None}
    if errors:
        raise ValidationError(errors)


def _check_unique(contact: Contact) -> None:
    clash = (
        Contact.objects.filter(email_normalized=contact.email_normalized)
        .exclude(pk=contact.pk)
        .values_list("pk", flat=True)
        .first()
    )
    if clash is not None:
        raise DuplicateEmail(clash, contact.email)


def _set_tags(contact: Contact, tags: list[str]) -> None:
    rows = ensure_tags(tags)
    ContactTag.objects.filter(contact=contact).exclude(tag__in=rows).delete()
    ContactTag.objects.bulk_create(
        [ContactTag(contact=contact, tag=t) for t in rows], ignore_conflicts=True
    )


def _webhook_event(action: str, contact: Contact, contact_id: int, changes: dict,
                   source: str) -> tuple[str, dict[str, Any]]:
    """A contact.<action> webhook event (payloads: README › Outbound webhooks)."""
    body = {"id": contact_id, **_snapshot(contact)}
    return f"contact.{action}", {"contact": body, "changes": changes, "source": source}


def _push(action: str, ids: list[int]) -> None:
    push(schema_name=connection.schema_name, topic="contacts", event={"action": action, "ids": ids})


@transaction.atomic
def create_contact(
    *, data: dict[str, Any], tags: list[str] | None = None, actor=None, source: str = "ui"
) -> Contact:
    """Create a contact from `data` (validated here).

    Side effects: inserts Contact, its ContactTag rows and a 'created' ContactChange; pushes a
    'created' event to the tenant's contact tables. Raises ValidationError / DuplicateEmail."""
    if not data.get("email"):
        raise ValidationError({"email": ["An email address is required."]})
    contact = Contact(source=source, created_by=actor, updated_by=actor)
    _apply(contact, data)
    tag_names = clean_tag_names(tags)
    _check_unique(contact)
    contact.save()
    if tag_names:
        _set_tags(contact, tag_names)
    changes = {k: [None, v] for k, v in _snapshot(contact).items() if v not in ("", {}, None)}
    if tag_names:
        changes["tags"] = [[], sorted(tag_names, key=str.lower)]
    ContactChange.objects.create(
        contact=contact, contact_email=contact.email, action=ChangeAction.CREATED,
        changes=changes, actor=actor, source=source,
    )
    _push("created", [contact.pk])
    contacts_changed(contact_ids=[contact.pk])
    emit_many(events=[_webhook_event("created", contact, contact.pk, changes, source)])
    return contact


@transaction.atomic
def update_contact(
    *,
    contact: Contact,
    data: dict[str, Any],
    tags: list[str] | None = None,
    actor=None,
    source: str = "ui",
) -> Contact:
    """Change the fields present in `data`; replace the tags when `tags` is not None.

    Side effects: updates Contact (and ContactTag rows), records an 'updated' ContactChange
    with old→new values if anything changed, pushes an 'updated' event."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    before = _snapshot(contact)
    before_tags = sorted(contact.tags.values_list("name", flat=True), key=str.lower)
    _apply(contact, data)
    _check_unique(contact)
    changes = _diff(before, _snapshot(contact))
    if tags is not None:
        tag_names = sorted(clean_tag_names(tags), key=str.lower)
        if [t.lower() for t in tag_names] != [t.lower() for t in before_tags]:
            _set_tags(contact, tag_names)
            changes["tags"] = [before_tags, tag_names]
    if not changes:
        return contact
    contact.updated_by = actor
    contact.save()
    ContactChange.objects.create(
        contact=contact, contact_email=contact.email, action=ChangeAction.UPDATED,
        changes=changes, actor=actor, source=source,
    )
    _push("updated", [contact.pk])
    contacts_changed(contact_ids=[contact.pk])
    emit_many(events=[_webhook_event("updated", contact, contact.pk, changes, source)])
    return contact


@transaction.atomic
def delete_contact(*, contact: Contact, actor=None, source: str = "ui") -> None:
    """Delete a contact. Its history stays (under its id) with a final 'deleted' entry."""
    ContactChange.objects.create(
        contact=contact, contact_email=contact.email, action=ChangeAction.DELETED,
        changes={}, actor=actor, source=source,
    )
    pk = contact.pk
    contact.delete()
    _push("deleted", [pk])
    emit_many(events=[_webhook_event("deleted", contact, pk, {}, source)])


# --- many contacts at once --------------------------------------------------------------------


def purge_contacts(*, ids_sql: str, params: dict, actor_id: int | None, source: str) -> int:
    """Delete, set-based, the contacts whose ids `ids_sql` (a SELECT of one column `id`)
    returns; caller holds the transaction. Side effects: adds a 'deleted' ContactChange for
    each (their history stays, under their ids; the delete trigger removes their ContactTag
    rows), records a contact.deleted webhook delivery per contact when an endpoint listens,
    pushes one event. Returns how many contacts were deleted."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE purge_ids ON COMMIT DROP AS {ids_sql}", params)
        cursor.execute(
            """INSERT INTO contacts_contactchange
                   (contact_id, contact_email, action, changes, actor_id, source, created_at)
               SELECT c.id, c.email, 'deleted', '{}', %s, %s, now()
               FROM contacts_contact c JOIN purge_ids p ON p.id = c.id""",
            [actor_id, source],
        )
        # Tags and history: the contacts' delete trigger (contacts migration 0008).
        deleted = _delete_purged(cursor, source)
        cursor.execute("DROP TABLE purge_ids")
    if deleted:
        _push("batch", [])
    return deleted


def _delete_purged(cursor, source: str) -> int:
    """Delete the contacts of purge_ids; when an endpoint listens to contact.deleted, the same
    statement records one delivery per deleted contact and endpoint (payload as delete_contact's,
    from the deleted rows themselves). Nobody listening: a plain DELETE, no extra work."""
    from webhooks.models import Delivery
    from webhooks.services import listening_endpoints, send_recorded

    endpoints = listening_endpoints("contact.deleted")
    if not endpoints:
        cursor.execute("DELETE FROM contacts_contact WHERE id IN (SELECT id FROM purge_ids)")
        return cursor.rowcount
    snapshot = ", ".join(f"'{name}', g.{name}" for name in TRACKED_FIELDS)
    cursor.execute(
        f"""WITH gone AS (
                DELETE FROM contacts_contact WHERE id IN (SELECT id FROM purge_ids)
                RETURNING id, {", ".join(TRACKED_FIELDS)}
            ), recorded AS (
                INSERT INTO {Delivery._meta.db_table}
                    (endpoint_id, kind, payload, event_id, status, attempts, next_attempt_at,
                     last_error, last_response_excerpt, created_at)
                SELECT e.id, 'contact.deleted',
                       jsonb_build_object('contact', jsonb_build_object('id', g.id, {snapshot}),
                                          'changes', '{{}}'::jsonb, 'source', %(source)s),
                       gen_random_uuid(), 'pending', 0, %(now)s, '', '', %(now)s
                FROM gone g CROSS JOIN unnest(%(endpoints)s::bigint[]) AS e(id)
                RETURNING id
            )
            SELECT (SELECT count(*) FROM gone),
                   (SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM recorded)""",
        {"source": source, "now": timezone.now(), "endpoints": endpoints},
    )
    deleted, delivery_ids = cursor.fetchone()
    send_recorded(delivery_ids)
    return deleted



def _prepare_batch(items: list[Any], definitions) -> tuple[list[ItemResult], dict[str, tuple]]:
    """Validate every item; return results (errors filled in) and the valid ones by email."""
    results: list[ItemResult] = []
    valid: dict[str, tuple] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            results.append(ItemResult(index, "", "error", errors={"item": ["Must be an object."]}))
            continue
        result = ItemResult(index, str(item.get("email") or ""), "error")
        results.append(result)
        unknown = set(item) - {"email", "tags", "status", "custom_fields", *TEXT_FIELDS}
        if unknown:
            result.errors["item"] = [f"Unknown field(s): {', '.join(sorted(map(str, unknown)))}."]
            continue
        probe = Contact()
        try:
            if not item.get("email"):
                raise ValidationError({"email": ["An email address is required."]})
            _apply(probe, item, definitions)
            tag_names = clean_tag_names(item.get("tags"))
        except ValidationError as exc:
            result.errors = getattr(exc, "message_dict", None) or {"item": exc.messages}
            continue
        if probe.email_normalized in valid:
            first = valid[probe.email_normalized][0].index
            result.errors["email"] = [f"Same email as item {first} of this batch."]
            continue
        result.email = probe.email
        valid[probe.email_normalized] = (result, item, tag_names, probe)
    return results, valid


@transaction.atomic
def upsert_contacts(*, items: list[Any], actor=None, source: str = "api") -> list[ItemResult]:
    """Create or update many contacts by email in a few set-based queries.

    Items carry the fields to set (absent fields keep their value on existing contacts) and
    tags to add. Side effects: inserts/updates Contact rows with one INSERT … ON CONFLICT, adds
    ContactTag rows, records one ContactChange per created or changed contact, pushes one
    event. Invalid items are reported in their ItemResult and do not stop the others."""
    definitions = custom_field_definitions()
    results, valid = _prepare_batch(items, definitions)
    if not valid:
        return results
    existing = {
        c.email_normalized: c
        for c in Contact.objects.select_for_update()
        .filter(email_normalized__in=list(valid))
    }
    rows: list[Contact] = []
    changes: list[tuple[ItemResult, str, dict, str]] = []
    for email, (result, item, _tags, probe) in valid.items():
        current = existing.get(email)
        if current is None:
            # The probe _prepare_batch validated is the new row: no second pass over the item.
            contact = probe
            contact.source, contact.created_by_id = source, getattr(actor, "pk", None)
            diff = {k: [None, v] for k, v in _snapshot(contact).items() if v not in ("", {}, None)}
            changes.append((result, ChangeAction.CREATED, diff, email))
        else:
            contact = current
            before = _snapshot(contact)
            _apply(contact, item, definitions)  # again: custom fields merge into current values
            diff = _diff(before, _snapshot(contact))
            result.id = current.pk
            result.status = "unchanged"
            if not diff:
                continue
            changes.append((result, ChangeAction.UPDATED, diff, email))
        rows.append(contact)
    ids = _write_contacts(rows, actor=actor)
    for result, action, _changes, email in changes:
        result.status = action
        result.id = ids[email]
    _add_batch_tags(valid, results)
    _write_changes(changes, actor=actor, source=source)
    _push("batch", [change[0].id for change in changes])
    contacts_changed(contact_ids=[r.id for r in results if r.id])  # also tags-only changes
    emit_many(events=(_webhook_event(action, contact, result.id, diff, source)
                      for (result, action, diff, _e), contact in zip(changes, rows, strict=True)))
    return results


# Batch writes send each table's rows as one JSON document that PostgreSQL expands with
# jsonb_to_recordset. bulk_create sends one array per column instead, and psycopg builds those
# array literals in Python, escaping element by element: that was most of the time of a 1,000
# contact upsert. json.dumps is C, and so is PostgreSQL's JSON parser.
_CONTACT_COLUMNS = {
    "email": "varchar",
    "email_normalized": "varchar",
    **{name: "varchar" for name in TEXT_FIELDS},
    "custom_fields": "jsonb",
    "status": "varchar",
    "validation_status": "varchar",
    "validation_reason": "varchar",
    "source": "varchar",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "created_by_id": "bigint",
    "updated_by_id": "bigint",
}
_CONTACT_UPDATED = (*TRACKED_FIELDS, "updated_at", "updated_by_id")
_TAG_COLUMNS = {"contact_id": "bigint", "tag_id": "bigint", "added_at": "timestamptz"}
_CHANGE_COLUMNS = {
    "contact_id": "bigint",
    "contact_email": "varchar",
    "action": "varchar",
    "changes": "jsonb",
    "actor_id": "bigint",
    "source": "varchar",
    "created_at": "timestamptz",
}


def _insert_json(model, columns: dict[str, str], rows: list[dict], suffix: str = "") -> list:
    """INSERT INTO model's table the `rows` (dicts keyed by column), sent as one parameter."""
    names = ", ".join(columns)
    typed = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({names}) "
        f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({typed}) {suffix}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, cls=DjangoJSONEncoder)])
        return cursor.fetchall() if "RETURNING" in suffix else []


def _write_contacts(rows: list[Contact], *, actor) -> dict[str, int]:
    """Insert or update (by email_normalized) `rows`; return their ids by email_normalized."""
    if not rows:
        return {}
    actor_id = actor.pk if actor is not None else None
    fields = [name for name in _CONTACT_COLUMNS if name not in ("created_at", "updated_at")]
    data = []
    for row in rows:
        row.updated_by_id = actor_id
        # A timestamp per row, as bulk_create gave: the API's cursor pages by created_at, and
        # long runs of equal values make DRF fall back to offsets. isoformat: full precision
        # (DjangoJSONEncoder cuts to milliseconds).
        now = timezone.now().isoformat()
        data.append(
            {**{name: getattr(row, name) for name in fields}, "created_at": now, "updated_at": now}
        )
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _CONTACT_UPDATED)
    suffix = (
        f"ON CONFLICT (email_normalized) DO UPDATE SET {updates} RETURNING email_normalized, id"
    )
    return dict(_insert_json(Contact, _CONTACT_COLUMNS, data, suffix))


def _write_changes(changes: list[tuple], *, actor, source: str) -> None:
    now = timezone.now().isoformat()  # full precision (DjangoJSONEncoder cuts to ms)
    actor_id = actor.pk if actor is not None else None
    data = [
        {
            "contact_id": result.id,
            "contact_email": result.email,
            "action": action,
            "changes": diff,
            "actor_id": actor_id,
            "source": source,
            "created_at": now,
        }
        for result, action, diff, _email in changes
    ]
    if data:
        _insert_json(ContactChange, _CHANGE_COLUMNS, data)


def _add_batch_tags(valid: dict[str, tuple], results: list[ItemResult]) -> None:
    names = {n.lower(): n for _r, _i, tags, _p in valid.values() for n in tags}
    if not names:
        return
    tags = {t.name.lower(): t.pk for t in ensure_tags(list(names.values()))}
    now = timezone.now().isoformat()  # full precision (DjangoJSONEncoder cuts to ms)
    links = [
        {"contact_id": result.id, "tag_id": tags[n.lower()], "added_at": now}
        for result, _item, tag_names, _probe in valid.values()
        for n in tag_names
        if result.id is not None
    ]
    _insert_json(ContactTag, _TAG_COLUMNS, links, "ON CONFLICT DO NOTHING")
