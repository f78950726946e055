"""Import pages: history, upload, mapping, the job's page (preview, progress, results,
rollback), the progress JSON and the error report.

Views check the role, validate a form, call one service and render or redirect. Every state
lives in the ImportJob row, so the user can leave any page and come back."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.models import CustomField
from imports import services
from imports.forms import (
    ACCEPTED_FORMATS,
    IGNORE,
    MappingForm,
    ReadSettingsForm,
    UploadForm,
    format_bytes,
    target_label,
)
from imports.mapping import MappingError
from imports.models import ImportJob, ImportStatus
from imports.readers import FileRejected

PAGE_SIZE = 25
ERRORS_SHOWN = 200
SUMMARY_TARGETS = 4
ENDED = {ImportStatus.FINISHED, ImportStatus.CANCELLED, ImportStatus.FAILED}
# Outcome counts: key of import_progress(), label before the run (preview), label after.
OUTCOMES = [
    ("created", "New contacts to create", "Created"),
    ("updated", "Existing contacts to update", "Updated"),
    ("unchanged", "Existing contacts already up to date", "Unchanged"),
    ("skipped", "Rows to skip", "Skipped"),
    ("invalid", "Invalid rows (not imported)", "Invalid"),
    ("duplicates_in_file", "Repeated emails in the file", "Duplicates in file"),
    ("possible_duplicates", "Possible duplicates (same name and company)", "Possible duplicates"),
    ("flagged", "Flagged: disposable or undeliverable domain", "Flagged"),
]


def _require_change(request: HttpRequest) -> None:
    if not request.user.can("change_contacts"):
        raise PermissionDenied("Your role can look at imports but not run them.")


def _custom_fields() -> list[CustomField]:
    return list(CustomField.objects.all())


def format_duration(duration: dt.timedelta | None) -> str:
    if duration is None:
        return ""
    seconds = max(0, round(duration.total_seconds()))
    if seconds < 1:
        return "less than a second"
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def mapping_summary(job: ImportJob, custom_labels: dict[str, str]) -> str:
    """What the columns became, e.g. "Email, First name, Company +2 more · 3 ignored"."""
    targets = [t for t in (job.mapping or {}).values() if t != IGNORE]
    if not targets:
        return ""
    names = [target_label(t, custom_labels) for t in targets[:SUMMARY_TARGETS]]
    summary = ", ".join(names)
    if len(targets) > SUMMARY_TARGETS:
        summary += f" +{len(targets) - SUMMARY_TARGETS} more"
    ignored = len(job.mapping) - len(targets)
    return f"{summary} · {ignored} ignored" if ignored else summary


# --- history ----------------------------------------------------------------------------------


@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(ImportJob.objects.select_related("created_by"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    custom_labels = dict(CustomField.objects.values_list("key", "label"))
    rows = [
        {
            "job": job,
            "mapping": mapping_summary(job, custom_labels),
            "duration": format_duration(job.duration),
        }
        for job in page.object_list
    ]
    return render(
        request,
        "imports/list.html",
        {"page": page, "rows": rows, "can_change": request.user.can("change_contacts")},
    )


# --- upload -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def import_new(request: HttpRequest) -> HttpResponse:
    _require_change(request)  # the page is only a form: nothing on it for a viewer
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.create_import(fileobj=upload, filename=upload.name, user=request.user)
        except FileRejected as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("imports:map", pk=job.pk)
    return render(
        request,
        "imports/new.html",
        {
            "form": form,
            "accepted_formats": ACCEPTED_FORMATS,
            "max_bytes": settings.IMPORT_MAX_UPLOAD_BYTES,
            "max_size": format_bytes(settings.IMPORT_MAX_UPLOAD_BYTES),
        },
        status=400 if form.errors else 200,
    )


# --- mapping ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    _require_change(request)  # like the upload page, only a form
    if job.status not in services.CONFIGURABLE:
        return redirect("imports:detail", pk=job.pk)
    if request.POST.get("action") == "reread":
        return _reread(request, job)
    custom_fields = _custom_fields()
    form = MappingForm(request.POST or None, job=job, custom_fields=custom_fields)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            job = services.configure_import(
                job=job,
                mapping=form.mapping(),
                strategy=form.cleaned_data["strategy"],
                tags=form.cleaned_data["tags"],
                skip_undeliverable=form.cleaned_data["skip_undeliverable"],
                preset_name=form.cleaned_data["preset_name"],
                user=request.user,
                target_list=form.cleaned_data["target_list"],
                new_list_name=form.cleaned_data["new_list"],
            )
            services.analyse_import(job=job)
        except (MappingError, FileRejected, services.ImportStateError) as exc:
            error = str(exc)
        else:
            return redirect("imports:detail", pk=job.pk)
    return _render_map(request, job, form=form, error=error)


def _reread(request: HttpRequest, job: ImportJob) -> HttpResponse:
    """Read the file again with the user's settings: new headers, preview and auto-mapping."""
    read_form = ReadSettingsForm(request.POST, job=job)
    error = ""
    if read_form.is_valid():
        try:
            job = services.configure_import(
                job=job, read_settings=read_form.read_settings(), user=request.user
            )
        except (MappingError, FileRejected, services.ImportStateError) as exc:
            error = str(exc)
        else:
            return redirect("imports:map", pk=job.pk)
    job.refresh_from_db()
    return _render_map(request, job, read_form=read_form, error=error)


