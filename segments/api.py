"""REST endpoints for lists and campaigns (/api/v1/lists…, /api/v1/campaigns…). Thin: check
the request's shape, call one service or selector, serialise.

Members are added and removed in batches of up to 10,000 contact ids or emails; the answer
names the ids and emails that matched no contact. A campaign's audience is streamed page by
page with an id-keyset cursor, so contacts added meanwhile never shift or repeat a page."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from contacts.api import MAX_ID, contacts_for_api
from contacts.emails import InvalidEmail, normalize_email
from contacts.models import Contact
from contacts.serializers import ContactSerializer
from penguinleads.api.errors import (
    BatchTooLarge,
    Conflict,
    InvalidCursor,
    error_responses,
    with_details,
)
from penguinleads.api.parsers import LimitedJSONParser
from segments import selectors, services
from segments.models import Campaign, CampaignStatus, StaticList

MAX_BATCH = 10_000



class ListInUse(Conflict):
    default_code = "list_in_use"

class IdCursorPagination(CursorPagination):
    """Ordered by id: a keyset, stable while contacts are added or removed."""

    ordering = ("id",)
    page_size = 100
    page_size_query_param = "limit"
    page_size_query_description = "Per page: default 100, at most 1,000."
    max_page_size = 1000

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise InvalidCursor() from None


# --- serializers ----------------------------------------------------------------------------------


class ListSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    archived = serializers.BooleanField(required=False)

    class Meta:
        model = StaticList
        fields = ("id", "name", "description", "archived", "member_count", "created_at",
                  "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["archived"] = instance.archived_at is not None
        return data


class MembersSerializer(serializers.Serializer):
    contact_ids = serializers.ListField(child=serializers.IntegerField(min_value=1),
                                        required=False, allow_empty=True)
    emails = serializers.ListField(child=serializers.CharField(max_length=320,
                                                               trim_whitespace=True),
                                   required=False, allow_empty=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        received = len(data.get("contact_ids", [])) + len(data.get("emails", []))
        if received > MAX_BATCH:
            raise with_details(
                BatchTooLarge(f"At most {MAX_BATCH:,} contacts per request (got {received:,}); "
                              "send them in several requests."),
                {"limit": MAX_BATCH, "received": received},
            )
        if "contact_ids" not in data and "emails" not in data:
            raise serializers.ValidationError("Send `contact_ids` or `emails` (or both).")
        return data


class MembersResultSerializer(serializers.Serializer):
    added = serializers.IntegerField(required=False)
    removed = serializers.IntegerField(required=False)
    matched = serializers.IntegerField(help_text="Contacts found for the ids and emails sent.")
    unknown_ids = serializers.ListField(child=serializers.IntegerField())
    unknown_emails = serializers.ListField(child=serializers.CharField())


class CampaignSerializer(serializers.ModelSerializer):
    target_list_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    exclude_list_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)

    class Meta:
        model = Campaign
        fields = ("id", "name", "status", "target_list_ids", "exclude_list_ids", "created_at")
        read_only_fields = ("id", "created_at")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["target_list_ids"], data["exclude_list_ids"] = selectors.campaign_list_ids(instance)
        return data


class AudienceContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ("id", "email", "first_name", "last_name", "company")


# --- helpers --------------------------------------------------------------------------------------


def _get_list(pk: int) -> StaticList:
    found = StaticList.objects.filter(pk=pk).first() if pk <= MAX_ID else None
    if found is None:
        raise NotFound(f"No list with id {pk}; it may have been deleted.")
    return found


def _get_campaign(pk: int) -> Campaign:
    found = Campaign.objects.filter(pk=pk).first() if pk <= MAX_ID else None
    if found is None:
        raise NotFound(f"No campaign with id {pk}.")
    return found


def resolve_contacts(data: dict[str, Any]) -> tuple[list[int], list[int], list[str]]:
    """(ids of the contacts found, ids sent that match none, emails sent that match none)."""
    ids = list(dict.fromkeys(data.get("contact_ids", [])))
    found = set(Contact.objects.filter(pk__in=[i for i in ids if i <= MAX_ID])
                .values_list("pk", flat=True))
    by_email: dict[str, str] = {}
    for email in data.get("emails", []):
        try:
            by_email.setdefault(normalize_email(email).normalized, email)
        except InvalidEmail:
            by_email.setdefault(email.strip().lower(), email)
    matched = dict(Contact.objects.filter(email_normalized__in=list(by_email))
                   .values_list("email_normalized", "pk"))
    unknown_emails = [sent for norm, sent in by_email.items() if norm not in matched]
    return (sorted(found | set(matched.values())), [i for i in ids if i not in found],
            unknown_emails)


@contextmanager
def _on_field(name: str):
    """A service's ValidationError without a field becomes an error of field `name`."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise
        raise ValidationError({name: exc.messages}) from None


