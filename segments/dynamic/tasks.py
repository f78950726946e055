"""Background jobs of dynamic segments: thin wrappers that take the tenant's schema and ids,
enter the schema and call segments.dynamic.refresh. A task without a tenant schema refuses to
run. `refresh_all_tenants` is the 30-minute schedule (registered in segments/apps.py)."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection, transaction
from django_tenants.utils import get_tenant_model, schema_context

from segments.dynamic import refresh
from segments.models import Segment

# Above this many changed contacts a full refresh of every segment is cheaper than the
# incremental update (which re-evaluates each segment for the given ids).
INCREMENTAL_LIMIT = 5_000
PENDING_SECONDS = 30 * 60


def _enter(schema_name: str):
    if not schema_name or schema_name == "public":
        raise ValueError("A segment task needs the schema of a tenant.")
    return schema_context(schema_name)


def enqueue(task: str, *args) -> None:
    """Enqueue `task(schema_name, *args)` for the current tenant once the transaction commits
    (immediately outside one)."""
    from django_q.tasks import async_task

    schema = connection.schema_name
    _enter(schema)  # refuse the public schema here already
    transaction.on_commit(lambda: async_task(task, schema, *args, group=f"segments:{schema}"))


def refresh_segment_task(schema_name: str, segment_id: int) -> int:
    """Full refresh of one segment, then of the segments depending on it. Returns how many
    segments were refreshed (0 when it was deleted meanwhile)."""
    with _enter(schema_name):
        cache.delete(_segment_pending_key(schema_name, segment_id))
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is None:
            return 0
        return len(refresh.refresh_with_dependents(segment=segment))


def _segment_pending_key(schema_name: str, segment_id: int) -> str:
    return f"segments:refresh-pending:{schema_name}:{segment_id}"


def on_list_changed(*, list_id: int) -> None:
    """Contacts joined or left static list `list_id`: refresh, in the background, the segments
    whose rules name it (once per segment while a refresh is pending: an import adding to a
    list chunk by chunk asks again and again)."""
    from segments.dynamic.services import segments_using_list

    schema = connection.schema_name
    for segment in segments_using_list(list_id):
        if cache.add(_segment_pending_key(schema, segment.pk), 1, timeout=PENDING_SECONDS):
            enqueue("segments.dynamic.tasks.refresh_segment_task", segment.pk)


def _pending_key(schema_name: str) -> str:
    return f"segments:full-refresh-pending:{schema_name}"


def refresh_tenant_segments_task(schema_name: str) -> int:
    """Full refresh of every segment of one tenant, dependencies first."""
    with _enter(schema_name):
        cache.delete(_pending_key(schema_name))
        return len(refresh.refresh_all_segments())


def refresh_contacts_task(schema_name: str, contact_ids: list[int]) -> int:
    """Incremental update of every segment for these contacts."""
    with _enter(schema_name):
        return len(refresh.refresh_segments_for_contacts(contact_ids=contact_ids))


def refresh_all_tenants() -> int:
    """Scheduled every 30 minutes: one refresh job per tenant that has segments (so tenants
    run in parallel on several workers). Returns how many were enqueued."""
    from django_q.tasks import async_task

    enqueued = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(tenant.schema_name):
            if Segment.objects.exists():
                async_task("segments.dynamic.tasks.refresh_tenant_segments_task",
                           tenant.schema_name, group=f"segments:{tenant.schema_name}")
                enqueued += 1
    connection.set_schema_to_public()
    return enqueued


def on_contacts_changed(*, contact_ids: list[int]) -> None:
    """contacts.changes callback (runs after the change committed): enqueue the incremental
    update for these contacts, or a full refresh of the tenant's segments for very many."""
    schema = connection.schema_name
    if not schema or schema == "public" or not contact_ids:
        return
    if not Segment.objects.filter(last_refreshed_at__isnull=False).exists():
        return
    if len(contact_ids) > INCREMENTAL_LIMIT:
        # An import writes such chunks one after another: one pending full refresh is enough.
        if cache.add(_pending_key(schema), 1, timeout=PENDING_SECONDS):
            enqueue("segments.dynamic.tasks.refresh_tenant_segments_task")
    else:
        enqueue("segments.dynamic.tasks.refresh_contacts_task", sorted(set(contact_ids)))
