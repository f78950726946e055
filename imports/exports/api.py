"""REST endpoints for exports (/api/v1/exports…): ask for an export, follow it, download it.

Thin: check the request's shape, call imports.exports.services (the same services the pages
call), serialise. A bad source, column or format → 400 `invalid_export`; a download asked
before the file is ready → 409 `not_ready`, after it expired → 410 `expired`. API keys act for
no person, so exports made over the API have no `created_by`."""

from __future__ import annotations

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from contacts.api import MAX_ID, ContactCursorPagination
from imports.exports import services
from imports.exports.columns import default_column_keys
from imports.exports.views import download_response
from imports.models import ExportFormat, ExportJob
from penguinleads.api.errors import ErrorSerializer, error_responses
from penguinleads.api.parsers import LimitedJSONParser


class InvalidExport(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_export"
    default_detail = "The export cannot be made as asked."


class NotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"
    default_detail = "The export has no file to download yet."


class Expired(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_code = "expired"
    default_detail = "The export has expired; its file was deleted."


class ExportSerializer(serializers.ModelSerializer):
    format = serializers.CharField(source="file_format")
    download_url = serializers.SerializerMethodField(
        help_text="Where to download the file once `status` is `finished` (null before, and "
        "after `expires_at`). On S3 storage it redirects to a signed URL valid 5 minutes."
    )

    class Meta:
        model = ExportJob
        fields = ("id", "label", "source", "format", "columns", "status", "total_rows",
                  "written_rows", "size", "error", "created_at", "finished_at", "expires_at",
                  "download_url")

    def get_download_url(self, job: ExportJob) -> str | None:
        if not services.is_downloadable(job):
            return None
        url = reverse("api:export-download", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ExportCreateSerializer(serializers.Serializer):
    source = serializers.JSONField(
        required=False, help_text='What to export: {"kind": "all"} (default), {"kind": '
        '"filter", "filters": {"search", "tag", "status", "created_from", "created_to"}}, '
        '{"kind": "list", "list_id": N}, {"kind": "ids", "ids": [..]}; optional "label".'
    )
    columns = serializers.JSONField(
        required=False, help_text='Column names, e.g. ["email", "tags", "custom.plan"]; '
        "default: the standard fields, tags, status, validation status, created and every "
        "custom field."
    )
    format = serializers.ChoiceField(choices=ExportFormat.values, default=ExportFormat.CSV)


class ExportPagination(ContactCursorPagination):
    page_size_query_description = "Exports per page: default 50, at most 500."


class ExportApiView(GenericAPIView):
    serializer_class = ExportSerializer
    parser_classes = [LimitedJSONParser]

    def get_job(self) -> ExportJob:
        pk = self.kwargs["pk"]
        job = ExportJob.objects.filter(pk=pk).first() if pk <= MAX_ID else None
        if job is None:
            raise exceptions.NotFound(f"No export with id {pk}.")
        return job

    def job_response(self, job: ExportJob, code: int = status.HTTP_200_OK, **kwargs) -> Response:
        data = ExportSerializer(job, context={"request": self.request}).data
        return Response(data, status=code, **kwargs)


class ExportListView(ExportApiView):
    pagination_class = ExportPagination

    @extend_schema(summary="List exports", description="Newest first.",
                   responses={200: ExportSerializer(many=True), **error_responses(400, 401, 403)})
    def get(self, request):
        page = self.paginate_queryset(ExportJob.objects.all())
        data = ExportSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Export contacts",
        description="Exports of up to 10,000 contacts are written before the answer (status "
        "`finished`, `download_url` set); bigger ones run in the background (status `queued`, "
        "then `running`): poll the export. Files are kept 7 days.",
        request=ExportCreateSerializer,
        responses={202: ExportSerializer, 400: OpenApiResponse(
            ErrorSerializer, description="`invalid_export`, `validation_error`"),
            **error_responses(401, 403)},
    )
    def post(self, request):
        body = ExportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        columns = data["columns"] if "columns" in data else default_column_keys()
        try:
            job = services.start_export(source=data.get("source", {"kind": "all"}),
                                        columns=columns, file_format=data["format"], user=None)
        except services.ExportError as exc:
            raise InvalidExport(str(exc)) from None
        location = f"{request.path.rstrip('/')}/{job.pk}"
        return self.job_response(job, status.HTTP_202_ACCEPTED, headers={"Location": location})


class ExportDetailView(ExportApiView):
    @extend_schema(summary="Get an export", description="Status, progress and download URL.",
                   responses={200: ExportSerializer, **error_responses(401, 404)})
    def get(self, request, pk: int):
        return self.job_response(self.get_job())


class ExportDownloadView(ExportApiView):
    @extend_schema(
        summary="Download an export's file",
        description="The file itself (local storage) or a 302 redirect to a signed URL valid 5 "
        "minutes (S3).",
        responses={(200, "application/octet-stream"): OpenApiResponse(str, description="File"),
                   302: OpenApiResponse(description="Redirect to a signed URL"),
                   **error_responses(401, 404),
                   409: OpenApiResponse(ErrorSerializer, description="`not_ready`"),
                   410: OpenApiResponse(ErrorSerializer, description="`expired`")},
    )
    def get(self, request, pk: int):
        job = self.get_job()
        if services.is_expired(job):
            raise Expired()
        if not services.is_downloadable(job):
            raise NotReady(f"The export is {job.get_status_display().lower()}; there is no "
                           "file to download.")
        return download_response(job)


# Included by penguinleads/api/urls.py: path("", include("imports.exports.api")).
urlpatterns = [
    path("exports", ExportListView.as_view(), name="exports"),
    path("exports/<int:pk>", ExportDetailView.as_view(), name="export"),
    path("exports/<int:pk>/download", ExportDownloadView.as_view(), name="export-download"),
]