def _change_members(request, pk: int, function) -> Response:
    static_list = _get_list(pk)
    body = MembersSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    ids, unknown_ids, unknown_emails = resolve_contacts(body.validated_data)
    sql, params = services.ids_of(ids)
    try:
        count = function(static_list=static_list, ids_sql=sql, params=params, source="api")
    except services.ListGone:
        raise NotFound(f"No list with id {pk}; it may have been deleted.") from None
    key = "added" if function is services.add_contacts_to_list else "removed"
    return Response({key: count, "matched": len(ids), "unknown_ids": unknown_ids,
                     "unknown_emails": unknown_emails})


# --- lists ----------------------------------------------------------------------------------------


class ListApiView(GenericAPIView):
    serializer_class = ListSerializer
    parser_classes = [LimitedJSONParser]


class ListListView(ListApiView):
    pagination_class = IdCursorPagination

    @extend_schema(summary="List lists", responses={200: ListSerializer(many=True),
                                                    **error_responses(400, 401)})
    def get(self, request):
        lists = selectors.with_member_counts(selectors.visible_lists())
        page = self.paginate_queryset(lists)
        return self.get_paginated_response(ListSerializer(page, many=True).data)

    @extend_schema(summary="Create a list",
                   responses={201: ListSerializer, **error_responses(400, 401, 413, 415)})
    def post(self, request):
        body = ListSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with _on_field("name"):
            created = services.create_list(
                name=body.validated_data["name"],
                description=body.validated_data.get("description", ""),
            )
        created.member_count = 0
        return Response(ListSerializer(created).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"{request.path.rstrip('/')}/{created.pk}"})


def _with_count(static_list: StaticList) -> StaticList:
    static_list.member_count = services.count_members(static_list)
    return static_list


