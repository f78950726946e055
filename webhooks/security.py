"""Which webhook URLs we accept. Only http(s); and, unless WEBHOOKS_ALLOW_PRIVATE is on, never a
host that resolves to a private, loopback, link-local or otherwise internal address: a webhook
must not become a way to make our servers call the inside of our own network (SSRF). The check
runs when a URL is saved and again before each attempt (DNS may have changed since)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

MAX_URL_LENGTH = 2000


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def check_host(host: str, port: int | None) -> None:
    """Raise ValidationError when `host` does not resolve, or resolves to an internal address
    while private addresses are not allowed."""
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"The host {host} does not resolve.", code="unresolvable") from None
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return
    if any(_internal(info[4][0]) for info in infos):
        raise ValidationError(
            f"The host {host} points to a private or local address; webhooks only go to "
            "public addresses.", code="private_address")


def clean_url(url: str) -> str:
    """The URL stripped, or ValidationError with the message shown to the user."""
    url = (url or "").strip()
    if not url:
        raise ValidationError("Enter the URL that should receive the events.", code="required")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"At most {MAX_URL_LENGTH} characters (got {len(url)}).",
                              code="too_long")
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValidationError("Only http:// and https:// URLs can receive webhooks.",
                              code="scheme")
    try:
        URLValidator(schemes=["http", "https"])(url)
        parts = urlsplit(url)
        port = parts.port
    except (ValidationError, ValueError):
        raise ValidationError("Enter a valid URL, e.g. https://example.com/hooks.",
                              code="invalid") from None
    check_host(parts.hostname or "", port)
    return url
