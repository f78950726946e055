"""Writes to a tenant's custom field definitions (CustomField rows).

Values live in Contact.custom_fields[key]; removing a definition removes its values in one
set-based statement and records them in each contact's history."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max

from contacts.models import ChangeAction, Contact, CustomField, CustomFieldType
from contacts.services import TEXT_FIELDS
from penguinleads.realtime import push

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Keys that would be confused with a contact's own columns in imports, exports and the API.
RESERVED_KEYS = frozenset(
    {
        "id",
        "email",
        "email_normalized",
        "tags",
        "status",
        "validation_status",
        "validation_reason",
        "source",
        "created",
        "created_at",
        "updated",
        "updated_at",
        "created_by",
        "updated_by",
        "custom_fields",
        "name",
        *TEXT_FIELDS,
    }
)


def clean_field_key(key: str) -> str:
    """Return `key` if it can name a new custom field, else raise ValidationError."""
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        raise ValidationError(
            "Use 1–50 lower-case letters, digits or underscores, starting with a letter "
            "(for example: plan_tier)."
        )
    if key in RESERVED_KEYS:
        raise ValidationError(f"{key!r} is a built-in contact field; choose another key.")
    if CustomField.objects.filter(key=key).exists():
        raise ValidationError(f"A custom field with the key {key!r} already exists.")
    return key


def count_field_values(*, key: str) -> int:
    """How many contacts hold a value for the custom field `key`."""
    return Contact.objects.filter(custom_fields__has_key=key).count()


def check_type_change(*, field: CustomField, field_type: str) -> None:
    """Refuse to change the type of a field that has values: they would not fit the new type."""
    if field_type == field.field_type:
        return
    if Contact.objects.filter(custom_fields__has_key=field.key).exists():
        raise ValidationError(
            f"The type of “{field.label}” can't be changed because contacts already have "
            "values for it. Create a new field with the type you need instead.",
            code="type_locked",
        )


@transaction.atomic
def create_custom_field(
    *, key: str, label: str, field_type: str, position: int | None = None
) -> CustomField:
    """Define a new custom field. Side effects: inserts one CustomField row (placed last when
    no position is given). Raises ValidationError for a bad, reserved or taken key."""
    key = clean_field_key(key)
    if field_type not in CustomFieldType.values:
        raise ValidationError(f"Unknown field type {field_type!r}.")
    if position is None:
        last = CustomField.objects.aggregate(last=Max("position"))["last"]
        position = 0 if last is None else last + 1
    return CustomField.objects.create(
        key=key, label=label.strip(), field_type=field_type, position=position
    )


@transaction.atomic
def update_custom_field(
    *, field: CustomField, label: str, field_type: str, position: int
) -> CustomField:
    """Change a field's label, type or position (the key never changes: imports and the API
    use it). Side effects: updates the CustomField row. Raises ValidationError when the type
    would change while contacts hold values."""
    field = CustomField.objects.select_for_update().get(pk=field.pk)
    check_type_change(field=field, field_type=field_type)
    field.label, field.field_type, field.position = label.strip(), field_type, position
    field.save(update_fields=["label", "field_type", "position"])
    return field


# One statement: strip the key from every contact holding it and record the old→new
# custom_fields of each in its history. The self-join `o` sees the rows before the update.
_DELETE_VALUES = """
WITH changed AS (
    UPDATE contacts_contact AS c
    SET custom_fields = c.custom_fields - %(key)s, updated_at = now(), updated_by_id = %(actor)s
    FROM contacts_contact AS o
    WHERE o.id = c.id AND o.custom_fields ? %(key)s
    RETURNING c.id, c.email, o.custom_fields AS old, c.custom_fields AS new
), history AS (
    INSERT INTO contacts_contactchange
        (contact_id, contact_email, action, changes, actor_id, source, created_at)
    SELECT id, email, %(action)s,
           jsonb_build_object('custom_fields', jsonb_build_array(old, new)),
           %(actor)s, %(source)s, now()
    FROM changed
    RETURNING 1
)
SELECT count(*) FROM history
"""


@transaction.atomic
def delete_custom_field(*, field: CustomField, actor=None, source: str = "ui") -> int:
    """Delete a custom field definition and its values; returns how many contacts changed.

    Side effects: removes the key from Contact.custom_fields (one UPDATE), inserts an
    'updated' ContactChange per changed contact, deletes the CustomField row, pushes one
    'batch' event (without ids: there may be millions)."""
    params = {
        "key": field.key,
        "actor": getattr(actor, "pk", None),
        "action": ChangeAction.UPDATED,
        "source": source,
    }
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_VALUES, params)
        changed = cursor.fetchone()[0]
    field.delete()
    if changed:
        push(
            schema_name=connection.schema_name,
            topic="contacts",
            event={"action": "batch", "ids": []},
        )
    return changed