def _render_map(
    request: HttpRequest,
    job: ImportJob,
    *,
    form: MappingForm | None = None,
    read_form: ReadSettingsForm | None = None,
    error: str = "",
) -> HttpResponse:
    form = form or MappingForm(job=job, custom_fields=_custom_fields())
    read_form = read_form or ReadSettingsForm(job=job)
    invalid = bool(error or form.errors or read_form.errors)
    columns = form.column_fields()
    return render(
        request,
        "imports/map.html",
        {
            "job": job,
            "form": form,
            "read_form": read_form,
            "error": error,
            "columns": list(zip(form.headers, columns, strict=True)),
            "preview": [row[: len(columns)] for row in job.preview_rows or []],
            "warnings": (job.read_settings or {}).get("warnings") or [],
        },
        status=400 if invalid else 200,
    )


# --- the job's page and its actions -----------------------------------------------------------


@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("created_by", "rolled_back_by"), pk=pk)
    error_count = job.row_errors.count()
    report = job.rollback_report or {}
    progress = services.import_progress(job)
    return render(
        request,
        "imports/detail.html",
        {
            "job": job,
            "progress": progress,
            "outcomes": [
                (key, before, after, progress.get(key, 0)) for key, before, after in OUTCOMES
            ],
            "S": ImportStatus,
            "row_errors": list(job.row_errors.all()[:ERRORS_SHOWN]) if error_count else [],
            "error_count": error_count,
            "errors_shown": ERRORS_SHOWN,
            "to_import": job.created + job.updated,
            "list_summary": services.list_summary(job),
            "duration": format_duration(job.duration),
            "can_roll_back": _can_roll_back(job),
            # Contacts changed since the import: the user chooses to leave them or force.
            "rollback_preview": services.rollback_preview(job) if _can_roll_back(job) else None,
            "report": report,
            "can_remap": job.status in services.CONFIGURABLE and job.started_at is None,
            "can_change": request.user.can("change_contacts"),
        },
    )


def _can_roll_back(job: ImportJob) -> bool:
    """Finished imports, cancelled ones that already wrote something, and those whose rollback
    stopped on an error (rolling back again undoes the rest)."""
    if job.status == ImportStatus.FINISHED or (
            job.status == ImportStatus.FAILED and job.rollback_started):
        return True
    return job.status == ImportStatus.CANCELLED and job.changes.exists()


def _act(request: HttpRequest, pk: int, action) -> HttpResponse:
    """POST-only actions on a job: check the role, call the service, back to the job's page
    (a refused action shows the service's reason there)."""
    _require_change(request)
    job = get_object_or_404(ImportJob, pk=pk)
    try:
        action(job)
    except services.ImportStateError as exc:
        messages.error(request, str(exc))
    return redirect("imports:detail", pk=job.pk)


@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda job: services.start_import(job=job, user=request.user))


@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda job: services.cancel_import(job=job))


@require_POST
def import_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    force = request.POST.get("force") == "1"
    return _act(
        request,
        pk,
        lambda job: services.rollback_import(job=job, user=request.user, force=force),
    )


@require_GET
def import_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """Polling fallback of the WebSocket: the same JSON the consumer sends."""
    job = get_object_or_404(ImportJob, pk=pk)
    response = JsonResponse(services.import_progress(job))
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def import_errors(request: HttpRequest, pk: int) -> FileResponse:
    """The original rows that failed plus an "error" column, as CSV."""
    return error_report_response(get_object_or_404(ImportJob, pk=pk))


def error_report_response(job: ImportJob) -> FileResponse:
    """The CSV report, streamed from a spooled temporary file (memory up to 1 MB, then disk),
    so a large report never sits in memory. Used by the page and the API."""
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    services.write_error_report(job=job, out=text)
    text.flush()
    text.detach()  # keep the binary file open for the response
    spool.seek(0)
    filename = f"{Path(job.original_name).stem or 'import'}-errors.csv"
    return FileResponse(
        spool, as_attachment=True, filename=filename, content_type="text/csv; charset=utf-8"
    )
