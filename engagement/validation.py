"""Checking one incoming event (a dict from the API, a webhook or a JSONL file).

Text rules: `subject` is cut to 300 and `preview` to 500 characters (the cut ends with "…"),
since they are shown, not relied on; `url` (2,000), `message_id` (300) and `event_id` (200)
are identities, so a longer one is refused instead. No field may contain NUL. `occurred_at`
must be an ISO 8601 date and time (without a zone it is taken as UTC) and not more than a day
in the future."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.emails import InvalidEmail, normalize_email
from engagement.models import BounceType, EventType

TRUNCATED = {"subject": 300, "preview": 500}
LIMITED = {"event_id": 200, "url": 2000, "message_id": 300}
TYPES = ", ".join(EventType.values)
# Enum .values builds a new list on every access: kept once, they cost nothing per event.
_TYPE_VALUES = frozenset(EventType.values)
_BOUNCE_VALUES = frozenset(BounceType.values)
MAX_FUTURE = timedelta(days=1)


@dataclass
class ItemResult:
    index: int
    event_id: str
    status: str  # accepted | duplicate | error
    id: int | None = None
    contact_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "event_id": self.event_id,
                                "status": self.status}
        if self.id is not None:
            data["id"], data["contact_id"] = self.id, self.contact_id
        if self.errors:
            data["errors"] = self.errors
        return data


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(item: dict, name: str, errors: dict, *, required: bool = False) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            errors[name] = [f"{name} is required."]
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors[name] = [f"{name} must be a string."]
        return ""
    text = str(value).strip()
    if "\x00" in text:
        errors[name] = ["Text may not contain the NUL character (\\u0000)."]
    elif name in TRUNCATED:
        return truncate(text, TRUNCATED[name])
    elif name in LIMITED and len(text) > LIMITED[name]:
        errors[name] = [f"{name} is longer than {LIMITED[name]} characters."]
    return text


def _occurred_at(value: Any, errors: dict):
    message = "Use an ISO 8601 date and time, e.g. 2026-05-01T12:00:00Z."
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        parsed = None
    if parsed is None:
        errors["occurred_at"] = [message if value not in (None, "") else "occurred_at is required."]
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > timezone.now() + MAX_FUTURE:
        errors["occurred_at"] = ["occurred_at is more than a day in the future."]
        return None
    return parsed


def _campaign(value: Any, errors: dict) -> int | str | None:
    """An id (int, or a string of digits) or a name; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors["campaign"] = ["campaign must be a campaign name or id."]
        return None
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if 0 < number < 2**63:
            return number
        errors["campaign"] = [f"No campaign with id {value}."]
        return None
    name = " ".join(value.split())
    if "\x00" in name or len(name) > 200:
        errors["campaign"] = ["A campaign name has at most 200 characters and no NUL."]
        return None
    return name


def check_event(item: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return the cleaned event (with `email_normalized`) and the errors by field."""
    if not isinstance(item, dict):
        return {}, {"non_field_errors": ["Each event must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    event = {name: _text(item, name, errors, required=name == "event_id")
             for name in ("event_id", "url", "subject", "preview", "message_id")}
    kind = item.get("type")
    if kind not in _TYPE_VALUES:
        shown = kind if isinstance(kind, str) and kind else "(missing)"
        errors["type"] = [f"Unknown event type {shown[:40]!r}; use one of {TYPES}."]
    event["type"] = kind
    event["bounce_type"] = _bounce_type(item, kind, errors)
    try:
        event["email_normalized"] = normalize_email(item.get("email")).normalized
    except InvalidEmail as exc:
        errors["email"] = [str(exc)]
    event["occurred_at"] = _occurred_at(item.get("occurred_at"), errors)
    event["campaign"] = _campaign(item.get("campaign"), errors)
    return event, errors


def _bounce_type(item: dict, kind: Any, errors: dict) -> str:
    value = item.get("bounce_type")
    if kind != EventType.BOUNCED:
        if value not in (None, ""):
            errors["bounce_type"] = ["bounce_type is only for bounced events."]
        return ""
    if value not in _BOUNCE_VALUES:
        errors["bounce_type"] = ["A bounced event needs a bounce_type: hard or soft."]
        return ""
    return value
