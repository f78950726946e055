"""Background jobs of webhooks: thin wrappers taking the tenant's schema and ids. A task without
a tenant schema refuses to run. `send_due_all_tenants` is the per-minute schedule (apps.py)."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

from webhooks import services
from webhooks.models import Delivery, DeliveryStatus


def _enter(schema_name: str):
    if not schema_name or schema_name == "public":
        raise ValueError("A webhook task needs the schema of a tenant.")
    return schema_context(schema_name)


def send_deliveries_task(schema_name: str, delivery_ids: list[int]) -> int:
    """First attempt at freshly recorded deliveries. Returns how many were attempted."""
    with _enter(schema_name):
        return sum(1 for pk in delivery_ids if services.send_delivery(delivery_id=pk))


def send_due_task(schema_name: str) -> int:
    with _enter(schema_name):
        return services.send_due_deliveries()


def send_due_all_tenants() -> int:
    """Scheduled every minute: one job per tenant with due deliveries (tenants in parallel).
    Returns how many jobs were enqueued."""
    from django_q.tasks import async_task

    enqueued = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(tenant.schema_name):
            due = Delivery.objects.filter(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
                next_attempt_at__lte=timezone.now(), endpoint__active=True,
            ).exists()
        if due:
            async_task("webhooks.tasks.send_due_task", tenant.schema_name,
                       group=f"webhooks:{tenant.schema_name}")
            enqueued += 1
    connection.set_schema_to_public()
    return enqueued
