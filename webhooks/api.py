"""REST endpoints of outbound webhooks (/api/v1/webhooks…). Thin: check the request's shape,
call one service, serialise. Only tenant API keys reach them (keys are made by admins/owners)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from contacts.api import MAX_ID
from penguinleads.api.errors import Conflict, error_responses
from penguinleads.api.parsers import LimitedJSONParser
from segments.api import IdCursorPagination
from webhooks import services
from webhooks.models import Delivery, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    url = serializers.CharField(help_text="http(s) URL receiving the events.")
    kinds = serializers.JSONField(help_text="List of event kinds, e.g. [\"contact.created\"].")

    class Meta:
        model = Endpoint
        fields = ("id", "url", "kinds", "description", "secret", "active", "failure_count",
                  "disabled_at", "disabled_reason", "created_at")
        read_only_fields = ("id", "secret", "failure_count", "disabled_at", "disabled_reason",
                            "created_at")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ("id", "endpoint", "kind", "event_id", "payload", "status", "attempts",
                  "next_attempt_at", "last_status_code", "last_error", "last_response_excerpt",
                  "created_at", "delivered_at")


class EndpointInactive(Conflict):
    default_code = "endpoint_inactive"


def _get(model, pk: int, label: str):
    found = model.objects.filter(pk=pk).first() if pk <= MAX_ID else None
    if found is None:
        raise NotFound(f"No {label} with id {pk}.")
    return found


def _call(function, **kwargs):
    try:
        return function(**kwargs)
    except ValidationError as exc:
        if getattr(exc, "code", None) == "inactive":
            raise EndpointInactive(exc.messages[0]) from None
        raise exceptions.ValidationError(getattr(exc, "message_dict", None) or exc.messages) from None


class WebhookApiView(GenericAPIView):
    serializer_class = EndpointSerializer
    parser_classes = [LimitedJSONParser]


class EndpointListView(WebhookApiView):
    pagination_class = IdCursorPagination

    @extend_schema(summary="List webhook endpoints",
                   responses={200: EndpointSerializer(many=True), **error_responses(400, 401)})
    def get(self, request):
        page = self.paginate_queryset(Endpoint.objects.all())
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(summary="Register a webhook endpoint (the answer holds its signing secret)",
                   responses={201: EndpointSerializer, **error_responses(400, 401, 413, 415)})
    def post(self, request):
        body = EndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        created = _call(services.create_endpoint, url=data["url"], kinds=data["kinds"],
                        description=data.get("description", ""))
        return Response(EndpointSerializer(created).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(WebhookApiView):
    @extend_schema(summary="Get a webhook endpoint",
                   responses={200: EndpointSerializer, **error_responses(401, 404)})
    def get(self, request, pk: int):
        return Response(EndpointSerializer(_get(Endpoint, pk, "webhook")).data)

    @extend_schema(summary="Change a webhook's URL, kinds, description or active flag",
                   responses={200: EndpointSerializer, **error_responses(400, 401, 404, 413)})
    def patch(self, request, pk: int):
        endpoint = _get(Endpoint, pk, "webhook")
        body = EndpointSerializer(endpoint, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if {"url", "kinds", "description"} & set(data):
            _call(services.update_endpoint, endpoint=endpoint, url=data.get("url", endpoint.url),
                  kinds=data.get("kinds", endpoint.kinds),
                  description=data.get("description", endpoint.description))
        if "active" in data and data["active"] != endpoint.active:
            services.set_endpoint_active(endpoint=endpoint, active=data["active"])
        return Response(EndpointSerializer(_get(Endpoint, pk, "webhook")).data)

    @extend_schema(summary="Delete a webhook endpoint and its delivery log",
                   responses={204: None, **error_responses(401, 404)})
    def delete(self, request, pk: int):
        services.delete_endpoint(endpoint=_get(Endpoint, pk, "webhook"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(WebhookApiView):
    serializer_class = DeliverySerializer
    pagination_class = IdCursorPagination

    @extend_schema(summary="Deliveries of a webhook endpoint, newest first",
                   responses={200: DeliverySerializer(many=True), **error_responses(401, 404)})
    def get(self, request, pk: int):
        endpoint = _get(Endpoint, pk, "webhook")
        page = self.paginate_queryset(endpoint.deliveries.all())
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryReplayView(WebhookApiView):
    serializer_class = DeliverySerializer

    @extend_schema(summary="Send a delivery again (a new delivery with the same event id)",
                   request=None,
                   responses={202: DeliverySerializer, **error_responses(401, 404, 409)})
    def post(self, request, pk: int):
        replay = _call(services.replay_delivery, delivery=_get(Delivery, pk, "delivery"))
        return Response(DeliverySerializer(replay).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("webhooks", EndpointListView.as_view(), name="webhooks"),
    path("webhooks/<int:pk>", EndpointDetailView.as_view(), name="webhook"),
    path("webhooks/<int:pk>/deliveries", DeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/deliveries/<int:pk>/replay", DeliveryReplayView.as_view(),
         name="webhook-delivery-replay"),
]
