"""Forms of the segment pages, and what the rule builder needs to know (fields, operators,
choices) embedded in the page as JSON. Forms validate (JSON shape and the rule compiler, which
only reads); the services write."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from contacts.models import ContactStatus, CustomField, Tag, ValidationStatus
from engagement.models import ScoreBand
from segments.models import Campaign
from segments.rules import field_specs
from segments.services import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH

MAX_RULES_JSON = 2_000_000  # characters; 10,000 long values fit, the request cap (10 MB) holds
EMPTY_TREE = {"op": "and", "rules": []}

FIELD_LABELS = {
    "email": "Email", "first_name": "First name", "last_name": "Last name",
    "company": "Company", "job_title": "Job title", "phone": "Phone", "website": "Website",
    "city": "City", "country": "Country", "email_domain": "Email domain", "status": "Status",
    "validation_status": "Validation status", "validation_reason": "Validation reason",
    "source": "Source", "created_at": "Created", "updated_at": "Updated", "tags": "Tags",
    "list": "Lists", "segment": "Segments", "score": "Lead score", "score_band": "Score band",
    "event": "Email activity",
}
MEMBERSHIP_TOKENS = ("tags", "list", "segment")
ENGAGEMENT_TOKENS = ("score", "score_band", "event")
EVENT_TYPE_LABELS = {
    "any": "any email event", "sent": "a send", "opened": "an open", "clicked": "a click",
    "replied": "a reply", "bounced": "a bounce", "unsubscribed": "an unsubscribe",
}

OPERATOR_LABELS = {
    "equals": "is", "not_equals": "is not", "contains": "contains",
    "not_contains": "does not contain", "starts_with": "starts with", "ends_with": "ends with",
    "is_empty": "is empty", "is_not_empty": "is not empty", "in": "is one of",
    "not_in": "is none of", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥", "between": "is between",
    "before": "is before", "after": "is after", "in_last_days": "is in the last",
    "more_than_days_ago": "is more than", "has_any": "has any of", "has_all": "has all of",
    "has_none": "has none of",
}
# Where the general label reads wrong for a kind of field.
KIND_OPERATOR_LABELS = {
    "number": {"equals": "=", "not_equals": "≠"},
    "date": {"equals": "is on"},
    "tags": {"is_empty": "has no tags", "is_not_empty": "has some tag"},
    "list": {"in": "is in any of", "not_in": "is in none of"},
    "segment": {"in": "is in any of", "not_in": "is in none of"},
    "event": {"has_any": "includes", "has_none": "does not include"},
}


def operator_label(kind: str, operator: str) -> str:
    return KIND_OPERATOR_LABELS.get(kind, {}).get(operator) or OPERATOR_LABELS.get(
        operator, operator)


def builder_config(*, segment_id: int | None = None) -> dict[str, Any]:
    """The rule builder's data (rendered with json_script): every field with its kind,
    operators and choices, and the tags, lists and segments a condition can pick. Reads only.
    `segment_id` (the segment being edited) is left out of the segment picker."""
    from segments.selectors import active_lists

    custom_fields = list(CustomField.objects.all())
    labels = {f"custom.{f.key}": f.label for f in custom_fields}
    choice_labels = (dict(ContactStatus.choices) | dict(ValidationStatus.choices)
                     | dict(ScoreBand.choices) | EVENT_TYPE_LABELS)
    fields = []
    for token, spec in field_specs(custom_fields).items():
        kind = spec.kind
        group = ("Custom fields" if token.startswith("custom.")
                 else "Tags and membership" if token in MEMBERSHIP_TOKENS
                 else "Engagement" if token in ENGAGEMENT_TOKENS else "Contact")
        fields.append({
            "token": token, "label": labels.get(token) or FIELD_LABELS.get(token, token),
            "kind": kind, "group": group,
            "operators": [[op, operator_label(kind, op)] for op in spec.operators],
            "choices": [[c, str(choice_labels.get(c, c))] for c in spec.choices],
        })
    return {
        "fields": fields,
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:2000]),
        "lists": [[pk, name] for pk, name in active_lists().order_by("name")
                  .values_list("pk", "name")[:2000]],
        "segments": _segment_choices(segment_id),
        "campaigns": [[pk, name] for pk, name in Campaign.objects.order_by("name", "pk")
                      .values_list("pk", "name")[:2000]],
    }


def _segment_choices(segment_id: int | None) -> list[list]:
    from segments.models import Segment

    segments = Segment.objects.order_by("name")
    if segment_id is not None:
        segments = segments.exclude(pk=segment_id)
    return [[pk, name] for pk, name in segments.values_list("pk", "name")[:2000]]


# --- forms -------------------------------------------------------------------------------------


def parse_tree(text: str | None, what: str) -> dict:
    """The JSON of a rule tree typed or sent by the builder; an empty text is the empty tree.
    Raises ValidationError with the message the user sees."""
    text = (text or "").strip()
    if not text:
        return dict(EMPTY_TREE)
    if len(text) > MAX_RULES_JSON:
        raise ValidationError(f"The {what} are too long (at most {MAX_RULES_JSON:,} characters).")
    try:
        tree = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise ValidationError(
            f"The {what} are not valid JSON (line {line}, column {column}: "
            f"{getattr(exc, 'msg', exc)})."
        ) from None
    except RecursionError:
        raise ValidationError(f"The {what} are nested too deeply.") from None
    if not isinstance(tree, dict) or not isinstance(tree.get("rules"), list):
        raise ValidationError(
            f'The {what} must be a group: {{"op": "and"|"or", "rules": [...]}}.')
    return tree


class RulesForm(forms.Form):
    """Include and exclusion rule trees as JSON text (what the builder keeps up to date)."""

    rules = forms.CharField(
        label="Include contacts matching", required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "rules-json"}),
    )
    exclude = forms.CharField(
        label="Except contacts matching", required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "rules-json"}),
    )

    def clean_rules(self) -> dict:
        return parse_tree(self.cleaned_data.get("rules"), "include rules")

    def clean_exclude(self) -> dict:
        return parse_tree(self.cleaned_data.get("exclude"), "exclusion rules")

    def add_rule_error(self, message: str) -> None:
        """Attach a refused rule's message (it starts with the rule's path) to its tree."""
        self.add_error("exclude" if message.startswith("exclude") else "rules", message)


class SegmentForm(RulesForm):
    name = forms.CharField(label="Name", max_length=MAX_NAME_LENGTH,
                           error_messages={"required": "A segment needs a name."})
    description = forms.CharField(
        label="Description", required=False, max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    field_order = ["name", "description", "rules", "exclude"]

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError("A segment needs a name.")
        return name


def tree_json(tree: Any) -> str:
    """A tree as the textarea shows it (indented, stable)."""
    return json.dumps(tree if tree else EMPTY_TREE, indent=2, ensure_ascii=False)


# --- rules in words ----------------------------------------------------------------------------


def describe_tree(tree: Any, config: dict[str, Any]) -> str:
    """A rule tree in words ("Email contains acme AND (Tags has any of vip OR …)") for the
    segment's page; `config` is builder_config(). An empty tree reads "All contacts"."""
    if not isinstance(tree, dict) or not tree.get("rules"):
        return "All contacts"
    fields = {f["token"]: f for f in config["fields"]}
    names = {"list": dict(config["lists"]), "segment": dict(config["segments"]),
             "campaign": dict(config.get("campaigns") or [])}
    return _describe_group(tree, fields, names, top=True)


