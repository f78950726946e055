"""Undo of a bulk delete: put the deleted contacts back with their ids, fields, tags and list
memberships, from the snapshots the delete kept. A contact whose email was used again for a
new contact in the meantime is not restored (that would make a duplicate); it is reported."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from contacts.bulk import services
from contacts.bulk.hooks import restore_after_undo
from contacts.changes import contacts_changed
from contacts.models import BulkKind, BulkOperation, BulkStatus, Contact, DeletedContactSnapshot
from penguinleads.realtime import push

SAMPLE_EMAILS = 20


def can_undo(op: BulkOperation) -> bool:
    return (
        op.kind == BulkKind.DELETE
        and op.status in (BulkStatus.FINISHED, BulkStatus.FAILED)
        and op.undone_at is None
        and op.undo_until is not None
        and op.undo_until > timezone.now()
    )


def start_undo(*, op: BulkOperation, user, inline_limit: int = services.INLINE_LIMIT) -> None:
    """Restore what the bulk delete `op` removed: inline for small deletes, else a django-q2
    job. Side effects: see run_undo. Raises ValidationError when it cannot be undone."""
    with transaction.atomic():
        op = BulkOperation.objects.select_for_update().get(pk=op.pk)
        if not can_undo(op):
            raise ValidationError("This action cannot be undone (any more).")
        op.status = BulkStatus.UNDOING
        op.undone_by = user if getattr(user, "pk", None) else None
        op.save(update_fields=["status", "undone_by"])
        if op.changed <= inline_limit:
            run_undo(op)
        else:
            services._enqueue("contacts.bulk.tasks.undo_bulk_task", op.pk)


def _columns() -> list[str]:
    # Not tag_ids: the database fills it from the tags re-inserted after the contacts.
    return [
        f.column for f in Contact._meta.concrete_fields
        if not getattr(f, "generated", False) and f.name != "tag_ids"
    ]


@transaction.atomic
def run_undo(op: BulkOperation) -> None:
    """One transaction: re-insert the snapshots' contacts (skipping emails taken since),
    their tags (those still existing) and list memberships (lists still existing), a
    'created' history entry each; then the registered restore hooks (contacts.bulk.hooks:
    engagement events and scores) and drop the snapshots. Side effects: as said, plus the
    operation's undo_report, one push to the contact tables and contacts_changed."""
    if op.status != BulkStatus.UNDOING:
        return
    columns = ", ".join(_columns())
    selected = ", ".join(f"r.{name}" for name in _columns())
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE undo_restored (id bigint PRIMARY KEY) ON COMMIT DROP")
        cursor.execute(
            f"""WITH ins AS (
                    INSERT INTO contacts_contact ({columns})
                    SELECT {selected} FROM contacts_deletedcontactsnapshot s,
                         jsonb_populate_record(NULL::contacts_contact, s.data) r
                    WHERE s.operation_id = %s
                      AND NOT EXISTS (SELECT 1 FROM contacts_contact c
                                      WHERE c.email_normalized = s.email_normalized
                                         OR c.id = s.contact_id)
                    ORDER BY s.contact_id
                    ON CONFLICT DO NOTHING RETURNING id
                ) INSERT INTO undo_restored SELECT id FROM ins""",
            [op.pk],
        )
        restored = cursor.rowcount
        _restore_links(cursor, op)
        skipped = _skipped(cursor, op)
        ids = _restored_ids(cursor) if restored else []
        cursor.execute("DROP TABLE undo_restored")
    _restore_lists(op)
    # Other apps' data of the restored contacts (engagement events, scores), same ids.
    extra = restore_after_undo(operation_id=op.pk, contact_ids=ids)
    contacts_changed(contact_ids=ids)  # dynamic segments re-evaluate them (scores, events)
    DeletedContactSnapshot.objects.filter(operation=op).delete()
    op.status = BulkStatus.FAILED if op.error else BulkStatus.FINISHED
    op.undone_at = timezone.now()
    op.undo_report = {"restored": restored, **skipped, **extra}
    op.save(update_fields=["status", "undone_at", "undo_report"])
    push(schema_name=connection.schema_name, topic="contacts", event={"action": "batch", "ids": []})


def _restore_links(cursor, op: BulkOperation) -> None:
    """Tags (those not deleted since) and a 'created' history entry per restored contact."""
    cursor.execute(
        """INSERT INTO contacts_contacttag (contact_id, tag_id, added_at)
           SELECT s.contact_id, g.id, now()
           FROM contacts_deletedcontactsnapshot s
           JOIN undo_restored u ON u.id = s.contact_id
           CROSS JOIN LATERAL unnest(s.tag_ids) AS x(tag_id)
           JOIN contacts_tag g ON g.id = x.tag_id
           WHERE s.operation_id = %s
           ON CONFLICT (contact_id, tag_id) DO NOTHING""",
        [op.pk],
    )
    cursor.execute(
        """INSERT INTO contacts_contactchange
               (contact_id, contact_email, action, changes, actor_id, source, created_at)
           SELECT c.id, c.email, 'created', '{}'::jsonb, %s, %s, now()
           FROM contacts_contact c JOIN undo_restored u ON u.id = c.id""",
        [op.undone_by_id, f"undo:bulk:{op.pk}"],
    )


def _restored_ids(cursor) -> list[int]:
    cursor.execute("SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM undo_restored")
    return cursor.fetchone()[0]


def _skipped(cursor, op: BulkOperation) -> dict:
    cursor.execute(
        """SELECT count(*) OVER (), s.data->>'email' FROM contacts_deletedcontactsnapshot s
           WHERE s.operation_id = %s
             AND NOT EXISTS (SELECT 1 FROM undo_restored u WHERE u.id = s.contact_id)
           ORDER BY s.email_normalized LIMIT %s""",
        [op.pk, SAMPLE_EMAILS],
    )
    rows = cursor.fetchall()
    return {"skipped": rows[0][0] if rows else 0, "skipped_emails": [r[1] for r in rows]}


def _restore_lists(op: BulkOperation) -> None:
    from segments.services import restore_memberships

    restore_memberships(
        pairs_sql="""SELECT s.contact_id, unnest(s.list_ids)
                     FROM contacts_deletedcontactsnapshot s
                     JOIN contacts_contact c ON c.id = s.contact_id
                     WHERE s.operation_id = %s
                       AND c.email_normalized = s.email_normalized""",
        params=[op.pk],
        source="restore",
        source_ref=op.pk,
    )
