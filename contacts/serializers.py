"""API shapes of contacts.

The serializers describe the API (and the OpenAPI document), but the rules for values live in
contacts.services: input serializers only check the shape of the request (an object, known
field names, a list of items) and hand the values to the services, so the API, the pages and
imports accept and refuse exactly the same things with the same messages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from contacts.models import Contact, ContactStatus
from contacts.selectors import BANDS, SCORE_SORTS
from contacts.services import TEXT_FIELDS, clean_tag_names
from engagement.models import ScoreBand
from penguinleads.api.errors import BatchTooLarge, with_details

WRITABLE_FIELDS = ("email", *TEXT_FIELDS, "status", "custom_fields", "tags")
READ_ONLY_FIELDS = (
    "id",
    "validation_status",
    "validation_reason",
    "source",
    "created_at",
    "updated_at",
    "score",
    "score_band",
)
INT_MAX = 2**31 - 1  # scores are PostgreSQL integers
ORDERINGS = ("-created_at", *SCORE_SORTS)


class TagNamesField(serializers.ListField):
    """Tags as a list of names; reads the (prefetched) tags of a contact."""

    child = serializers.CharField(max_length=64)

    def to_representation(self, value) -> list[str]:
        return [tag.name for tag in value.all()]


class ContactSerializer(serializers.ModelSerializer):
    """A contact. Writes take any subset of the writable fields; unknown or read-only field
    names are refused rather than ignored, so a typo never goes unnoticed."""

    # Reads need the `score` and `score_band` annotations of contacts.selectors.with_scores
    # (contacts.api.contacts_for_api adds them).

    tags = TagNamesField(
        required=False,
        help_text="Tag names. On update the list replaces the contact's tags.",
    )
    custom_fields = serializers.DictField(
        required=False,
        help_text="Values by custom field key; keys must be defined in the workspace. "
        'null or "" removes a value.',
    )
    score = serializers.IntegerField(
        read_only=True,
        help_text="Lead score from email engagement (or a manual override); 0 without any.",
    )
    score_band = serializers.ChoiceField(
        choices=ScoreBand.choices, read_only=True,
        help_text="hot, warm or cold by the workspace's thresholds; cold without a score.",
    )

    class Meta:
        model = Contact
        fields = (
            "id",
            "email",
            *TEXT_FIELDS,
            "custom_fields",
            "tags",
            "status",
            "validation_status",
            "validation_reason",
            "source",
            "created_at",
            "updated_at",
            "score",
            "score_band",
        )
        read_only_fields = READ_ONLY_FIELDS
        validators: list = []  # uniqueness is the service's job (409 duplicate_email)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send a JSON object of contact fields."]}
            )
        errors = {
            name: ["Read-only field."] if name in READ_ONLY_FIELDS else ["Unknown field."]
            for name in data
            if name not in WRITABLE_FIELDS
        }
        values = dict(data)
        # The services would read str(value), turning ["a@b.c"] into a baffling message.
        if "email" in values and not isinstance(values["email"], str):
            errors["email"] = ["Must be text."]
        if "tags" in values:
            try:
                values["tags"] = clean_tag_names(_require_list(values["tags"]))
            except DjangoValidationError as exc:
                errors["tags"] = exc.messages
        if errors:
            raise serializers.ValidationError(errors)
        return values


def _require_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise DjangoValidationError("Must be a list of tag names.")
    return value


class ContactFilterSerializer(serializers.Serializer):
    """Query parameters of the contact list; all optional and combined with AND."""

    email = serializers.CharField(
        required=False, max_length=254, help_text="Exact email address (case-insensitive)."
    )
    search = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Words matching the start of words of the email, name or company.",
    )
    tag = serializers.CharField(
        required=False, max_length=64, help_text="Tag name (case-insensitive)."
    )
    status = serializers.ChoiceField(required=False, choices=ContactStatus.choices)
    created_after = serializers.DateTimeField(
        required=False,
        help_text="Created at or after this ISO 8601 date or date-time (UTC when no offset).",
    )
    score_band = serializers.CharField(
        required=False, max_length=50,
        help_text="Score band: hot, warm or cold; several separated by commas (hot,warm).",
    )
    score_min = serializers.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, help_text="Score at least this."
    )
    score_max = serializers.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, help_text="Score at most this."
    )
    ordering = serializers.ChoiceField(
        required=False, choices=ORDERINGS,
        help_text="-created_at (newest first, the default), -score (highest first) or score.",
        error_messages={"invalid_choice": f"Unknown ordering “{{input}}”; use one of "
                                          f"{', '.join(ORDERINGS)}."},
    )

    def validate_score_band(self, value: str) -> list[str]:
        bands = [band.strip().lower() for band in value.split(",") if band.strip()]
        for band in bands:
            if band not in BANDS:
                raise serializers.ValidationError(
                    f"Unknown score band “{band[:20]}”; use hot, warm or cold (several "
                    "separated by commas)."
                )
        if not bands:
            raise serializers.ValidationError("Name a score band: hot, warm or cold.")
        return bands

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("score_min"), attrs.get("score_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"score_max": [f"Must not be below score_min ({low})."]}
            )
        return attrs


class ContactBatchSerializer(serializers.Serializer):
    """Body of a batch upsert: `{"contacts": [{...}, …]}` with at most API_BATCH_LIMIT items."""

    contacts = serializers.ListField(
        child=serializers.DictField(),
        help_text="Contacts to create or update, matched by email. Absent fields keep their "
        "value on existing contacts; tags are added to existing ones.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Items are validated one by one by upsert_contacts, which reports each in its result.
        if not isinstance(data, dict) or not isinstance(data.get("contacts"), list):
            raise serializers.ValidationError(
                {"contacts": ['Send {"contacts": [...]}, a list of contact objects.']}
            )
        unknown = sorted(set(data) - {"contacts"})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        limit = settings.API_BATCH_LIMIT
        received = len(data["contacts"])
        if received > limit:
            raise with_details(
                BatchTooLarge(f"At most {limit} contacts per batch (got {received})."),
                {"limit": limit, "received": received},
            )
        return {"contacts": data["contacts"]}


class BatchItemResultSerializer(serializers.Serializer):
    """What happened to one item of a batch (documentation only; built by the service)."""

    index = serializers.IntegerField(help_text="Position of the item in the request.")
    email = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "error"])
    id = serializers.IntegerField(required=False, help_text="The contact's id, unless an error.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages by field, for items with status `error`.",
    )


class BatchCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error = serializers.IntegerField()


class BatchResultSerializer(serializers.Serializer):
    results = BatchItemResultSerializer(many=True)
    counts = BatchCountsSerializer()
