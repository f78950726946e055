"""Background jobs of bulk operations: thin wrappers taking the tenant's schema and the
operation id. A task without a tenant schema refuses to run."""

from __future__ import annotations

import logging

from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

from contacts.bulk import services, undo
from contacts.bulk.hooks import expire_snapshots
from contacts.models import BulkOperation, DeletedContactSnapshot

logger = logging.getLogger(__name__)


def _enter(schema_name: str):
    if not schema_name or schema_name == "public":
        raise ValueError("A bulk task needs the schema of a tenant.")
    return schema_context(schema_name)


def run_bulk_task(schema_name: str, op_id: int) -> None:
    with _enter(schema_name):
        op = BulkOperation.objects.get(pk=op_id)
        try:
            services.run_bulk_operation(op)
        except Exception as exc:  # the user must learn the action stopped, whatever the cause
            logger.exception("bulk operation %s failed", op_id)
            services.fail_operation(
                op, f"The action stopped because of an internal error ({type(exc).__name__}); "
                f"{op.changed:,} contacts were changed before that."
            )
            raise


def undo_bulk_task(schema_name: str, op_id: int) -> None:
    with _enter(schema_name):
        undo.run_undo(BulkOperation.objects.get(pk=op_id))


def purge_expired_snapshots() -> int:
    """Scheduled daily: drop the snapshots of bulk deletes whose undo window has closed, in
    every tenant. Returns how many snapshots were removed."""
    removed = 0
    now = timezone.now()
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(tenant.schema_name):
            removed += DeletedContactSnapshot.objects.filter(
                operation__undo_until__lt=now
            ).delete()[0]
            expire_snapshots(before=now)  # other apps' copies (engagement events, scores)
    connection.set_schema_to_public()
    return removed
