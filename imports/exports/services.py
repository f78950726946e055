"""Exports of contacts: the steps a user (or ops, or the API) takes, as services.

start_export → (background: run_export in a django-q2 job) → download_target → (after
EXPORT_KEEP_DAYS) delete_expired_exports. Small exports (at most INLINE_MAX_ROWS contacts) run
inline, in the request. write_export writes a file directly, without a job (the management
command).
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from imports.exports.columns import ColumnError, resolve_columns
from imports.exports.sources import SourceError, clean_source, source_ids_sql
from imports.exports.writers import IdsSql, TooManyRows, write_contacts
from imports.models import ExportFormat, ExportJob, ExportStatus
from penguinleads.realtime import push

logger = logging.getLogger(__name__)

INLINE_MAX_ROWS = 10_000  # larger exports run as a background job
EXPORT_KEEP_DAYS = 7
DOWNLOAD_URL_SECONDS = 300  # life of a presigned S3 link, made when the user clicks
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}


class ExportError(ValueError):
    """The export cannot be made as asked; str() is for the user."""


def check_export(*, source: Any, columns: Any, file_format: Any) -> tuple[dict, list[str]]:
    """The cleaned source and column keys, or ExportError with the user's message."""
    if file_format not in ExportFormat.values:
        raise ExportError(
            f"Unknown format {str(file_format)[:20]!r}; use one of: {', '.join(ExportFormat.values)}."
        )
    try:
        cleaned = clean_source(source)
        keys = [column.key for column in resolve_columns(columns)]
    except (SourceError, ColumnError) as exc:
        raise ExportError(str(exc)) from None
    return cleaned, keys


def start_export(*, source: dict, columns: list[str], file_format: str, user) -> ExportJob:
    """Record an export and make it: inline when the source has at most INLINE_MAX_ROWS
    contacts (the job comes back finished or failed), else as a background job (queued).

    Side effects: an ExportJob row; the file in the default storage (see run_export); for a
    background job, a django-q2 task enqueued after commit. Raises ExportError (nothing kept)
    for a bad source, column list or format, or an XLSX beyond a sheet's size."""
    cleaned, keys = check_export(source=source, columns=columns, file_format=file_format)
    ids = source_ids_sql(cleaned)
    count = _capped_count(ids, INLINE_MAX_ROWS + 1)
    if file_format == ExportFormat.XLSX and count > INLINE_MAX_ROWS:
        _refuse_oversized_xlsx(ids)
    job = ExportJob.objects.create(
        source=cleaned, label=cleaned["label"], file_format=file_format, columns=keys,
        created_by=user if getattr(user, "pk", None) else None,
    )
    if count <= INLINE_MAX_ROWS:
        run_export(job)
        job.refresh_from_db()
    else:
        _enqueue(job)
    return job


def _capped_count(ids: IdsSql, cap: int) -> int:
    extra, params = (f"AND c.id IN ({ids[0]})", list(ids[1])) if ids else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM contacts_contact c WHERE TRUE {extra} "
            "LIMIT %s) x",
            [*params, cap],
        )
        return cursor.fetchone()[0]


def _refuse_oversized_xlsx(ids: IdsSql) -> None:
    from imports.exports.writers import XLSX_MAX_ROWS

    if _capped_count(ids, XLSX_MAX_ROWS + 1) > XLSX_MAX_ROWS:
        raise ExportError(
            f"This export has more than {XLSX_MAX_ROWS:,} contacts, more than an XLSX sheet "
            "holds. Choose CSV or JSON Lines."
        )


def _enqueue(job: ExportJob) -> None:
    from django_q.tasks import async_task

    schema = connection.schema_name
    transaction.on_commit(
        lambda: async_task("imports.exports.tasks.run_export_task", schema, job.pk,
                           group=f"exports:{schema}")
    )


# --- the export itself --------------------------------------------------------------------------


def run_export(job: ExportJob) -> None:
    """Write the file and store it. A re-run (after a killed worker) starts again from the
    beginning: the file is only stored once complete.

    Side effects: progress, status and the stored file's path, size and expiry on the job;
    the file under exports/<schema>/ in the default storage; progress pushed on the topic
    exports.<id>; for background jobs, a notification (push on "exports", email)."""
    job.refresh_from_db()
    if job.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        return
    _update(job, status=ExportStatus.RUNNING, started_at=timezone.now(), written_rows=0)
    try:
        path, rows = _write_and_store(job)
    except (SourceError, ColumnError, TooManyRows) as exc:
        fail_export(job, str(exc))
        return
    now = timezone.now()
    _update(
        job, status=ExportStatus.FINISHED, file=path, size=default_storage.size(path),
        written_rows=rows, total_rows=rows, finished_at=now,
        expires_at=now + timedelta(days=EXPORT_KEEP_DAYS),
    )
    _push_progress(job)


