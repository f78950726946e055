"""POST /api/v1/contacts/batch: upsert up to 1,000 contacts by email, one result per item."""

from __future__ import annotations

import json

import pytest

from contacts.models import Contact, ContactChange
from tests.factories import ContactFactory, CustomFieldFactory
from tests.test_api_keys import error_of, key_client

JSON = "application/json"
URL = "/api/v1/contacts/batch"


@pytest.fixture
def api_key(tenant):
    return key_client(tenant)


@pytest.fixture
def api(api_key):
    return api_key[0]


def test_batch_creates_contacts_with_one_result_each(api_key):
    client, key = api_key
    items = [
        {"email": "a@example.com", "first_name": "Ann", "tags": ["lead"]},
        {"email": "B@Example.com", "company": "Initech"},
    ]

    response = client.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 200
    a, b = Contact.objects.order_by("email_normalized")
    assert response.json() == {
        "results": [
            {"index": 0, "email": "a@example.com", "status": "created", "id": a.pk},
            {"index": 1, "email": "B@example.com", "status": "created", "id": b.pk},
        ],
        "counts": {"created": 2, "updated": 0, "unchanged": 0, "error": 0},
    }
    assert (a.first_name, list(a.tags.values_list("name", flat=True))) == ("Ann", ["lead"])
    assert (b.company, b.source) == ("Initech", f"api:{key.prefix}")
    assert sorted(ContactChange.objects.values_list("action", "source")) == [
        ("created", f"api:{key.prefix}"),
        ("created", f"api:{key.prefix}"),
    ]


def test_batch_updates_existing_contacts_by_email(api_key):
    client, key = api_key
    same = ContactFactory(email="same@example.com", first_name="Sam", company="Old")
    changed = ContactFactory(email="changed@example.com", first_name="Cat", company="Old")
    items = [
        {"email": "same@example.com", "first_name": "Sam"},
        {"email": "changed@example.com", "company": "New"},
    ]

    response = client.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"index": 0, "email": "same@example.com", "status": "unchanged", "id": same.pk},
        {"index": 1, "email": "changed@example.com", "status": "updated", "id": changed.pk},
    ]
    changed.refresh_from_db()
    assert (changed.first_name, changed.company, changed.source) == ("Cat", "New", "test")
    change = ContactChange.objects.get()
    assert (change.contact_id, change.changes, change.source) == (
        changed.pk,
        {"company": ["Old", "New"]},
        f"api:{key.prefix}",
    )


def test_batch_reports_bad_items_and_writes_the_good_ones(api):
    CustomFieldFactory(key="seats", field_type="number")
    items = [
        {"email": "good@example.com", "custom_fields": {"seats": 3}},
        {"email": "not-an-email"},
        "just a string",
        {"email": "x@example.com", "custom_fields": {"shoe_size": 44}},
        {"email": "y@example.com", "first_name": ["Y"], "status": "gone"},
        {"email": "z@example.com", "id": 5},
        {"first_name": "No email"},
        {"email": "GOOD@example.com"},
        {"email": "w@example.com", "tags": [{"name": "vip"}]},
    ]

    response = api.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 200
    good = Contact.objects.get()
    assert (good.email, good.custom_fields) == ("good@example.com", {"seats": 3})
    assert response.json() == {
        "results": [
            {"index": 0, "email": "good@example.com", "status": "created", "id": good.pk},
            {
                "index": 1,
                "email": "not-an-email",
                "status": "error",
                "errors": {"email": ["An email address must have an @-sign."]},
            },
            {
                "index": 2,
                "email": "",
                "status": "error",
                "errors": {"item": ["Must be an object."]},
            },
            {
                "index": 3,
                "email": "x@example.com",
                "status": "error",
                "errors": {
                    "custom_fields.shoe_size": ["Unknown custom field 'shoe_size' (known: seats)."]
                },
            },
            {
                "index": 4,
                "email": "y@example.com",
                "status": "error",
                "errors": {
                    "first_name": ["Must be text."],
                    "status": ["Unknown status 'gone'; use one of: active, unsubscribed, bounced."],
                },
            },
            {
                "index": 5,
                "email": "z@example.com",
                "status": "error",
                "errors": {"item": ["Unknown field(s): id."]},
            },
            {
                "index": 6,
                "email": "",
                "status": "error",
                "errors": {"email": ["An email address is required."]},
            },
            {
                "index": 7,
                "email": "GOOD@example.com",
                "status": "error",
                "errors": {"email": ["Same email as item 0 of this batch."]},
            },
            {
                "index": 8,
                "email": "w@example.com",
                "status": "error",
                "errors": {"item": ["Each tag must be text."]},
            },
        ],
        "counts": {"created": 1, "updated": 0, "unchanged": 0, "error": 8},
    }


def test_batch_html_in_names_is_stored_as_given(api):
    script = "<script>alert(1)</script>"
    items = [{"email": "h@example.com", "first_name": script, "last_name": "</b>&amp;"}]

    response = api.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 200
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name) == (script, "</b>&amp;")
    assert api.get(f"/api/v1/contacts/{contact.pk}").json()["first_name"] == script


def test_batch_of_1000_is_accepted(api):
    items = [{"email": f"p{i}@example.com"} for i in range(1000)]

    response = api.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 200
    assert response.json()["counts"] == {"created": 1000, "updated": 0, "unchanged": 0, "error": 0}
    assert Contact.objects.count() == 1000


def test_batch_over_1000_gets_413_and_writes_nothing(api):
    items = [{"email": f"p{i}@example.com"} for i in range(1001)]

    response = api.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 413
    assert error_of(response) == {
        "code": "batch_too_large",
        "message": "At most 1000 contacts per batch (got 1001).",
        "details": {"limit": 1000, "received": 1001},
    }
    assert Contact.objects.count() == 0


def test_batch_empty_list_does_nothing(api):
    response = api.post(URL, {"contacts": []}, content_type=JSON)

    assert response.status_code == 200
    assert response.json() == {
        "results": [],
        "counts": {"created": 0, "updated": 0, "unchanged": 0, "error": 0},
    }


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            [{"email": "a@example.com"}],
            {"contacts": ['Send {"contacts": [...]}, a list of contact objects.']},
        ),
        ({"items": []}, {"contacts": ['Send {"contacts": [...]}, a list of contact objects.']}),
        (
            {"contacts": {"email": "a@example.com"}},
            {"contacts": ['Send {"contacts": [...]}, a list of contact objects.']},
        ),
        ({"contacts": [], "mode": "replace"}, {"mode": ["Unknown field."]}),
    ],
)
def test_batch_wrong_body_shape_gets_400(api, body, details):
    response = api.post(URL, json.dumps(body), content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == details
    assert Contact.objects.count() == 0


def test_batch_nul_character_anywhere_gets_400_and_writes_nothing(api):
    items = [{"email": "ok@example.com"}, {"email": "b@example.com", "tags": ["x\x00"]}]

    response = api.post(URL, {"contacts": items}, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["code"] == "unsupported_character"
    assert Contact.objects.count() == 0


def test_batch_malformed_json_gets_400(api):
    response = api.post(URL, b'{"contacts": [{"email": "a@example.com"},]}', content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"
    assert Contact.objects.count() == 0


def test_batch_needs_a_key(tenant):
    from tests.test_api_keys import client_with_key

    response = client_with_key(tenant, None).post(
        URL, {"contacts": [{"email": "a@example.com"}]}, content_type=JSON
    )

    assert response.status_code == 401
    assert Contact.objects.count() == 0