def _describe_group(node: dict, fields: dict, names: dict, *, top: bool = False) -> str:
    joiner = " OR " if node.get("op") == "or" else " AND "
    parts = []
    for child in node.get("rules") or []:
        if isinstance(child, dict) and "rules" in child:
            parts.append(_describe_group(child, fields, names))
        else:
            parts.append(_describe_condition(child, fields, names))
    text = joiner.join(parts)
    return text if top or len(parts) < 2 else f"({text})"


def _describe_condition(node: Any, fields: dict, names: dict) -> str:
    if not isinstance(node, dict):
        return "?"
    token, operator, value = node.get("field"), node.get("operator"), node.get("value")
    field = fields.get(token) or {"label": str(token), "kind": "text"}
    kind = field["kind"]
    words = f"{field['label']} {operator_label(kind, str(operator))}"
    if operator in ("is_empty", "is_not_empty"):
        return words
    if kind == "event" and isinstance(value, dict):
        return f"{words} {describe_event(value, names['campaign'])}"
    if operator in ("in_last_days", "more_than_days_ago"):
        return f"{words} {value} days" + (" ago" if operator == "more_than_days_ago" else "")
    if operator == "between" and isinstance(value, list) and len(value) == 2:
        return f"{words} {value[0]} and {value[1]}"
    if isinstance(value, bool):
        return f"{words} {'yes' if value else 'no'}"
    values = value if isinstance(value, list) else [value]
    if kind in names:
        values = [f"“{names[kind].get(v, f'#{v}')}”" for v in values]
    elif kind == "choice":
        labels = dict(field.get("choices") or [])
        values = [labels.get(v, v) for v in values]
    return f"{words} {', '.join(str(v) for v in values)}"


def describe_event(value: dict, campaigns: dict) -> str:
    """An event condition's value in words: "a click of “Spring” in the last 14 days"."""
    words = [EVENT_TYPE_LABELS.get(value.get("type"), str(value.get("type")))]
    campaign = value.get("campaign")
    if campaign is not None:
        name = campaigns.get(campaign, f"#{campaign}") if isinstance(campaign, int) else campaign
        words.append(f"of “{name}”")
    if value.get("in_last_days") is not None:
        words.append(f"in the last {value['in_last_days']} days")
    if value.get("after"):
        words.append(f"after {value['after']}")
    if value.get("before"):
        words.append(f"before {value['before']}")
    return " ".join(words)
