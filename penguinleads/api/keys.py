"""API keys of a tenant: creation, revocation, and checking a presented key.

A key looks like `pl_<prefix>_<secret>`. The prefix (8 characters) is stored in clear so a
request's key is found with one indexed lookup; only a SHA-256 of the whole key is stored, so a
database leak does not leak usable keys. Keys are random enough (40 characters of base 62,
about 238 bits) that a fast hash is safe here, unlike for passwords.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from penguinleads.accounts.models import ApiKey

KEY_START = "pl_"
PREFIX_LENGTH = 8
SECRET_LENGTH = 40
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
# last_used_at is a hint for people, not an audit log: one write a minute per key is plenty and
# spares every request a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """Return the prefix of a well-formed key, or None."""
    if not key.startswith(KEY_START):
        return None
    prefix, sep, secret = key[len(KEY_START) :].partition("_")
    if len(prefix) != PREFIX_LENGTH or not sep or len(secret) != SECRET_LENGTH:
        return None
    return prefix


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def create_api_key(*, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create an API key for the current tenant schema; return the row and the key.

    The key itself is returned only here and never stored: show it once. Side effects:
    inserts an ApiKey row. Raises ValidationError for an empty or too long name."""
    name = " ".join((name or "").split())
    limit = ApiKey._meta.get_field("name").max_length
    if not name:
        raise ValidationError({"name": ["Give the key a name, e.g. the integration using it."]})
    if len(name) > limit:
        raise ValidationError({"name": [f"At most {limit} characters (got {len(name)})."]})
    prefix = _random(_PREFIX_ALPHABET, PREFIX_LENGTH)
    while ApiKey.objects.filter(prefix=prefix).exists():  # 36^8 prefixes: practically never
        prefix = _random(_PREFIX_ALPHABET, PREFIX_LENGTH)
    key = f"{KEY_START}{prefix}_{_random(_SECRET_ALPHABET, SECRET_LENGTH)}"
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=hash_key(key), created_by=created_by
    )
    return api_key, key


def revoke_api_key(*, api_key: ApiKey) -> None:
    """Revoke a key: requests with it are refused from now on (401 `api_key_revoked`).

    Side effects: sets ApiKey.revoked_at (kept if already revoked, so the first time stays)."""
    if api_key.revoked_at is not None:
        return
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    api_key.revoked_at = now


def find_api_key(key: str) -> ApiKey | None:
    """Return the ApiKey row matching `key` exactly (revoked or not), or None."""
    prefix = split_key(key)
    if prefix is None:
        return None
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_key(key)):
        return None
    return api_key


def record_api_key_use(*, api_key: ApiKey) -> None:
    """Note that `api_key` was just used.

    Side effects: updates ApiKey.last_used_at, at most once per LAST_USED_RESOLUTION."""
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > stale:
        return
    # The condition in SQL too, so concurrent requests with one key write once.
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)
    ).update(last_used_at=now)
    api_key.last_used_at = now
