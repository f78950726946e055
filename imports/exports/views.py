"""Export pages: history, the export form, an export's page (progress, then its download),
the progress JSON and the download itself.

Any member who may see contacts may export them (viewers included: an export is a read of
data they can already page through). Downloads are for signed-in members of the same
workspace: another workspace's host has no such export, so 404."""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from contacts.models import CustomField
from imports.exports import services
from imports.exports.forms import FORMAT_HELP, ExportForm, source_from_query
from imports.exports.sources import SourceError, clean_source
from imports.models import ExportJob

PAGE_SIZE = 25


def _require_view(request: HttpRequest) -> None:
    if not request.user.can("view_contacts"):
        raise PermissionDenied("Your role can't see contacts.")


@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    paginator = Paginator(ExportJob.objects.select_related("created_by"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [{"job": job, "downloadable": services.is_downloadable(job),
             "expired": services.is_expired(job)} for job in page.object_list]
    return render(request, "imports/exports/list.html", {"page": page, "rows": rows})


@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    custom_fields = list(CustomField.objects.all())
    if request.method == "POST":
        form = ExportForm(request.POST, custom_fields=custom_fields)
    else:
        form = ExportForm(
            initial={"source": json.dumps(source_from_query(request.GET))},
            custom_fields=custom_fields,
        )
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            job = services.start_export(
                source=form.export_source(), columns=form.cleaned_data["columns"],
                file_format=form.cleaned_data["file_format"], user=request.user,
            )
        except services.ExportError as exc:
            error = str(exc)
        else:
            return redirect("imports:export_detail", pk=job.pk)
    return render(
        request, "imports/exports/new.html",
        {"form": form, "error": error, "source_label": _source_label(form),
         "format_help": FORMAT_HELP},
        status=400 if (error or form.errors) else 200,
    )


def _source_label(form: ExportForm) -> str:
    """What "the current selection" is, for the scope choice; "" when it is all contacts or
    cannot be read (the form then reports the problem)."""
    raw = form["source"].value() or ""
    try:
        source = clean_source(json.loads(raw)) if raw else {"kind": "all"}
    except (json.JSONDecodeError, SourceError):
        return ""
    return "" if source["kind"] == "all" else source["label"]


@require_GET
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_view(request)
    job = get_object_or_404(ExportJob.objects.select_related("created_by"), pk=pk)
    return render(request, "imports/exports/detail.html", {
        "job": job, "progress": services.export_progress(job),
        "downloadable": services.is_downloadable(job), "expired": services.is_expired(job),
        "file_name": services.file_name(job),
    })


@require_GET
def export_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """Polling for the export's page (the same JSON as the pushes on exports.<id>)."""
    _require_view(request)
    job = get_object_or_404(ExportJob, pk=pk)
    response = JsonResponse(services.export_progress(job))
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The file, streamed from local storage, or a redirect to a short-lived signed URL made
    now (S3). An export not ready or expired answers 404 with the reason on its page."""
    _require_view(request)
    job = get_object_or_404(ExportJob, pk=pk)
    if not services.is_downloadable(job):
        expired = services.is_expired(job) or (job.status == "finished" and not job.file)
        return render(request, "imports/exports/gone.html", {"job": job, "expired": expired},
                      status=404)
    return download_response(job)


def download_response(job: ExportJob) -> HttpResponse:
    """Used by the page and the API."""
    kind, target = services.download_target(job)
    if kind == "url":
        response = redirect(target)
    else:
        response = FileResponse(
            target, as_attachment=True, filename=services.file_name(job),
            content_type=services.CONTENT_TYPES[job.file_format],
        )
    response["Cache-Control"] = "private, no-store"
    return response
