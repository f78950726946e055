"""Segment rule fields: the tokens a rule may name, their kinds and operators, the limits, and
the error every refusal raises."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from contacts.models import ContactStatus, CustomField, CustomFieldType, ValidationStatus

# Conditions known to be true / false for every contact. Not Q() (Django drops an empty Q from
# an OR) nor pk__in=[] (a query whose filter is empty cannot be turned into SQL at all).
ALWAYS = Q(pk__isnull=False)
NEVER = Q(pk__isnull=True)

MAX_DEPTH = 8
MAX_CONDITIONS = 200
MAX_VALUES = 10_000
MAX_DAYS = 36_500

TEXT_OPERATORS = (
    "equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with", "is_empty",
    "is_not_empty", "in", "not_in",
)
NUMBER_OPERATORS = (
    "equals", "not_equals", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty",
)
DATE_OPERATORS = (
    "equals", "before", "after", "between", "in_last_days", "more_than_days_ago", "is_empty",
    "is_not_empty",
)
BOOLEAN_OPERATORS = ("equals", "is_empty", "is_not_empty")
CHOICE_OPERATORS = ("equals", "not_equals", "in", "not_in")
TAG_OPERATORS = ("has_any", "has_all", "has_none", "is_empty", "is_not_empty")
LIST_OPERATORS = ("in", "not_in")
SEGMENT_OPERATORS = ("in", "not_in")
# Lead scores (engagement.ContactScore; a contact without one has score 0, band cold).
SCORE_OPERATORS = ("equals", "not_equals", "lt", "lte", "gt", "gte", "between")
SCORE_BANDS = ("hot", "warm", "cold")
# Email events (engagement.EmailEvent): "has an event like this" / "has none like this".
EVENT_OPERATORS = ("has_any", "has_none")
EVENT_TYPES = ("any", "sent", "opened", "clicked", "replied", "bounced", "unsubscribed")
EVENT_KEYS = ("type", "campaign", "in_last_days", "after", "before")
# The fields whose matches change with engagement (events, score re-aging) rather than with
# contact edits: segments naming them are refreshed after the nightly re-aging.
ENGAGEMENT_FIELDS = ("score", "score_band", "event")

# Contact columns by public token. "email" compares the normalised (lower-case) address.
TEXT_FIELDS = {
    "email": "email_normalized", "first_name": "first_name", "last_name": "last_name",
    "company": "company", "job_title": "job_title", "phone": "phone", "website": "website",
    "city": "city", "country": "country", "validation_reason": "validation_reason",
    "source": "source",
}
CHOICE_FIELDS = {
    "status": [c for c, _ in ContactStatus.choices],
    "validation_status": [c for c, _ in ValidationStatus.choices],
}
DATE_FIELDS = {"created_at": "created_at", "updated_at": "updated_at"}


class RuleError(ValueError):
    """A rule tree that cannot be compiled; ``path`` locates the rule (``rules[1].rules[0]``)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path or 'rules'}: {message}")


@dataclass(frozen=True)
class FieldSpec:
    token: str
    kind: str  # text | number | date | boolean | choice | tags | list | segment | event
    operators: tuple[str, ...]
    choices: tuple[str, ...] = ()


def field_specs(custom_fields: list[CustomField] | None = None) -> dict[str, FieldSpec]:
    """Every field a rule can name, with its operators (what the builder UI offers)."""
    specs = {t: FieldSpec(t, "text", TEXT_OPERATORS) for t in TEXT_FIELDS}
    specs["email_domain"] = FieldSpec("email_domain", "text", TEXT_OPERATORS)
    for token, choices in CHOICE_FIELDS.items():
        specs[token] = FieldSpec(token, "choice", CHOICE_OPERATORS, tuple(choices))
    for token in DATE_FIELDS:
        specs[token] = FieldSpec(token, "date", DATE_OPERATORS)
    specs["tags"] = FieldSpec("tags", "tags", TAG_OPERATORS)
    specs["list"] = FieldSpec("list", "list", LIST_OPERATORS)
    specs["segment"] = FieldSpec("segment", "segment", SEGMENT_OPERATORS)
    specs["score"] = FieldSpec("score", "number", SCORE_OPERATORS)
    specs["score_band"] = FieldSpec("score_band", "choice", CHOICE_OPERATORS, SCORE_BANDS)
    specs["event"] = FieldSpec("event", "event", EVENT_OPERATORS, EVENT_TYPES)
    kinds = {
        CustomFieldType.TEXT: ("text", TEXT_OPERATORS),
        CustomFieldType.NUMBER: ("number", NUMBER_OPERATORS),
        CustomFieldType.DATE: ("date", DATE_OPERATORS),
        CustomFieldType.BOOLEAN: ("boolean", BOOLEAN_OPERATORS),
    }
    if custom_fields is None:
        custom_fields = list(CustomField.objects.all())
    for field in custom_fields:
        kind, operators = kinds[field.field_type]
        specs[f"custom.{field.key}"] = FieldSpec(f"custom.{field.key}", kind, operators)
    return specs
