"""POST /api/v1/events/batch (API key) and POST /webhooks/events (signed). Thin: check the
request's shape, call engagement.services.ingest_events, answer the per-item results."""

from __future__ import annotations

import json
from collections import Counter

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from engagement.services import MAX_BATCH, ingest_events
from engagement.signing import SignatureError, verify
from penguinleads.api.errors import BatchTooLarge, error_response, error_responses
from penguinleads.api.parsers import LimitedJSONParser, _has_nul, max_body_bytes

TOO_MANY = f"At most {MAX_BATCH:,} events per request."


class EventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False,
        help_text=f"Up to {MAX_BATCH:,} events: event_id, type, email, occurred_at, campaign, "
        "url, subject, preview, message_id, bounce_type.",
    )

    def validate_events(self, value):
        if len(value) > MAX_BATCH:
            raise BatchTooLarge(TOO_MANY)
        return value


class EventBatchResultSerializer(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())
    counts = serializers.DictField(child=serializers.IntegerField())


def summary(results) -> dict:
    counts = Counter(result.status for result in results)
    return {
        "results": [result.as_dict() for result in results],
        "counts": {name: counts[name] for name in ("accepted", "duplicate", "error")},
    }


class EventBatchView(GenericAPIView):
    serializer_class = EventBatchSerializer
    parser_classes = [LimitedJSONParser]

    @extend_schema(
        summary="Ingest email events",
        description=f"Up to {MAX_BATCH:,} events, idempotent by `event_id`: one result per item "
        "in request order (`accepted`, `duplicate`, `error` with `errors`). More: 413 "
        "`batch_too_large`, nothing written.",
        request=EventBatchSerializer,
        responses={200: EventBatchResultSerializer, **error_responses(400, 401, 403, 413, 415)},
    )
    def post(self, request):
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if isinstance(events, list) and len(events) > MAX_BATCH:
            raise BatchTooLarge(TOO_MANY)  # before validating 5,001 items
        serializer = EventBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = ingest_events(
            events=serializer.validated_data["events"], source=f"events:api:{request.auth.prefix}"
        )
        return Response(summary(results))


@csrf_exempt
@require_POST
def webhook_events(request):
    """Signed by the sending system (see engagement.signing); body {"events": [...]}."""
    limit = max_body_bytes()
    length = request.META.get("CONTENT_LENGTH", "")
    if length.isdigit() and int(length) > limit:
        return error_response("request_too_large",
                              f"The request body is larger than {limit} bytes.", 413)
    body = request.body
    try:
        verify(timestamp=request.headers.get("X-Penguin-Timestamp"),
               signature=request.headers.get("X-Penguin-Signature"), body=body)
    except SignatureError as exc:
        return error_response(exc.code, exc.message, 401)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return error_response("malformed_json", "The body is not valid JSON.", 400)
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not events:
        return error_response("validation_error", "The request has invalid data; see details.",
                              400, {"events": ["Send a non-empty list of events."]})
    if len(events) > MAX_BATCH:
        return error_response("batch_too_large", TOO_MANY, 413)
    if _has_nul(events):
        return error_response("unsupported_character",
                              "Text may not contain the NUL character (\\u0000).", 400)
    return JsonResponse(summary(ingest_events(events=events, source="events:webhook")))
