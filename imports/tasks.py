"""Background jobs of imports: thin wrappers that take the tenant's schema and ids, enter the
schema, load the rows and call the service. A task without a tenant schema refuses to run."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context

from imports import services
from imports.models import ImportJob, ImportStatus

logger = logging.getLogger(__name__)
STALLED_AFTER = timedelta(minutes=3)


def _enter(schema_name: str):
    if not schema_name or schema_name == "public":
        raise ValueError("An import task needs the schema of a tenant.")
    return schema_context(schema_name)


def _guard(job: ImportJob, work, *, rollback: bool = False) -> None:
    try:
        work()
    except Exception as exc:  # the user must learn the import stopped, whatever the cause
        logger.exception("import %s failed", job.pk)
        name = type(exc).__name__
        services._fail(job, (
            f"The rollback stopped because of an internal error ({name}). What it undid so "
            "far stays undone; roll back again to undo the rest." if rollback else
            f"The import stopped because of an internal error ({name})."))
        raise


def analyse_import_task(schema_name: str, job_id: int) -> None:
    with _enter(schema_name):
        job = ImportJob.objects.get(pk=job_id)
        if job.status == ImportStatus.ANALYSING:
            _guard(job, lambda: services.run_analysis(job))


def run_import_task(schema_name: str, job_id: int, user_id: int | None) -> None:
    with _enter(schema_name):
        job = ImportJob.objects.get(pk=job_id)
        if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            _guard(job, lambda: services.run_import(job, user_id=user_id))


def rollback_import_task(schema_name: str, job_id: int, user_id: int | None, force: bool) -> None:
    with _enter(schema_name):
        job = ImportJob.objects.get(pk=job_id)
        if job.status == ImportStatus.ROLLING_BACK:
            _guard(job, lambda: services.run_rollback(job, user_id=user_id, force=force),
                   rollback=True)


def refresh_statistics_task(schema_name: str, changed: dict[str, int],
                            dead: dict[str, int] | None = None) -> dict[str, list[str]]:
    """After an import or rollback: see imports.services._refresh_statistics_later. Returns
    the tables it vacuumed and analysed."""
    from imports import pipeline

    with _enter(schema_name):
        return pipeline.refresh_statistics(changed=changed, dead=dead)


def resume_stalled_imports() -> int:
    """Scheduled every minute: re-enqueue jobs whose worker died (no heartbeat for a while).
    Each task is idempotent, so a job that was merely slow is not harmed."""
    from django_q.tasks import async_task

    tasks = {
        ImportStatus.ANALYSING: ("imports.tasks.analyse_import_task", ()),
        ImportStatus.QUEUED: ("imports.tasks.run_import_task", (None,)),
        ImportStatus.RUNNING: ("imports.tasks.run_import_task", (None,)),
        ImportStatus.ROLLING_BACK: ("imports.tasks.rollback_import_task", (None, None)),
    }
    resumed = 0
    cutoff = timezone.now() - STALLED_AFTER
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(tenant.schema_name):
            stalled = ImportJob.objects.filter(status__in=tasks, heartbeat_at__lt=cutoff)
            for job in stalled:
                task, extra = tasks[job.status]
                job.heartbeat_at = timezone.now()
                job.save(update_fields=["heartbeat_at"])
                if job.status == ImportStatus.ROLLING_BACK:
                    forced = bool(job.rollback_report.get("forced"))
                    args = (tenant.schema_name, job.pk, job.rolled_back_by_id, forced)
                else:
                    user_id = job.created_by_id
                    args = (tenant.schema_name, job.pk, *((user_id,) if extra else ()))
                async_task(task, *args)
                resumed += 1
    connection.set_schema_to_public()
    return resumed
