"""POST /api/v1/events/batch (API key) and POST /webhooks/events (HMAC-signed)."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.test import Client
from django.utils import timezone

from contacts.models import Contact
from engagement.models import ContactScore, EmailEvent
from engagement.signing import rotate_webhook_secret, sign, webhook_secret
from tests.conftest import host_of, in_schema
from tests.factories import ContactFactory
from tests.test_api_keys import error_of, key_client

JSON = "application/json"
URL = "/api/v1/events/batch"
HOOK = "/webhooks/events"
WHEN = (timezone.now() - dt.timedelta(hours=1)).isoformat()


def event(n, kind="clicked", email="ada@example.com", **extra):
    return {"event_id": f"ev-{n}", "type": kind, "email": email, "occurred_at": WHEN,
            "campaign": "Spring", **extra}


@pytest.fixture
def ada(tenant):
    return ContactFactory(email="ada@example.com")


def test_batch_stores_events_and_answers_per_item_in_order(tenant, ada):
    client, key = key_client(tenant)

    response = client.post(URL, {"events": [event(1), event(2, email="no@example.com"),
                                            event(1)]}, content_type=JSON)

    assert response.status_code == 200
    stored = EmailEvent.objects.get()
    assert response.json() == {
        "results": [
            {"index": 0, "event_id": "ev-1", "status": "accepted", "id": stored.pk,
             "contact_id": ada.pk},
            {"index": 1, "event_id": "ev-2", "status": "error",
             "errors": {"email": ["No contact with this email in this workspace."]}},
            {"index": 2, "event_id": "ev-1", "status": "duplicate"},
        ],
        "counts": {"accepted": 1, "duplicate": 1, "error": 1},
    }
    assert ContactScore.objects.get(contact=ada).score == 6

    again = client.post(URL, {"events": [event(1)]}, content_type=JSON)
    assert again.json()["counts"] == {"accepted": 0, "duplicate": 1, "error": 0}
    assert EmailEvent.objects.count() == 1


def test_batch_of_5001_events_is_refused_whole(tenant, ada):
    client, _ = key_client(tenant)

    response = client.post(URL, {"events": [event(i) for i in range(5001)]}, content_type=JSON)

    assert response.status_code == 413
    assert error_of(response) == {"code": "batch_too_large",
                                  "message": "At most 5,000 events per request."}
    assert not EmailEvent.objects.exists()


def test_batch_refuses_nul_bytes_and_needs_a_key(tenant, ada):
    client, _ = key_client(tenant)

    response = client.post(URL, {"events": [event(1, subject="a\u0000b")]}, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["code"] == "unsupported_character"
    anonymous = Client(HTTP_HOST=host_of(tenant)).post(URL, {"events": [event(1)]},
                                                        content_type=JSON)
    assert anonymous.status_code == 401
    assert not EmailEvent.objects.exists()


def test_a_key_of_one_tenant_is_refused_on_another(tenant, other_tenant, ada):
    client, _ = key_client(tenant)
    client.defaults["HTTP_HOST"] = host_of(other_tenant)

    response = client.post(URL, {"events": [event(1)]}, content_type=JSON)

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert not EmailEvent.objects.exists()
    with in_schema(other_tenant):
        assert not EmailEvent.objects.exists()


def signed_post(tenant, body: bytes, *, secret: str, timestamp: int | None = None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return Client(HTTP_HOST=host_of(tenant)).post(
        HOOK, body, content_type=JSON,
        HTTP_X_PENGUIN_TIMESTAMP=str(timestamp),
        HTTP_X_PENGUIN_SIGNATURE=sign(secret=secret, timestamp=timestamp, body=body),
    )


def test_signed_webhook_ingests_events(tenant, ada):
    body = json.dumps({"events": [event(1, "bounced", bounce_type="hard")]}).encode()

    response = signed_post(tenant, body, secret=webhook_secret())

    assert response.status_code == 200, response.content
    assert response.json()["counts"] == {"accepted": 1, "duplicate": 0, "error": 0}
    assert Contact.objects.get(pk=ada.pk).status == "bounced"


def test_replayed_and_forged_webhooks_are_refused(tenant, ada):
    secret = webhook_secret()
    body = json.dumps({"events": [event(1)]}).encode()

    old = signed_post(tenant, body, secret=secret, timestamp=int(time.time()) - 301)
    forged = signed_post(tenant, body, secret="whsec_guess")
    unsigned = Client(HTTP_HOST=host_of(tenant)).post(HOOK, body, content_type=JSON)
    rotated_away = rotate_webhook_secret()
    with_old_secret = signed_post(tenant, body, secret=secret)

    assert [r.status_code for r in (old, forged, unsigned, with_old_secret)] == [401] * 4
    assert error_of(old) == {
        "code": "stale_timestamp",
        "message": "The request is more than 5 minutes old (or ahead of our clock); it is "
        "refused as a possible replay."}
    assert error_of(forged) == {
        "code": "invalid_signature",
        "message": "The signature does not match this workspace's webhook secret."}
    assert error_of(unsigned)["code"] == "missing_signature"
    assert error_of(with_old_secret)["code"] == "invalid_signature"
    assert rotated_away != secret
    assert not EmailEvent.objects.exists()


def test_a_body_changed_after_signing_is_refused(tenant, ada):
    secret = webhook_secret()
    timestamp = int(time.time())
    signature = sign(secret=secret, timestamp=timestamp, body=b'{"events": []}')

    response = Client(HTTP_HOST=host_of(tenant)).post(
        HOOK, json.dumps({"events": [event(1)]}), content_type=JSON,
        HTTP_X_PENGUIN_TIMESTAMP=str(timestamp), HTTP_X_PENGUIN_SIGNATURE=signature)

    assert response.status_code == 401
    assert not EmailEvent.objects.exists()


def test_a_signature_of_one_tenant_is_refused_on_another(tenant, other_tenant, ada):
    secret = webhook_secret()
    with in_schema(other_tenant):
        webhook_secret()  # B has its own secret
        ContactFactory(email="ada@example.com")
    body = json.dumps({"events": [event(1)]}).encode()

    response = signed_post(other_tenant, body, secret=secret)

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_signature"
    with in_schema(other_tenant):
        assert not EmailEvent.objects.exists()


def test_webhook_hostile_bodies(tenant, ada):
    secret = webhook_secret()

    bad_json = signed_post(tenant, b"{nope", secret=secret)
    empty = signed_post(tenant, b'{"events": []}', secret=secret)
    too_many = signed_post(tenant, json.dumps({"events": [event(i) for i in range(5001)]})
                           .encode(), secret=secret)
    nul = signed_post(tenant, json.dumps({"events": [event(1, preview="\u0000")]}).encode(),
                      secret=secret)

    assert (bad_json.status_code, error_of(bad_json)["code"]) == (400, "malformed_json")
    assert error_of(empty) == {"code": "validation_error",
                               "message": "The request has invalid data; see details.",
                               "details": {"events": ["Send a non-empty list of events."]}}
    assert (too_many.status_code, error_of(too_many)["message"]) == (
        413, "At most 5,000 events per request.")
    assert (nul.status_code, error_of(nul)["code"]) == (400, "unsupported_character")
    assert not EmailEvent.objects.exists()
