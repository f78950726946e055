"""REST endpoints for imports (/api/v1/imports…): upload a file, follow its analysis and run,
read its row errors, roll it back. Thin: check the request's shape, call the services of
imports/services.py (the same ones the pages call), serialise.

The services' exceptions become the API's JSON errors here: FileRejected → 400 file_rejected,
MappingError → 400 invalid_mapping, ImportStateError → 409 invalid_state; a file over the
upload limit → 413 file_too_large. API keys act for no person, so the services get user=None.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import transaction
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from contacts.api import MAX_ID, ContactCursorPagination
from imports import services
from imports.forms import format_bytes
from imports.mapping import MappingError, mapping_from_preset
from imports.models import ImportJob, ImportStatus, MappingPreset
from imports.readers import FileRejected
from imports.serializers import (
    ImportCreateSerializer,
    ImportSerializer,
    RollbackSerializer,
    RowErrorSerializer,
)
from imports.views import error_report_response
from penguinleads.api.errors import ErrorSerializer, RequestTooLarge, error_responses, with_details
from penguinleads.api.parsers import LimitedJSONParser

# Room for the multipart boundaries and the small form fields beside the file.
FORM_OVERHEAD_BYTES = 1024 * 1024


class FileTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "The file is larger than the upload limit."


class FileRefused(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "file_rejected"
    default_detail = "The file cannot be imported."


class InvalidMapping(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_mapping"
    default_detail = "The mapping cannot be used."


class InvalidState(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "invalid_state"
    default_detail = "The import is not in a state that allows this."


class RollbackConflicts(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "rollback_conflicts"
    default_detail = "Contacts were changed after this import."


def api_error(exc: Exception) -> Exception:
    """The API exception for a service's exception (others pass through unchanged)."""
    if isinstance(exc, FileRejected):
        return FileRefused(str(exc))
    if isinstance(exc, MappingError):
        return InvalidMapping(str(exc))
    if isinstance(exc, services.ImportStateError):
        return InvalidState(str(exc))
    return exc


def file_too_large(size: int) -> FileTooLarge:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    return with_details(
        FileTooLarge(f"The file is {format_bytes(size)}; the limit is {format_bytes(limit)}."),
        {"size_bytes": size, "limit_bytes": limit},
    )


