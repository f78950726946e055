"""Scheduled jobs of engagement: they visit every tenant themselves (schedules take no schema)."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django_tenants.utils import get_tenant_model, schema_context

from engagement.scoring import expired_override_ids, recompute_scores

logger = logging.getLogger(__name__)


def _tenant_schemas() -> list[str]:
    connection.set_schema_to_public()
    return list(get_tenant_model().objects.exclude(schema_name="public")
                .values_list("schema_name", flat=True))


def reage_scores(schema_name: str) -> int:
    """Recompute every score of one tenant (one statement): recency weighting moves on and
    expired overrides end. Returns how many scores or bands changed."""
    if not schema_name or schema_name == "public":
        raise ValueError("Re-aging scores needs the schema of a tenant.")
    with schema_context(schema_name), transaction.atomic():
        return recompute_scores(contact_ids=None, reason="nightly re-aging")


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


def expire_overrides(schema_name: str) -> int:
    """End the overrides of one tenant whose expiry has passed (their scores return to the
    computed ones). Returns the changes made."""
    if not schema_name or schema_name == "public":
        raise ValueError("Expiring overrides needs the schema of a tenant.")
    with schema_context(schema_name), transaction.atomic():
        return recompute_scores(contact_ids=expired_override_ids(), reason="override expired")


def expire_all_overrides() -> int:
    """Scheduled hourly: expire_overrides in every tenant."""
    changed = sum(expire_overrides(schema) for schema in _tenant_schemas())
    connection.set_schema_to_public()
    return changed