def _write_and_store(job: ExportJob) -> tuple[str, int]:
    source = clean_source(job.source)
    columns = resolve_columns(job.columns)

    def progress(written: int, total: int) -> None:
        _update(job, written_rows=written, total_rows=total)
        _push_progress(job)

    with tempfile.TemporaryFile() as spool:
        rows = write_contacts(out=spool, columns=columns, file_format=job.file_format,
                              ids=source_ids_sql(source), progress=progress)
        spool.seek(0)
        path = default_storage.save(_storage_path(job), File(spool, name=file_name(job)))
    return path, rows


def _storage_path(job: ExportJob) -> str:
    return f"exports/{connection.schema_name}/{uuid.uuid4().hex}/{file_name(job)}"


def file_name(job: ExportJob) -> str:
    return f"contacts-{job.created_at:%Y%m%d-%H%M}-{job.pk}.{job.file_format}"


def write_export(
    *, out: BinaryIO, source: dict, columns: list[str], file_format: str
) -> int:
    """Write an export straight to `out` (no job, no storage): for ops' command. Returns the
    number of contacts. Raises ExportError."""
    cleaned, keys = check_export(source=source, columns=columns, file_format=file_format)
    try:
        return write_contacts(out=out, columns=resolve_columns(keys), file_format=file_format,
                              ids=source_ids_sql(cleaned))
    except (SourceError, TooManyRows) as exc:
        raise ExportError(str(exc)) from None


def fail_export(job: ExportJob, message: str) -> None:
    """Side effects: status failed with `message` for the user; pushed."""
    _update(job, status=ExportStatus.FAILED, error=message, finished_at=timezone.now())
    _push_progress(job)


def _update(job: ExportJob, **fields: Any) -> None:
    ExportJob.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def _push_progress(job: ExportJob) -> None:
    push(schema_name=connection.schema_name, topic=f"exports.{job.pk}",
         event=export_progress(job))


def notify_export_ready(job: ExportJob) -> None:
    """Tell the user a background export ended. Side effects: a push on the topic "exports"
    of the tenant; an email to the user who asked (console backend by default)."""
    event = {"type": "export_finished", **export_progress(job)}
    push(schema_name=connection.schema_name, topic="exports", event=event)
    if job.created_by is None or not job.created_by.email:
        return
    from django_tenants.utils import get_tenant_model

    tenant = get_tenant_model().objects.filter(schema_name=connection.schema_name).first()
    domain = tenant.domains.filter(is_primary=True).first() if tenant else None
    if domain is None:
        return
    scheme = "http" if settings.DEBUG else "https"
    context = {
        "job": job,
        "workspace_name": tenant.name,
        "link": f"{scheme}://{domain.domain}{reverse('imports:export_detail', args=[job.pk])}",
    }
    body = render_to_string("imports/exports/ready_email.txt", context)
    subject = "Your export is ready" if job.status == ExportStatus.FINISHED else "Your export failed"
    send_mail(f"{subject}: {job.label}"[:200], body, None, [job.created_by.email])


# --- reading ------------------------------------------------------------------------------------


def export_progress(job: ExportJob) -> dict[str, Any]:
    """What the progress bar shows, as JSON-able values (the keys of import_progress, so the
    same page script can show both)."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "percent": job.progress_percent,
        "processed_rows": job.written_rows,
        "total_rows": job.total_rows,
        "size": job.size,
        "error": job.error,
        "is_active": job.is_active,
    }


def is_downloadable(job: ExportJob) -> bool:
    return job.status == ExportStatus.FINISHED and bool(job.file) and not is_expired(job)


def is_expired(job: ExportJob) -> bool:
    return job.expires_at is not None and job.expires_at <= timezone.now()


def download_target(job: ExportJob) -> tuple[str, Any]:
    """How to hand the file over: ("url", a presigned URL valid DOWNLOAD_URL_SECONDS) when the
    storage can sign URLs (S3), else ("file", an open binary file to stream)."""
    name = file_name(job)
    if hasattr(default_storage, "bucket_name"):
        url = default_storage.url(
            job.file,
            parameters={"ResponseContentDisposition": f'attachment; filename="{name}"',
                        "ResponseContentType": CONTENT_TYPES[job.file_format]},
            expire=DOWNLOAD_URL_SECONDS,
        )
        return "url", url
    return "file", default_storage.open(job.file, "rb")


def delete_expired_exports() -> int:
    """Delete the files of this schema's expired exports (the history rows stay, without a
    file). Side effects: storage deletes, ExportJob.file emptied. Returns how many."""
    expired = ExportJob.objects.filter(expires_at__lte=timezone.now()).exclude(file="")
    count = 0
    for job in expired:
        default_storage.delete(job.file)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        count += 1
    return count