class ListDetailView(ListApiView):
    @extend_schema(summary="Get a list",
                   responses={200: ListSerializer, **error_responses(401, 404)})
    def get(self, request, pk: int):
        return Response(ListSerializer(_with_count(_get_list(pk))).data)

    @extend_schema(summary="Rename, describe, archive or unarchive a list",
                   responses={200: ListSerializer, **error_responses(400, 401, 404, 413, 415)})
    def patch(self, request, pk: int):
        static_list = _get_list(pk)
        body = ListSerializer(static_list, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "name" in data or "description" in data:
            with _on_field("name"):
                services.update_list(static_list=static_list,
                    name=data.get("name", static_list.name),
                    description=data.get("description", static_list.description),
                )
        if "archived" in data:
            services.set_list_archived(static_list=static_list, archived=data["archived"])
        return Response(ListSerializer(_with_count(_get_list(pk))).data)

    @extend_schema(summary="Delete a list (its contacts stay)",
                   responses={204: None, **error_responses(401, 404, 409)})
    def delete(self, request, pk: int):
        try:
            services.delete_list(static_list=_get_list(pk))
        except ValidationError as exc:  # a dynamic segment uses it
            raise ListInUse(exc.messages[0]) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListMembersView(ListApiView):
    serializer_class = MembersSerializer
    pagination_class = IdCursorPagination

    @extend_schema(summary="List the members of a list (cursor pagination by id)",
                   responses={200: ContactSerializer(many=True), **error_responses(400, 401, 404)})
    def get(self, request, pk: int):
        static_list = _get_list(pk)
        members: QuerySet[Contact] = contacts_for_api().filter(
            pk__in=selectors.list_members(static_list).values("pk")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(summary="Add up to 10,000 contacts (by id and/or email) to a list",
                   request=MembersSerializer,
                   responses={200: MembersResultSerializer,
                              **error_responses(400, 401, 404, 413, 415)})
    def post(self, request, pk: int):
        return _change_members(request, pk, services.add_contacts_to_list)

    @extend_schema(summary="Remove up to 10,000 contacts (by id and/or email) from a list",
                   request=MembersSerializer,
                   responses={200: MembersResultSerializer,
                              **error_responses(400, 401, 404, 413, 415)})
    def delete(self, request, pk: int):
        return _change_members(request, pk, services.remove_contacts_from_list)


class ListMembersRemoveView(ListMembersView):
    """POST alias of DELETE …/members, for clients that cannot send a body with DELETE."""

    @extend_schema(summary="Remove up to 10,000 contacts from a list (POST form)",
                   request=MembersSerializer,
                   responses={200: MembersResultSerializer,
                              **error_responses(400, 401, 404, 413, 415)})
    def post(self, request, pk: int):
        return _change_members(request, pk, services.remove_contacts_from_list)


# --- campaigns ------------------------------------------------------------------------------------


class CampaignApiView(GenericAPIView):
    serializer_class = CampaignSerializer
    parser_classes = [LimitedJSONParser]


def _save_campaign(campaign: Campaign, data: dict[str, Any]) -> None:
    services.update_campaign(campaign=campaign, name=data.get("name", campaign.name),
                             status=data.get("status", campaign.status))
    if "target_list_ids" in data or "exclude_list_ids" in data:
        targets, excludes = selectors.campaign_list_ids(campaign)
        with _on_field("target_list_ids" if "target_list_ids" in data else "exclude_list_ids"):
            services.set_campaign_targets(
                campaign=campaign,
                target_ids=data.get("target_list_ids",
                                    [i for i in targets if i != campaign.direct_list_id]),
                exclude_ids=data.get("exclude_list_ids", excludes),
            )


class CampaignListView(CampaignApiView):
    pagination_class = IdCursorPagination

    @extend_schema(summary="List campaigns",
                   responses={200: CampaignSerializer(many=True), **error_responses(400, 401)})
    def get(self, request):
        page = self.paginate_queryset(Campaign.objects.all())
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(summary="Create a campaign",
                   responses={201: CampaignSerializer, **error_responses(400, 401, 413, 415)})
    def post(self, request):
        body = CampaignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic(), _on_field("name"):
            campaign = services.create_campaign(name=body.validated_data["name"])
            _save_campaign(campaign, body.validated_data)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"{request.path.rstrip('/')}/{campaign.pk}"})


class CampaignDetailView(CampaignApiView):
    @extend_schema(summary="Get a campaign",
                   responses={200: CampaignSerializer, **error_responses(401, 404)})
    def get(self, request, pk: int):
        return Response(CampaignSerializer(_get_campaign(pk)).data)

    @extend_schema(summary="Change a campaign's name, status, target or exclusion lists",
                   responses={200: CampaignSerializer,
                              **error_responses(400, 401, 404, 413, 415)})
    def patch(self, request, pk: int):
        campaign = _get_campaign(pk)
        body = CampaignSerializer(campaign, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        with transaction.atomic(), _on_field("name"):
            _save_campaign(campaign, body.validated_data)
        return Response(CampaignSerializer(_get_campaign(pk)).data)


class CampaignAudienceView(CampaignApiView):
    serializer_class = AudienceContactSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        summary="Stream a campaign's audience",
        description="Members of the target lists minus the exclusion lists, minus "
        "unsubscribed, bounced and invalid contacts; each email once. Ordered by id; follow "
        "`next` until it is null.",
        responses={200: AudienceContactSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request, pk: int):
        audience = selectors.audience(_get_campaign(pk)).only(*AudienceContactSerializer.Meta.fields)
        page = self.paginate_queryset(audience)
        return self.get_paginated_response(AudienceContactSerializer(page, many=True).data)


urlpatterns = [
    path("lists", ListListView.as_view(), name="lists"),
    path("lists/<int:pk>", ListDetailView.as_view(), name="list"),
    path("lists/<int:pk>/members", ListMembersView.as_view(), name="list-members"),
    path("lists/<int:pk>/members/remove", ListMembersRemoveView.as_view(),
         name="list-members-remove"),
    path("campaigns", CampaignListView.as_view(), name="campaigns"),
    path("campaigns/<int:pk>", CampaignDetailView.as_view(), name="campaign"),
    path("campaigns/<int:pk>/audience", CampaignAudienceView.as_view(), name="campaign-audience"),
]
