"""One error shape for every API answer that is not a success:

    {"error": {"code": "<snake_case>", "message": "<sentence>", "details": {...}}}

`details` is present only when there is something per field (or per item) to say.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from contacts.services import DuplicateEmail

logger = logging.getLogger(__name__)

# DRF's default codes, renamed where ours say more to an integrator.
CODES = {
    "parse_error": "malformed_json",
    "invalid": "validation_error",
    "error": "error",
}
# Messages that replace DRF's generic ones.
MESSAGES = {
    "validation_error": "The request has invalid data; see details.",
    "not_authenticated": "An API key is required: send the header `Authorization: Bearer <key>`.",
}


class BatchTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "batch_too_large"
    default_detail = "Too many items in one batch."


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class UnsupportedCharacter(exceptions.ParseError):
    default_code = "unsupported_character"
    default_detail = "Text may not contain the NUL character (\\u0000)."


class InvalidCursor(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_cursor"
    default_detail = "The cursor is not valid; use a `next` or `previous` link as given."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with existing data."


def with_details(exc: exceptions.APIException, details: dict) -> exceptions.APIException:
    """Attach `details` (shown in the error body) to a DRF exception."""
    exc.details = details
    return exc


class ErrorInfoSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code, e.g. `duplicate_email`.")
    message = serializers.CharField(help_text="A sentence for people.")
    details = serializers.DictField(
        required=False, help_text="Per-field messages, or facts such as `existing_id`."
    )


class ErrorSerializer(serializers.Serializer):
    """The error body, for the OpenAPI document."""

    error = ErrorInfoSerializer()


ERROR_DESCRIPTIONS = {
    400: "`validation_error` (see details), `malformed_json`, `unsupported_character`, "
    "`invalid_cursor`",
    401: "`not_authenticated`, `invalid_authorization_header`, `invalid_api_key`, "
    "`api_key_revoked`",
    403: "`tenant_suspended`",
    404: "`not_found`",
    409: "`duplicate_email` (details.existing_id)",
    413: "`batch_too_large`, `request_too_large`",
    415: "`unsupported_media_type`",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, for @extend_schema(responses=…)."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in statuses
    }


def error_body(code: str, message: str, details: dict | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(code: str, message: str, status: int, details=None) -> JsonResponse:
    """An API error answered outside DRF (middleware, URL fallbacks)."""
    return JsonResponse(error_body(code, message, details), status=status)


def not_found(request, *args, **kwargs) -> JsonResponse:
    """Fallback for any path under /api/v1/ that names no endpoint."""
    message = f"No API endpoint at {request.path}."
    if request.path.endswith("/"):
        message += " API paths have no trailing slash."
    return error_response("not_found", message, 404)


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error becomes the one JSON shape above."""
    api_exc = _as_api_exception(exc)
    set_rollback()
    if api_exc is None:
        # A bug. Logged with its traceback; the integrator still gets JSON, not an HTML page.
        logger.error("Unhandled error in API view %s", context.get("view"), exc_info=exc)
        return Response(
            error_body("internal_error", "Something went wrong on our side; we are on it."),
            status=500,
        )
    headers = {}
    if getattr(api_exc, "auth_header", None):
        headers["WWW-Authenticate"] = api_exc.auth_header
    if getattr(api_exc, "wait", None):
        headers["Retry-After"] = str(int(api_exc.wait))
    code, message, details = _describe(api_exc)
    return Response(error_body(code, message, details), status=api_exc.status_code, headers=headers)


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    """Map the exceptions our services and Django raise to DRF ones; None for the unexpected."""
    if isinstance(exc, DuplicateEmail):
        conflict = Conflict(exc.messages[0], code="duplicate_email")
        return with_details(conflict, {"existing_id": exc.existing_id})
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, exceptions.APIException):
        return exc
    return None


def _describe(exc: exceptions.APIException) -> tuple[str, str, dict | None]:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return "validation_error", MESSAGES["validation_error"], _plain(details)
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    code = CODES.get(code, code)
    return code, MESSAGES.get(code, str(detail)), getattr(exc, "details", None)


def _plain(value: Any) -> Any:
    """ErrorDetail → str, recursively (JSON renders them anyway; tests compare plain data)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)
