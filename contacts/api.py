"""REST endpoints for contacts (/api/v1/contacts…). Thin: check the request's shape, call one
service or selector, serialise. Errors (service ValidationError, DuplicateEmail, …) become the
API's JSON error body in penguinleads.api.errors."""

from __future__ import annotations

from collections import Counter

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from contacts.models import Contact
from contacts.pagination import ScoreCursorPagination
from contacts.selectors import SCORE_SORTS, filter_contacts, with_scores
from contacts.serializers import (
    BatchResultSerializer,
    ContactBatchSerializer,
    ContactFilterSerializer,
    ContactSerializer,
)
from contacts.services import create_contact, delete_contact, update_contact, upsert_contacts
from penguinleads.api.errors import InvalidCursor, error_responses
from penguinleads.api.parsers import LimitedJSONParser

MAX_ID = 2**63 - 1  # ids are bigint; a larger one in the URL would be a database error


class ContactCursorPagination(CursorPagination):
    """Newest first; (created_at, id) is indexed, so every page is an index walk."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    page_size_query_description = "Contacts per page: default 50, at most 500."
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise InvalidCursor() from None


def api_source(request) -> str:
    """What changes made through the API are attributed to: the key, by its prefix."""
    return f"api:{request.auth.prefix}"


def contacts_for_api():
    return with_scores(Contact.objects.all()).prefetch_related("tags")


class ContactApiView(GenericAPIView):
    serializer_class = ContactSerializer
    parser_classes = [LimitedJSONParser]


class ContactListView(ContactApiView):
    pagination_class = ContactCursorPagination

    @extend_schema(
        summary="List contacts",
        parameters=[ContactFilterSerializer],
        responses={200: ContactSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request):
        filters = ContactFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        contacts = filter_contacts(
            contacts_for_api(),
            search=f.get("search", ""),
            email=f.get("email", ""),
            tag=f.get("tag", ""),
            status=f.get("status", ""),
            created_from=f.get("created_after"),
            score_band=f.get("score_band", []),
            score_min=f.get("score_min"),
            score_max=f.get("score_max"),
        )
        if f.get("ordering") in SCORE_SORTS:
            self.pagination_class = ScoreCursorPagination  # keyset on (score, id)
        page = self.paginate_queryset(contacts)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a contact",
        responses={201: ContactSerializer, **error_responses(400, 401, 403, 409, 413, 415)},
    )
    def post(self, request):
        serializer = ContactSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        contact = create_contact(data=data, tags=tags, actor=None, source=api_source(request))
        contact = contacts_for_api().get(pk=contact.pk)
        location = f"{request.path.rstrip('/')}/{contact.pk}"
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class ContactDetailView(ContactApiView):
    def get_object(self) -> Contact:
        pk = self.kwargs["pk"]
        contact = contacts_for_api().filter(pk=pk).first() if pk <= MAX_ID else None
        if contact is None:
            raise NotFound(f"No contact with id {pk}.")
        return contact

    @extend_schema(
        summary="Get a contact", responses={200: ContactSerializer, **error_responses(401, 404)}
    )
    def get(self, request, pk: int):
        return Response(ContactSerializer(self.get_object()).data)

    @extend_schema(
        summary="Update a contact",
        description="Sets the fields present in the body; `tags`, when present, replaces the "
        "contact's tags.",
        responses={
            200: ContactSerializer,
            **error_responses(400, 401, 403, 404, 409, 413, 415),
        },
    )
    def patch(self, request, pk: int):
        contact = self.get_object()
        serializer = ContactSerializer(contact, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        update_contact(
            contact=contact, data=data, tags=tags, actor=None, source=api_source(request)
        )
        return Response(ContactSerializer(self.get_object()).data)

    @extend_schema(
        summary="Delete a contact", responses={204: None, **error_responses(401, 403, 404)}
    )
    def delete(self, request, pk: int):
        delete_contact(contact=self.get_object(), actor=None, source=api_source(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactBatchView(ContactApiView):
    serializer_class = ContactBatchSerializer

    @extend_schema(
        summary="Create or update many contacts by email",
        description="Up to 1,000 contacts per request, matched by email. Each item gets its "
        "own result in request order; an invalid item does not stop the others. More than "
        "1,000 items: 413 `batch_too_large`, nothing written.",
        request=ContactBatchSerializer,
        responses={200: BatchResultSerializer, **error_responses(400, 401, 403, 413, 415)},
    )
    def post(self, request):
        serializer = ContactBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = upsert_contacts(
            items=serializer.validated_data["contacts"], actor=None, source=api_source(request)
        )
        counts = Counter(result.status for result in results)
        return Response(
            {
                "results": [result.as_dict() for result in results],
                "counts": {
                    name: counts[name] for name in ("created", "updated", "unchanged", "error")
                },
            }
        )
