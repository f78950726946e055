"""Background jobs of exports: thin wrappers that take the tenant's schema and ids, enter the
schema and call the service. A task without a tenant schema refuses to run."""

from __future__ import annotations

import logging

from django.db import connection
from django_tenants.utils import get_tenant_model, schema_context

from imports.exports import services
from imports.models import ExportJob, ExportStatus

logger = logging.getLogger(__name__)


def _enter(schema_name: str):
    if not schema_name or schema_name == "public":
        raise ValueError("An export task needs the schema of a tenant.")
    return schema_context(schema_name)


def run_export_task(schema_name: str, job_id: int) -> None:
    with _enter(schema_name):
        job = ExportJob.objects.filter(pk=job_id).first()
        if job is None or job.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            return
        try:
            services.run_export(job)
        except Exception as exc:  # the user must learn the export stopped, whatever the cause
            logger.exception("export %s failed", job.pk)
            services.fail_export(
                job, f"The export stopped because of an internal error ({type(exc).__name__})."
            )
            raise
        finally:
            job.refresh_from_db()
            if not job.is_active:
                services.notify_export_ready(job)


def delete_expired_exports() -> int:
    """Scheduled daily: delete the files of expired exports in every tenant."""
    deleted = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(tenant.schema_name):
            deleted += services.delete_expired_exports()
    connection.set_schema_to_public()
    return deleted
