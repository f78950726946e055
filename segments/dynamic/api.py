"""REST endpoints for dynamic segments (/api/v1/segments…). Thin: check the request's shape,
call one service or selector, serialise. Rules travel in the public shape documented in
segments/rules/; a bad rule answers 400 ``invalid_rules`` with the message naming it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from contacts.api import MAX_ID, contacts_for_api
from contacts.serializers import ContactSerializer
from penguinleads.api.errors import Conflict, error_responses
from penguinleads.api.parsers import LimitedJSONParser
from segments import selectors
from segments.api import AudienceContactSerializer, IdCursorPagination
from segments.dynamic import services
from segments.models import Segment


class InvalidRules(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_rules"
    default_detail = "The rules are not valid."


class SegmentInUse(Conflict):
    default_code = "segment_in_use"


class SegmentSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField(help_text='{"op": "and"|"or", "rules": [...]}')
    exclude = serializers.JSONField(required=False, allow_null=True,
                                    help_text="Same shape; empty or null excludes nobody.")

    class Meta:
        model = Segment
        fields = ("id", "name", "description", "rules", "exclude", "member_count",
                  "last_refreshed_at", "refresh_error", "created_at", "updated_at")
        read_only_fields = ("id", "member_count", "last_refreshed_at", "refresh_error",
                            "created_at", "updated_at")
        extra_kwargs = {"name": {"validators": []}}


class PreviewSerializer(serializers.Serializer):
    rules = serializers.JSONField()
    exclude = serializers.JSONField(required=False, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0,
                                     max_value=services.PREVIEW_MAX_ROWS, default=10)


class PreviewResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    contacts = AudienceContactSerializer(many=True)


class RefreshResultSerializer(serializers.Serializer):
    entered = serializers.IntegerField()
    left = serializers.IntegerField()
    size = serializers.IntegerField()


def _get_segment(pk: int) -> Segment:
    found = Segment.objects.filter(pk=pk).first() if pk <= MAX_ID else None
    if found is None:
        raise NotFound(f"No segment with id {pk}; it may have been deleted.")
    return found


def _call(function, **kwargs):
    """A service call whose ValidationError becomes the API's error: invalid_rules, a name
    error (field `name`), or a conflict."""
    try:
        return function(**kwargs)
    except ValidationError as exc:
        message = exc.messages[0]
        if exc.code == "invalid_rules":
            raise InvalidRules(message) from None
        if exc.code == "in_use":
            raise SegmentInUse(message) from None
        raise exceptions.ValidationError({"name": exc.messages}) from None


class SegmentApiView(GenericAPIView):
    serializer_class = SegmentSerializer
    parser_classes = [LimitedJSONParser]


class SegmentListView(SegmentApiView):
    pagination_class = IdCursorPagination

    @extend_schema(summary="List segments", responses={200: SegmentSerializer(many=True),
                                                       **error_responses(400, 401)})
    def get(self, request):
        page = self.paginate_queryset(Segment.objects.all())
        return self.get_paginated_response(SegmentSerializer(page, many=True).data)

    @extend_schema(summary="Create a segment (its members are computed in the background)",
                   responses={201: SegmentSerializer, **error_responses(400, 401, 413, 415)})
    def post(self, request):
        body = SegmentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        created = _call(services.create_segment, name=data["name"],
                        description=data.get("description", ""), rules=data["rules"],
                        exclude=data.get("exclude"))
        return Response(SegmentSerializer(created).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"{request.path.rstrip('/')}/{created.pk}"})


class SegmentDetailView(SegmentApiView):
    @extend_schema(summary="Get a segment",
                   responses={200: SegmentSerializer, **error_responses(401, 404)})
    def get(self, request, pk: int):
        return Response(SegmentSerializer(_get_segment(pk)).data)

    @extend_schema(summary="Change a segment's name, description, rules or exclusions",
                   responses={200: SegmentSerializer,
                              **error_responses(400, 401, 404, 413, 415)})
    def patch(self, request, pk: int):
        segment = _get_segment(pk)
        body = SegmentSerializer(segment, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        _call(services.update_segment, segment=segment, name=data.get("name", segment.name),
              description=data.get("description", segment.description),
              rules=data.get("rules", segment.rules),
              exclude=data.get("exclude", segment.exclude))
        return Response(SegmentSerializer(_get_segment(pk)).data)

    @extend_schema(summary="Delete a segment (its contacts stay)",
                   responses={204: None, **error_responses(401, 404, 409)})
    def delete(self, request, pk: int):
        _call(services.delete_segment, segment=_get_segment(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentPreviewView(SegmentApiView):
    serializer_class = PreviewSerializer

    @extend_schema(summary="Count the contacts matching a rule tree, with the first rows",
                   request=PreviewSerializer,
                   responses={200: PreviewResultSerializer,
                              **error_responses(400, 401, 413, 415)})
    def post(self, request):
        body = PreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        count, rows = _call(services.preview_rules, rules=data["rules"],
                            exclude=data.get("exclude"), limit=data["limit"])
        return Response({"count": count,
                         "contacts": AudienceContactSerializer(rows, many=True).data})


class SegmentMembersView(SegmentApiView):
    pagination_class = IdCursorPagination

    @extend_schema(summary="List the members of a segment as of its last refresh "
                   "(cursor pagination by id)",
                   responses={200: ContactSerializer(many=True), **error_responses(400, 401, 404)})
    def get(self, request, pk: int):
        segment = _get_segment(pk)
        members = contacts_for_api().filter(
            pk__in=selectors.segment_members(segment).values("pk"))
        page = self.paginate_queryset(members)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)


class SegmentRefreshView(SegmentApiView):
    @extend_schema(summary="Recompute a segment's members now", request=None,
                   responses={200: RefreshResultSerializer, **error_responses(400, 401, 404)})
    def post(self, request, pk: int):
        segment = _get_segment(pk)
        done = services.refresh_now(segment=segment)
        if done is None:
            segment.refresh_from_db()
            raise InvalidRules(segment.refresh_error or "The segment could not be refreshed.")
        return Response({"entered": done.entered, "left": done.left, "size": done.size_after})


urlpatterns = [
    path("segments", SegmentListView.as_view(), name="segments"),
    path("segments/preview", SegmentPreviewView.as_view(), name="segments-preview"),
    path("segments/<int:pk>", SegmentDetailView.as_view(), name="segment"),
    path("segments/<int:pk>/members", SegmentMembersView.as_view(), name="segment-members"),
    path("segments/<int:pk>/refresh", SegmentRefreshView.as_view(), name="segment-refresh"),
]