class UploadParser(MultiPartParser):
    """multipart/form-data for uploads: refuses a body declared larger than the upload limit
    before reading it, and names its errors for what they are (not "malformed_json")."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH", "") if request is not None else ""
        if declared.isdigit() and int(declared) > (
            settings.IMPORT_MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
        ):
            raise file_too_large(int(declared))
        try:
            return super().parse(stream, media_type, parser_context)
        except exceptions.ParseError as exc:
            message = str(exc.detail).removeprefix("Multipart form parse error - ")
            raise exceptions.ParseError(
                f"The body is not valid multipart/form-data: {message}",
                code="malformed_multipart",
            ) from None
        except RequestDataTooBig:
            raise RequestTooLarge("The form fields beside the file are too large.") from None
        except SuspiciousOperation as exc:  # too many fields or files
            raise exceptions.ParseError(str(exc), code="malformed_multipart") from None


class ImportCursorPagination(ContactCursorPagination):
    page_size_query_description = "Imports per page: default 50, at most 500."


class RowErrorPagination(ContactCursorPagination):
    ordering = ("line", "id")
    page_size = 100
    page_size_query_description = "Row errors per page: default 100, at most 500."


def _errors(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


class ImportApiView(GenericAPIView):
    serializer_class = ImportSerializer
    parser_classes = [LimitedJSONParser]

    def handle_exception(self, exc: Exception):
        return super().handle_exception(api_error(exc))

    def get_job(self) -> ImportJob:
        pk = self.kwargs["pk"]
        job = ImportJob.objects.filter(pk=pk).first() if pk <= MAX_ID else None
        if job is None:
            raise exceptions.NotFound(f"No import with id {pk}.")
        return job

    def job_response(self, job: ImportJob, code: int = status.HTTP_200_OK, **kwargs) -> Response:
        return Response(ImportSerializer(job).data, status=code, **kwargs)


# --- upload and list ------------------------------------------------------------------------


class ImportListView(ImportApiView):
    pagination_class = ImportCursorPagination
    parser_classes = [UploadParser]

    @extend_schema(
        summary="List imports",
        description="Newest first.",
        responses={200: ImportSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request):
        page = self.paginate_queryset(ImportJob.objects.all())
        return self.get_paginated_response(ImportSerializer(page, many=True).data)

    @extend_schema(
        summary="Upload a file to import",
        description="Stores the file, maps its columns (automatically unless `mapping` or "
        "`preset` is given) and analyses it: the answer's counts say what importing would do. "
        "Files of up to 1,000 rows are analysed before the answer (status `ready`); bigger "
        "ones in the background (status `analysing`: poll the import). With `start` the "
        "import also runs once analysed, when the analysis ran before the answer. A refused "
        "file or mapping keeps nothing.",
        request={"multipart/form-data": ImportCreateSerializer},
        parameters=[OpenApiParameter("start", bool, description="Same as the form field `start`.")],
        responses={
            201: ImportSerializer,
            400: _errors(
                "`file_rejected`, `invalid_mapping`, `validation_error` (see details), "
                "`malformed_multipart`"
            ),
            **error_responses(401, 403),
            409: _errors("`invalid_state` (the import could not start; details.import_id)"),
            413: _errors("`file_too_large` (details.size_bytes, details.limit_bytes)"),
            415: _errors("`unsupported_media_type`: send multipart/form-data"),
        },
    )
    def post(self, request):
        form = ImportCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        start = data.get("start") or _query_flag(request, "start")
        upload = data["file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise file_too_large(upload.size)
        job = services.create_import(fileobj=upload, filename=upload.name, user=None)
        job = _configure_and_analyse(job, data)
        if start and job.status == ImportStatus.READY:
            try:
                job = services.start_import(job=job, user=None)
            except services.ImportStateError as exc:
                raise with_details(InvalidState(str(exc)), {"import_id": job.pk}) from None
        location = f"{request.path.rstrip('/')}/{job.pk}"
        return self.job_response(job, status.HTTP_201_CREATED, headers={"Location": location})


def _query_flag(request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    try:
        return serializers.BooleanField().to_internal_value(value)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


def _configure_and_analyse(job: ImportJob, data: dict[str, Any]) -> ImportJob:
    """Apply the form's options and analyse. Any refusal discards the job and its file, and
    undoes the rest (a saved preset, row errors): a refused upload leaves nothing behind (the
    client never learnt its id)."""
    try:
        with transaction.atomic():
            job = services.configure_import(
                job=job,
                mapping=_mapping_for(job, data),
                strategy=data.get("strategy"),
                tags=data.get("tags"),
                skip_undeliverable=data.get("skip_undeliverable"),
                preset_name=data.get("save_preset", ""),
            )
            job = services.analyse_import(job=job)
            if job.status == ImportStatus.FAILED:
                raise FileRefused(job.error)
    except Exception:
        _discard(job)
        raise
    return job


def _discard(job: ImportJob) -> None:
    services.delete_import_file(job)
    job.delete()


def _mapping_for(job: ImportJob, data: dict[str, Any]) -> dict[str, str] | None:
    """The mapping as {column index: target}: from the named preset, or from the client's
    {header or column index: target}; None keeps the automatic one."""
    if "preset" in data:
        preset = MappingPreset.objects.filter(name=data["preset"]).first()
        if preset is None:
            raise MappingError(f'No mapping preset named "{data["preset"]}".')
        return mapping_from_preset(preset, job.headers)
    if "mapping" not in data:
        return None
    positions: dict[str, int] = {}
    for index, header in enumerate(job.headers):
        positions.setdefault(header, index)
    mapping: dict[str, str] = {}
    for key, target in data["mapping"].items():
        column = positions.get(key, int(key) if key.isascii() and key.isdigit() else None)
        if column is None or column >= len(job.headers):
            raise MappingError(f'Unknown column "{key}".')
        if str(column) in mapping:
            raise MappingError(f'Column "{job.headers[column]}" is mapped twice.')
        mapping[str(column)] = target
    return mapping


# --- one import -----------------------------------------------------------------------------


class ImportDetailView(ImportApiView):
    @extend_schema(
        summary="Get an import",
        description="Status and counts (a preview before it runs, the result after).",
        responses={200: ImportSerializer, **error_responses(401, 404)},
    )
    def get(self, request, pk: int):
        return self.job_response(self.get_job())


class ImportStartView(ImportApiView):
    @extend_schema(
        summary="Start an analysed import",
        description="Files of up to 1,000 rows are imported before the answer (status "
        "`finished`); bigger ones are queued (status `queued`, then `running`).",
        request=None,
        responses={
            200: ImportSerializer,
            **error_responses(401, 404),
            409: _errors("`invalid_state`: only an analysed import that has not run can start"),
        },
    )
    def post(self, request, pk: int):
        return self.job_response(services.start_import(job=self.get_job(), user=None))


class ImportCancelView(ImportApiView):
    @extend_schema(
        summary="Cancel a queued or running import",
        description="It stops after its current chunk; what it wrote stays and can be rolled back.",
        request=None,
        responses={
            200: ImportSerializer,
            **error_responses(401, 404),
            409: _errors("`invalid_state`: the import is not queued or running"),
        },
    )
    def post(self, request, pk: int):
        return self.job_response(services.cancel_import(job=self.get_job()))


class ImportRollbackView(ImportApiView):
    @extend_schema(
        summary="Roll back an import",
        description="Deletes the contacts it created, restores the previous values of those "
        "it updated and removes the tags it added. When contacts were changed after the "
        "import, say what to do with them (`force`); without it the answer is 409 "
        "`rollback_conflicts` (details.conflicts, details.sample) and nothing is done. The "
        "import's `rollback_report` tells what was undone and which contacts were left alone.",
        request=RollbackSerializer,
        responses={
            200: ImportSerializer,
            **error_responses(400, 401, 404),
            409: _errors("`rollback_conflicts`, `invalid_state`"),
        },
    )
    def post(self, request, pk: int):
        body = RollbackSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        job = self.get_job()
        force = body.validated_data.get("force")
        if force is None:
            _refuse_silent_conflicts(job)
        return self.job_response(services.rollback_import(job=job, user=None, force=bool(force)))


def _refuse_silent_conflicts(job: ImportJob) -> None:
    """Contacts changed since the import need the client's decision, as the page asks for
    one. (Imports that cannot be rolled back are left to the service to refuse.)"""
    if job.status not in (ImportStatus.FINISHED, ImportStatus.CANCELLED):
        return
    preview = services.rollback_preview(job)
    count = preview["conflicts"]
    if not count:
        return
    were = "contacts were" if count != 1 else "contact was"
    raise with_details(
        RollbackConflicts(
            f"{count} {were} changed after this import; nothing was rolled back. Send "
            '{"force": false} to roll back the rest and leave them as they are, or '
            '{"force": true} to roll back everything (their later changes are then lost).'
        ),
        {"conflicts": count, "sample": preview["sample"]},
    )


# --- row errors -----------------------------------------------------------------------------


class ImportErrorListView(ImportApiView):
    serializer_class = RowErrorSerializer
    pagination_class = RowErrorPagination

    @extend_schema(
        summary="List an import's row errors",
        description="Refused, duplicate, skipped and flagged rows, by line.",
        responses={200: RowErrorSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request, pk: int):
        page = self.paginate_queryset(self.get_job().row_errors.all())
        return self.get_paginated_response(RowErrorSerializer(page, many=True).data)


class ImportErrorReportView(ImportApiView):
    @extend_schema(
        summary="Download an import's error report (CSV)",
        description="The refused and flagged rows as they were in the file, plus an `error` "
        "column: fix them and import the file again.",
        responses={
            (200, "text/csv"): OpenApiResponse(str, description="CSV file"),
            **error_responses(401, 404),
        },
    )
    def get(self, request, pk: int):
        return error_report_response(self.get_job())


# Included by penguinleads/api/urls.py: path("", include("imports.api")).
urlpatterns = [
    path("imports", ImportListView.as_view(), name="imports"),
    path("imports/<int:pk>", ImportDetailView.as_view(), name="import"),
    path("imports/<int:pk>/start", ImportStartView.as_view(), name="import-start"),
    path("imports/<int:pk>/cancel", ImportCancelView.as_view(), name="import-cancel"),
    path("imports/<int:pk>/rollback", ImportRollbackView.as_view(), name="import-rollback"),
    path("imports/<int:pk>/errors", ImportErrorListView.as_view(), name="import-errors"),
    path("imports/<int:pk>/errors.csv", ImportErrorReportView.as_view(), name="import-errors-csv"),
]
