"""Bulk actions over a selection of contacts: add to / remove from a list, add to a campaign,
add / remove tags, change status, delete (undoable for UNDO_DAYS days).

Work is set-based and chunked: the selection is re-evaluated in SQL and walked in id order,
CHUNK_SIZE contacts at a time; each chunk is one transaction that first locks its contacts in
id order (so two bulk jobs over the same contacts wait for each other instead of deadlocking),
then changes them with a few statements and records their history in one INSERT … SELECT.
Membership actions (lists, campaigns) leave the contact rows alone and take no row locks (the
list's own row lock orders concurrent changes to one list; locking a million contacts would
cost more than the action itself): their chunks are id ranges that never leave SQL.
The operation row keeps the counters, the failure reasons and where it got to (`last_id`), so
a job re-run after a crash resumes where it stopped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from contacts.bulk import actions
from contacts.bulk.selection import Selection
from contacts.changes import contacts_changed
from contacts.models import BulkKind, BulkOperation, BulkStatus
from penguinleads.realtime import push

CHUNK_SIZE = 20_000
INLINE_LIMIT = 1_000  # selections up to this size run inside the request
UNDO_DAYS = 30
# Membership actions write one narrow row per contact and no history: bigger chunks, fewer
# round trips (a million contacts in 10 chunks rather than 50).
MEMBERSHIP_CHUNK_SIZE = 100_000
LOCKS = {BulkKind.DELETE: "FOR UPDATE"}  # row lock on a chunk's contacts; else NO KEY UPDATE
SAMPLE_IDS = 20
FAILURE_LABELS = {
    "not_found": "no longer exist (deleted before the action reached them)",
}
ACTIVE = (BulkStatus.QUEUED, BulkStatus.RUNNING, BulkStatus.UNDOING)


class BulkStopped(Exception):
    """The operation cannot go on (its list was deleted, …); str() is for the user."""


# --- start ------------------------------------------------------------------------------------


def start_bulk_operation(
    *,
    kind: str,
    selection: Selection,
    options: dict[str, Any],
    user,
    inline_limit: int = INLINE_LIMIT,
) -> BulkOperation:
    """Check the action's options (list, campaign, tags, status), record a BulkOperation and
    run it: inline when the selection has at most `inline_limit` contacts, else as a django-q2
    job (enqueued after commit). Side effects: see run_bulk_operation; creating a new list or
    new tags happens here. Raises ValidationError with the message for the user."""
    if kind not in BulkKind.values:
        raise ValidationError("Unknown bulk action.")
    total = count_selection(selection)
    if total == 0:
        raise ValidationError("No contacts match this selection any more.")
    params = actions.prepare(kind=kind, options=options, user=user)
    op = BulkOperation.objects.create(
        kind=kind,
        params=params,
        selection=selection.as_json(),
        selection_label=selection.label()[:300],
        total=len(selection.ids) if not selection.all_matching else total,
        created_by=user if getattr(user, "pk", None) else None,
        heartbeat_at=timezone.now(),
    )
    if total <= inline_limit:
        run_bulk_operation(op)
        op.refresh_from_db()
    else:
        _enqueue("contacts.bulk.tasks.run_bulk_task", op.pk)
    return op


def count_selection(selection: Selection) -> int:
    """How many contacts the selection holds now (exact; one COUNT in SQL)."""
    sql, params = selection.ids_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) s", params)
        return cursor.fetchone()[0]


def _enqueue(task: str, *args) -> None:
    from django_q.tasks import async_task

    schema = connection.schema_name
    transaction.on_commit(lambda: async_task(task, schema, *args, group=f"bulk:{schema}"))


# --- run --------------------------------------------------------------------------------------


def run_bulk_operation(op: BulkOperation) -> None:
    """Run (or resume) the operation chunk by chunk. Side effects: the action's writes and
    ContactChange rows per chunk, the operation's counters, one push per chunk to the
    operation's page and to the tenant's contact tables. Ends finished or failed."""
    if op.status not in (BulkStatus.QUEUED, BulkStatus.RUNNING):
        return
    _save(op, status=BulkStatus.RUNNING)
    try:
        sql, params = Selection.from_json(op.selection).ids_sql()
        while _run_chunk(op, sql, params):
            pass
    except (BulkStopped, ValidationError) as exc:
        _finish(op, status=BulkStatus.FAILED, error=_message(exc))
        return
    _finish(op, status=BulkStatus.FINISHED)


def _run_chunk(op: BulkOperation, sql: str, params: list) -> bool:
    """One chunk in its own transaction; False when the selection is exhausted."""
    size = _chunk_size(op)
    with transaction.atomic():
        if op.kind in actions.MEMBERSHIP_KINDS:
            count, changed, last_id = _membership_chunk(op, sql, params, size)
        else:
            ids = _locked_chunk(op, sql, params, size)
            count, last_id = len(ids), ids[-1] if ids else None
            changed = actions.apply(op, ids) if ids else 0
            if changed and op.kind != BulkKind.DELETE:  # tags, status: segments follow
                contacts_changed(contact_ids=ids)
        if not count:
            return False
        BulkOperation.objects.filter(pk=op.pk).update(
            processed=op.processed + count, changed=op.changed + changed,
            last_id=last_id, heartbeat_at=timezone.now(),
        )
        op.refresh_from_db()
        _push_progress(op)
        push(schema_name=connection.schema_name, topic="contacts",
             event={"action": "batch", "ids": []})
    return count == size


def _locked_chunk(op: BulkOperation, sql: str, params: list, size: int) -> list[int]:
    """The chunk's contact ids, locked in id order."""
    lock = LOCKS.get(op.kind, "FOR NO KEY UPDATE")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT c.id FROM contacts_contact c
                WHERE c.id IN (SELECT s.id FROM ({sql}) s WHERE s.id > %s
                               ORDER BY s.id LIMIT %s)
                ORDER BY c.id {lock}""",
            [*params, op.last_id, size],
        )
        return [row[0] for row in cursor.fetchall()]


def _membership_chunk(op: BulkOperation, sql: str, params: list, size: int
                      ) -> tuple[int, int, int | None]:
    """(contacts, memberships changed, last id) of one chunk of a membership action. The
    chunk is the id range of the selection's next `size` contacts; it never leaves SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*), max(x.id) FROM (SELECT s.id FROM ({sql}) s WHERE s.id > %s
                                                 ORDER BY s.id LIMIT %s) x""",
            [*params, op.last_id, size],
        )
        count, last_id = cursor.fetchone()
    if not count:
        return 0, 0, None
    in_range = f"SELECT s.id FROM ({sql}) s WHERE s.id > %s AND s.id <= %s"
    changed = actions.apply_to_range(op, in_range, [*params, op.last_id, last_id])
    return count, changed, last_id


def _chunk_size(op: BulkOperation) -> int:
    return MEMBERSHIP_CHUNK_SIZE if op.kind in actions.MEMBERSHIP_KINDS else CHUNK_SIZE


def _finish(op: BulkOperation, *, status: str, error: str = "") -> None:
    op.refresh_from_db()
    actions.record_membership_change(op)
    selection = Selection.from_json(op.selection)
    fields: dict[str, Any] = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == BulkStatus.FINISHED:
        if selection.all_matching:
            fields["total"] = op.processed
        else:
            _record_missing(op, selection.ids, fields)
    if op.kind == BulkKind.DELETE and op.changed:
        fields["undo_until"] = fields["finished_at"] + dt.timedelta(days=UNDO_DAYS)
    _save(op, **fields)


def _record_missing(op: BulkOperation, ids: list[int], fields: dict[str, Any]) -> None:
    """Explicit ids the action never reached: they did not exist (or not in this tenant)."""
    missing = len(ids) - op.processed
    if missing <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i FROM unnest(%s::bigint[]) i WHERE NOT EXISTS "
            "(SELECT 1 FROM contacts_contact c WHERE c.id = i) ORDER BY i LIMIT %s",
            [ids, SAMPLE_IDS],
        )
        sample = [row[0] for row in cursor.fetchall()]
    failures = dict(op.failures)
    failures["not_found"] = {"count": missing, "sample_ids": sample}
    fields.update(failures=failures, failed=op.failed + missing, processed=len(ids))


def _save(op: BulkOperation, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(op, name, value)
    op.heartbeat_at = timezone.now()
    op.save(update_fields=[*fields, "heartbeat_at"])
    _push_progress(op)


def _push_progress(op: BulkOperation) -> None:
    push(schema_name=connection.schema_name, topic=f"bulk.{op.pk}", event=bulk_progress(op))


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def fail_operation(op: BulkOperation, message: str) -> None:
    """Mark the operation failed with `message` for the user (a worker error)."""
    _finish(op, status=BulkStatus.FAILED, error=message)


# --- progress and report ----------------------------------------------------------------------


def bulk_progress(op: BulkOperation) -> dict[str, Any]:
    """What the progress page shows, as JSON (polling) or WebSocket message."""
    percent = 100 if op.status == BulkStatus.FINISHED else (
        min(99, int(op.processed * 100 / op.total)) if op.total else 0
    )
    return {
        "id": op.pk,
        "status": op.status,
        "status_label": op.get_status_display(),
        "is_active": op.status in ACTIVE,
        "total": op.total,
        "processed": op.processed,
        "changed": op.changed,
        "failed": op.failed,
        "percent": percent,
        "error": op.error,
    }


def failure_lines(op: BulkOperation) -> list[dict[str, Any]]:
    """The failure reasons of the report: [{reason, label, count, sample_ids}]."""
    return [
        {"reason": reason, "label": FAILURE_LABELS.get(reason, reason), **detail}
        for reason, detail in sorted((op.failures or {}).items())
    ]


def summary(op: BulkOperation) -> str:
    """One sentence for a message after an inline run."""
    verb = actions.PAST_TENSE[op.kind]
    text = f"{op.get_kind_display()}: {op.changed:,} contact{'s' if op.changed != 1 else ''} {verb}"
    unchanged = op.processed - op.changed - op.failed
    if unchanged > 0:
        text += f", {unchanged:,} already {actions.ALREADY[op.kind]}"
    if op.failed:
        text += f", {op.failed:,} failed"
    return text + "."
