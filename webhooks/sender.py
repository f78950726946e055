"""One HTTP attempt at a delivery: the signed POST and what came back. Standard library only
(urllib): no redirects are followed (a redirect could point inside our network) and no proxy
from the environment is used."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from webhooks import security
from webhooks.models import Delivery

EXCERPT_BYTES = 1000
USER_AGENT = "PenguinLeads-Webhooks/1"


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""

    @property
    def summary(self) -> str:
        return f"HTTP {self.status_code}" if self.status_code else self.error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx becomes an HTTPError: a failed attempt


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Penguin-Signature value: sha256=HMAC-SHA256(secret, "<timestamp>.<body>")."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def body_of(delivery: Delivery, schema_name: str) -> bytes:
    event = {"id": str(delivery.event_id), "kind": delivery.kind, "workspace": schema_name,
             "created_at": delivery.created_at.isoformat(), "data": delivery.payload}
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def post(*, delivery: Delivery, schema_name: str) -> Outcome:
    """POST the delivery's event to its endpoint; 2xx is success, anything else a failure."""
    endpoint = delivery.endpoint
    parts = urlsplit(endpoint.url)
    try:
        security.check_host(parts.hostname or "", parts.port)
    except ValidationError as exc:
        return Outcome(ok=False, error=exc.messages[0])
    body, timestamp = body_of(delivery, schema_name), str(int(time.time()))
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "X-Penguin-Event": delivery.kind, "X-Penguin-Delivery": str(delivery.pk),
        "X-Penguin-Timestamp": timestamp,
        "X-Penguin-Signature": sign(secret=endpoint.secret, timestamp=timestamp, body=body),
    })
    try:
        with _opener.open(request, timeout=settings.WEBHOOKS_TIMEOUT_SECONDS) as response:
            excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
            return Outcome(ok=200 <= response.status < 300, status_code=response.status,
                           excerpt=excerpt)
    except urllib.error.HTTPError as exc:
        excerpt = exc.read(EXCERPT_BYTES).decode("utf-8", "replace") if exc.fp else ""
        return Outcome(ok=False, status_code=exc.code, excerpt=excerpt,
                       error=f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(ok=False, error=f"Could not deliver: {reason}"[:500])
