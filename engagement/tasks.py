"""Jobs of engagement. The schedules visit every tenant themselves (schedules take no schema);
the per-tenant jobs take the tenant's schema and refuse to run without one."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django_tenants.utils import get_tenant_model, schema_context

from contacts.changes import contacts_changed
from engagement.scoring import expired_override_ids, recompute_scores

logger = logging.getLogger(__name__)


def _tenant_schemas() -> list[str]:
    connection.set_schema_to_public()
    return list(get_tenant_model().objects.exclude(schema_name="public")
                .values_list("schema_name", flat=True))


def _enter(schema_name: str, what: str):
    if not schema_name or schema_name == "public":
        raise ValueError(f"{what} needs the schema of a tenant.")
    return schema_context(schema_name)


def enqueue(task: str, *args) -> None:
    """Enqueue `task(schema_name, *args)` for the current tenant once the transaction commits
    (immediately outside one). Refuses the public schema."""
    from django_q.tasks import async_task

    schema = connection.schema_name
    _enter(schema, "An engagement job")  # refuse the public schema here already
    transaction.on_commit(lambda: async_task(task, schema, *args, group=f"engagement:{schema}"))


def _recompute_all(reason: str) -> int:
    """Recompute every score of the current tenant in one statement, then (after commit) have
    the segments on scores and events refreshed: who is hot, and who opened in the last N days,
    moved on although no contact changed."""
    with transaction.atomic():
        changed = recompute_scores(contact_ids=None, reason=reason)
        enqueue("engagement.tasks.refresh_engagement_segments_task")
    return changed


def reage_scores(schema_name: str) -> int:
    """Recompute every score of one tenant: recency weighting moves on and expired overrides
    end; then refresh its segments on scores and events (a job after commit). Returns how many
    scores or bands changed."""
    with _enter(schema_name, "Re-aging scores"):
        return _recompute_all("nightly re-aging")


def reage_all_scores() -> int:
    """Scheduled daily: re-age the scores of every tenant. Returns the changes made."""
    changed = 0
    for schema in _tenant_schemas():
        try:
            changed += reage_scores(schema)
        except Exception:  # one broken tenant must not stop the others
            logger.exception("re-aging the scores of %s failed", schema)
    connection.set_schema_to_public()
    return changed


def recompute_scores_task(schema_name: str) -> int:
    """Recompute every score of one tenant after its scoring settings changed (enqueued by
    engagement.settings_services.save_score_settings). Returns how many scores or bands
    changed."""
    with _enter(schema_name, "Recomputing scores"):
        return _recompute_all("scoring settings changed")


def refresh_engagement_segments_task(schema_name: str) -> int:
    """Full refresh of the tenant's segments whose rules name score, score_band or event (and
    of the segments depending on them). Returns how many were refreshed."""
    from segments.dynamic.refresh import refresh_segments_using
    from segments.rules import ENGAGEMENT_FIELDS

    with _enter(schema_name, "Refreshing segments"):
        return len(refresh_segments_using(fields=ENGAGEMENT_FIELDS))


def expire_overrides(schema_name: str) -> int:
    """End the overrides of one tenant whose expiry has passed (their scores return to the
    computed ones; segments re-evaluate those contacts). Returns the changes made."""
    with _enter(schema_name, "Expiring overrides"), transaction.atomic():
        ids = expired_override_ids()
        changed = recompute_scores(contact_ids=ids, reason="override expired")
        contacts_changed(contact_ids=ids)
        return changed


def expire_all_overrides() -> int:
    """Scheduled hourly: expire_overrides in every tenant."""
    changed = sum(expire_overrides(schema) for schema in _tenant_schemas())
    connection.set_schema_to_public()
    return changed
