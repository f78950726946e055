"""Signed inbound webhooks: the tenant's secret and the check of a request's signature.

The sender signs `"<timestamp>.<raw body>"` with HMAC-SHA256 and the tenant's secret and sends
`X-Penguin-Timestamp: <unix seconds>` and `X-Penguin-Signature: sha256=<hex>`. A timestamp more
than five minutes away from our clock is refused (a replay); a replay within those minutes is
harmless, since events are idempotent by event_id."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from django.db import transaction

from engagement.models import WebhookSecret

MAX_AGE_SECONDS = 300


class SignatureError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def webhook_secret() -> str:
    """The tenant's webhook secret, created on first use. Side effect: may insert it."""
    row = WebhookSecret.objects.order_by("pk").first()
    if row is None:
        row = WebhookSecret.objects.create(secret=_new_secret())
    return row.secret


@transaction.atomic
def rotate_webhook_secret() -> str:
    """Replace the tenant's webhook secret; the old one stops working at once. Side effect:
    replaces the WebhookSecret row."""
    WebhookSecret.objects.all().delete()
    return WebhookSecret.objects.create(secret=_new_secret()).secret


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Penguin-Signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(*, timestamp: str | None, signature: str | None, body: bytes, now=None) -> None:
    """Raise SignatureError unless the headers sign `body` with this tenant's secret and the
    timestamp is recent."""
    if not timestamp or not signature:
        raise SignatureError(
            "missing_signature",
            "Sign the request: send X-Penguin-Timestamp and X-Penguin-Signature headers.",
        )
    if not timestamp.strip().isdigit():
        raise SignatureError("invalid_timestamp",
                             "X-Penguin-Timestamp must be a Unix time in seconds.")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise SignatureError(
            "stale_timestamp",
            "The request is more than 5 minutes old (or ahead of our clock); it is refused as "
            "a possible replay.",
        )
    row = WebhookSecret.objects.order_by("pk").first()
    expected = sign(secret=row.secret, timestamp=timestamp.strip(), body=body) if row else ""
    if not row or not hmac.compare_digest(expected, signature.strip()):
        raise SignatureError("invalid_signature",
                             "The signature does not match this workspace's webhook secret.")
