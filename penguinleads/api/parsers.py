"""A JSON parser with a size limit.

DRF's parser reads the request stream directly, which bypasses Django's
DATA_UPLOAD_MAX_MEMORY_SIZE check; without a limit of our own a client could make us hold any
amount of JSON in memory."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from penguinleads.api.errors import RequestTooLarge, UnsupportedCharacter

# A batch of 1,000 contacts with generous custom fields is about 2 MB.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = max_body_bytes()
        too_large = RequestTooLarge(f"The request body is larger than {limit} bytes.")
        # Refuse on the declared length before reading anything; still read at most limit + 1
        # bytes, since the header may lie.
        if _declared_length(parser_context) > limit:
            raise too_large
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise too_large
        constant = json.strict_constant if self.strict else None
        try:
            text = raw.decode(get_encoding(parser_context))
            data = json.loads(text, parse_constant=constant)
        except (ValueError, RecursionError) as exc:
            # RecursionError: absurdly deep nesting ([[[[…]]]]) is malformed input, not a bug.
            raise ParseError(f"The body is not valid JSON: {_short(exc)}") from None
        if "\\u0000" in text and _has_nul(data):
            raise UnsupportedCharacter()
        return data


def _has_nul(value) -> bool:
    """PostgreSQL cannot store NUL in text or jsonb; refused here, a 400 rather than a 500."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _declared_length(parser_context: dict) -> int:
    request = parser_context.get("request")
    value = request.META.get("CONTENT_LENGTH", "") if request is not None else ""
    return int(value) if value.isdigit() else 0


def _short(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply."
    return f"{exc}."
