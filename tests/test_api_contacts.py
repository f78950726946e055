"""/api/v1/contacts: list, get, create, update, delete, and the hostile requests around them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact, ContactChange, ContactTag
from tests.factories import ContactFactory, CustomFieldFactory, TagFactory
from tests.test_api_keys import error_of, key_client

JSON = "application/json"


@pytest.fixture
def api(tenant):
    client, _api_key = key_client(tenant)
    return client


@pytest.fixture
def api_key(tenant):
    return key_client(tenant)


def iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def tag(contact, *names):
    for name in names:
        ContactTag.objects.create(contact=contact, tag=TagFactory(name=name))


# --- get ----------------------------------------------------------------------------------


def test_contact_get_returns_its_representation(api):
    CustomFieldFactory(key="plan", field_type="text")
    contact = ContactFactory(
        email="Jane@Example.com",
        email_normalized="jane@example.com",
        first_name="Jane",
        last_name="Doe",
        company="Acme",
        job_title="CTO",
        phone="+44 20 1234",
        website="acme.io",
        city="London",
        country="UK",
        custom_fields={"plan": "pro"},
        status="unsubscribed",
        validation_status="valid",
        validation_reason="",
        source="import:7",
    )
    tag(contact, "vip", "Beta")

    response = api.get(f"/api/v1/contacts/{contact.pk}")

    assert response.status_code == 200
    contact.refresh_from_db()
    assert response.json() == {
        "id": contact.pk,
        "email": "Jane@Example.com",
        "first_name": "Jane",
        "last_name": "Doe",
        "company": "Acme",
        "job_title": "CTO",
        "phone": "+44 20 1234",
        "website": "acme.io",
        "city": "London",
        "country": "UK",
        "custom_fields": {"plan": "pro"},
        "tags": ["Beta", "vip"],
        "status": "unsubscribed",
        "validation_status": "valid",
        "validation_reason": "",
        "source": "import:7",
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
        "score": 0,
        "score_band": "cold",
    }


@pytest.mark.parametrize("pk", ["999999", str(2**63), "99999999999999999999999"])
def test_contact_get_missing_gets_404(api, pk):
    response = api.get(f"/api/v1/contacts/{pk}")

    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": f"No contact with id {pk}."}


# --- create -------------------------------------------------------------------------------


def test_contact_create_returns_201_and_records_the_key(tenant, api_key):
    client, key = api_key
    CustomFieldFactory(key="seats", field_type="number")
    body = {
        "email": " Ann@Example.COM ",
        "first_name": "Ann",
        "company": "Initech",
        "custom_fields": {"seats": "12"},
        "tags": ["lead", "LEAD", "2024"],
        "status": "active",
    }

    response = client.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 201
    contact = Contact.objects.get()
    data = response.json()
    assert response["Location"] == f"/api/v1/contacts/{contact.pk}"
    assert (data["id"], data["email"], data["tags"], data["custom_fields"]) == (
        contact.pk,
        "Ann@example.com",
        ["2024", "lead"],
        {"seats": 12},
    )
    assert (data["source"], contact.source) == (f"api:{key.prefix}", f"api:{key.prefix}")
    change = ContactChange.objects.get()
    assert (change.action, change.actor, change.source) == ("created", None, f"api:{key.prefix}")


def test_contact_create_duplicate_email_gets_409_with_existing_id(api):
    existing = ContactFactory(email="dup@example.com")

    response = api.post("/api/v1/contacts", {"email": "DUP@example.com"}, content_type=JSON)

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "duplicate_email",
        "message": "A contact with the email DUP@example.com already exists.",
        "details": {"existing_id": existing.pk},
    }
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, {"email": ["An email address is required."]}),
        ({"email": "not-an-email"}, {"email": ["An email address must have an @-sign."]}),
        (
            {"email": "a@b"},
            {"email": ["The part after the @-sign is not valid. It should have a period."]},
        ),
        (
            {"email": "jane@example.com<script>"},
            {"email": ["The part after the @-sign contains invalid characters: '<', '>'."]},
        ),
        ({"email": ["a@example.com"]}, {"email": ["Must be text."]}),
        ({"email": 42}, {"email": ["Must be text."]}),
    ],
)
def test_contact_create_invalid_email_gets_400(api, body, details):
    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "validation_error",
        "message": "The request has invalid data; see details.",
        "details": details,
    }
    assert Contact.objects.count() == 0


def test_contact_create_unknown_custom_field_gets_400(api):
    CustomFieldFactory(key="plan")
    body = {"email": "a@example.com", "custom_fields": {"plan": "pro", "shoe_size": 44}}

    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == {
        "custom_fields.shoe_size": ["Unknown custom field 'shoe_size' (known: plan)."]
    }
    assert Contact.objects.count() == 0


def test_contact_create_wrong_types_get_400_by_field(api):
    CustomFieldFactory(key="seats", field_type="number")
    body = {
        "email": "a@example.com",
        "first_name": ["Ann"],
        "last_name": {"x": 1},
        "company": True,
        "status": 5,
        "custom_fields": {"seats": "many"},
    }

    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == {
        "first_name": ["Must be text."],
        "last_name": ["Must be text."],
        "company": ["Must be text."],
        "status": ["Unknown status 5; use one of: active, unsubscribed, bounced."],
        "custom_fields.seats": ["'many' is not a number."],
    }
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"email": "a@example.com", "custom_fields": "plan=pro"},
            {"custom_fields": ["Must be an object of {field key: value}."]},
        ),
        ({"email": "a@example.com", "tags": "vip"}, {"tags": ["Must be a list of tag names."]}),
        ({"email": "a@example.com", "tags": None}, {"tags": ["Must be a list of tag names."]}),
        ({"email": "a@example.com", "tags": [1]}, {"tags": ["Each tag must be text."]}),
        (
            {"email": "a@example.com", "tags": ["x" * 65]},
            {"tags": ["Tag 'xxxxxxxxxxxxxxxxxxxx'… is longer than 64 characters."]},
        ),
        (
            {"email": "a@example.com", "first_name": "a" * 151},
            {"first_name": ["At most 150 characters (got 151)."]},
        ),
    ],
)
def test_contact_create_bad_values_get_400(api, body, details):
    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == details
    assert Contact.objects.count() == 0


def test_contact_create_unknown_and_read_only_fields_are_refused(api):
    body = {"email": "a@example.com", "id": 5, "source": "me", "firstname": "Ann", "score": 9}

    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == {
        "id": ["Read-only field."],
        "source": ["Read-only field."],
        "firstname": ["Unknown field."],
        "score": ["Read-only field."],
    }
    assert Contact.objects.count() == 0


def test_contact_create_html_in_names_is_stored_as_given_and_returned_as_json(api):
    script = "<script>alert('x')</script>"
    body = {"email": "a@example.com", "first_name": script, "company": '"><img src=x onerror=1>'}

    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert response.json()["first_name"] == script
    assert Contact.objects.get().company == '"><img src=x onerror=1>'
    fetched = api.get(f"/api/v1/contacts/{response.json()['id']}")
    assert fetched.json()["first_name"] == script
    assert fetched["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"email": "a@example.com",',
            "The body is not valid JSON: Expecting property name "
            "enclosed in double quotes: line 1 column 27 (char 26).",
        ),
        (
            b"\xff\xfe{}",
            "The body is not valid JSON: 'utf-8' codec can't decode byte 0xff in "
            "position 0: invalid start byte.",
        ),
        (
            b'{"email": NaN}',
            "The body is not valid JSON: Out of range float values are not JSON compliant: 'NaN'.",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "The body is not valid JSON: nested too deeply."),
    ],
)
def test_contact_create_malformed_json_gets_400(api, raw, message):
    response = api.post("/api/v1/contacts", raw, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response) == {"code": "malformed_json", "message": message}
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "first_name": "nul\x00byte"},
        {"email": "a@example.com", "tags": ["v\x00ip"]},
        {"email": "a@example.com", "custom_fields": {"plan": "pro\x00"}},
        {"email": "a@example.com", "custom_fields": {"pl\x00an": "pro"}},
    ],
)
def test_contact_create_nul_character_gets_400(api, body):
    # PostgreSQL cannot store NUL in text or jsonb: without this check it is a 500.
    CustomFieldFactory(key="plan")

    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "unsupported_character",
        "message": "Text may not contain the NUL character (\\u0000).",
    }
    assert Contact.objects.count() == 0


@pytest.mark.parametrize("body", [[], ["a@example.com"], "a@example.com", 42])
def test_contact_create_body_not_an_object_gets_400(api, body):
    response = api.post("/api/v1/contacts", json.dumps(body), content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == {
        "non_field_errors": ["Send a JSON object of contact fields."]
    }


def test_contact_create_form_body_gets_415(api):
    response = api.post("/api/v1/contacts", {"email": "a@example.com"})

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert Contact.objects.count() == 0


def test_contact_create_oversized_body_gets_413(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = {"email": "a@example.com", "first_name": "x" * 1000}

    response = api.post("/api/v1/contacts", body, content_type=JSON)

    assert response.status_code == 413
    assert error_of(response) == {
        "code": "request_too_large",
        "message": "The request body is larger than 1000 bytes.",
    }
    assert Contact.objects.count() == 0


# --- update -------------------------------------------------------------------------------


def test_contact_update_sets_given_fields_and_replaces_tags(api_key):
    client, key = api_key
    contact = ContactFactory(email="a@example.com", first_name="Ann", company="Old Co")
    tag(contact, "old", "keep")

    response = client.patch(
        f"/api/v1/contacts/{contact.pk}",
        {"company": "New Co", "tags": ["keep", "new"]},
        content_type=JSON,
    )

    assert response.status_code == 200
    data = response.json()
    assert (data["first_name"], data["company"], data["tags"]) == ("Ann", "New Co", ["keep", "new"])
    contact.refresh_from_db()
    assert contact.company == "New Co"
    change = ContactChange.objects.get(action="updated")
    assert change.changes == {
        "company": ["Old Co", "New Co"],
        "tags": [["keep", "old"], ["keep", "new"]],
    }
    assert (change.actor, change.source) == (None, f"api:{key.prefix}")


def test_contact_update_to_an_email_in_use_gets_409(api):
    taken = ContactFactory(email="taken@example.com")
    contact = ContactFactory(email="mine@example.com")

    response = api.patch(
        f"/api/v1/contacts/{contact.pk}", {"email": "Taken@example.com"}, content_type=JSON
    )

    assert response.status_code == 409
    assert error_of(response)["details"] == {"existing_id": taken.pk}
    contact.refresh_from_db()
    assert contact.email == "mine@example.com"


def test_contact_update_bad_values_change_nothing(api):
    contact = ContactFactory(email="a@example.com", first_name="Ann")

    response = api.patch(
        f"/api/v1/contacts/{contact.pk}",
        {"first_name": "Anna", "email": "broken", "created_at": "2020-01-01"},
        content_type=JSON,
    )

    assert response.status_code == 400
    assert error_of(response)["details"] == {"created_at": ["Read-only field."]}
    contact.refresh_from_db()
    assert (contact.first_name, contact.email) == ("Ann", "a@example.com")
    assert ContactChange.objects.count() == 0


def test_contact_update_missing_gets_404(api):
    response = api.patch("/api/v1/contacts/424242", {"first_name": "X"}, content_type=JSON)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# --- delete -------------------------------------------------------------------------------


def test_contact_delete_removes_it_and_keeps_history(api_key):
    client, key = api_key
    contact = ContactFactory(email="gone@example.com")
    other = ContactFactory(email="stays@example.com")

    response = client.delete(f"/api/v1/contacts/{contact.pk}")

    assert response.status_code == 204
    assert response.content == b""
    assert list(Contact.objects.values_list("pk", flat=True)) == [other.pk]
    change = ContactChange.objects.get()
    assert (change.action, change.contact_email, change.source) == (
        "deleted",
        "gone@example.com",
        f"api:{key.prefix}",
    )
    assert client.delete(f"/api/v1/contacts/{contact.pk}").status_code == 404


# --- list ---------------------------------------------------------------------------------


def make_contacts(count: int, **fields) -> list[Contact]:
    """`count` contacts with distinct, increasing created_at (newest last)."""
    base = timezone.now() - dt.timedelta(days=30)
    contacts = []
    for i in range(count):
        contact = ContactFactory(**fields)
        Contact.objects.filter(pk=contact.pk).update(created_at=base + dt.timedelta(hours=i))
        contacts.append(contact)
    return contacts


def ids_of(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def test_contact_list_is_newest_first_with_tags(api):
    first, second = make_contacts(2)
    tag(first, "b", "a")

    response = api.get("/api/v1/contacts")

    assert response.status_code == 200
    data = response.json()
    assert [(row["id"], row["tags"]) for row in data["results"]] == [
        (second.pk, []),
        (first.pk, ["a", "b"]),
    ]
    assert (data["next"], data["previous"]) == (None, None)


def test_contact_list_filters(api):
    old, jane, acme, bounced = make_contacts(4)
    Contact.objects.filter(pk=jane.pk).update(
        email="Jane@Example.com", email_normalized="jane@example.com"
    )
    Contact.objects.filter(pk=acme.pk).update(company="Acme Rockets")
    Contact.objects.filter(pk=bounced.pk).update(status="bounced")
    tag(acme, "VIP")
    tag(old, "other")
    cutoff = Contact.objects.get(pk=jane.pk).created_at

    assert ids_of(api.get("/api/v1/contacts", {"email": "JANE@example.com"})) == [jane.pk]
    assert ids_of(api.get("/api/v1/contacts", {"search": "acme rock"})) == [acme.pk]
    assert ids_of(api.get("/api/v1/contacts", {"tag": "vip"})) == [acme.pk]
    assert ids_of(api.get("/api/v1/contacts", {"status": "bounced"})) == [bounced.pk]
    assert ids_of(api.get("/api/v1/contacts", {"created_after": iso(cutoff)})) == [
        bounced.pk,
        acme.pk,
        jane.pk,
    ]
    assert ids_of(api.get("/api/v1/contacts", {"status": "active", "tag": "other"})) == [old.pk]
    assert ids_of(api.get("/api/v1/contacts", {"tag": "nope"})) == []


def test_contact_list_created_after_takes_a_date(api):
    old, new = make_contacts(2)
    Contact.objects.filter(pk=old.pk).update(
        created_at=dt.datetime(2020, 5, 1, 23, 59, tzinfo=dt.UTC)
    )
    Contact.objects.filter(pk=new.pk).update(
        created_at=dt.datetime(2020, 5, 2, 0, 0, tzinfo=dt.UTC)
    )

    assert ids_of(api.get("/api/v1/contacts", {"created_after": "2020-05-02"})) == [new.pk]


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"status": "gone"}, {"status": ['"gone" is not a valid choice.']}),
        (
            {"created_after": "last week"},
            {
                "created_after": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
        ({"tag": "x" * 65}, {"tag": ["Ensure this field has no more than 64 characters."]}),
    ],
)
def test_contact_list_bad_filters_get_400(api, params, details):
    response = api.get("/api/v1/contacts", params)

    assert response.status_code == 400
    assert error_of(response)["details"] == details


def test_contact_list_cursor_pages_through_everything_once(api):
    contacts = make_contacts(5)
    expected = [c.pk for c in reversed(contacts)]

    seen, url, pages = [], "/api/v1/contacts?limit=2", 0
    while url:
        data = api.get(url).json()
        seen += [row["id"] for row in data["results"]]
        url, pages = data["next"], pages + 1

    assert seen == expected
    assert pages == 3


def test_contact_list_cursor_handles_equal_created_at(api):
    # A batch can write many contacts with one timestamp; ties are ordered by id, newest first.
    contacts = make_contacts(7)
    Contact.objects.update(created_at=timezone.now())
    expected = sorted((c.pk for c in contacts), reverse=True)

    seen, url = [], "/api/v1/contacts?limit=2"
    while url:
        data = api.get(url).json()
        seen += [row["id"] for row in data["results"]]
        url = data["next"]

    assert seen == expected


def test_contact_list_limit_is_capped_at_500(api):
    Contact.objects.bulk_create(
        Contact(email=f"c{i}@example.com", email_normalized=f"c{i}@example.com") for i in range(501)
    )

    data = api.get("/api/v1/contacts", {"limit": "10000"}).json()

    assert len(data["results"]) == 500
    assert data["next"] is not None


def test_contact_list_bad_cursor_gets_400(api):
    response = api.get("/api/v1/contacts", {"cursor": "garbage"})

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid_cursor",
        "message": "The cursor is not valid; use a `next` or `previous` link as given.",
    }


@pytest.mark.parametrize("count", [1, 3])
def test_contact_list_query_count_does_not_grow_with_rows(api, count):
    for contact in make_contacts(count):
        tag(contact, f"a{contact.pk}", f"b{contact.pk}")
    api.get("/api/v1/contacts")  # the key's last_used_at is written on first use only

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/contacts")

    assert len(response.json()["results"]) == count
    # django-tenants may issue `SET search_path` before each query (TENANT_LIMIT_SET_CALLS)
    sql = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
    tables = [s.split(" FROM ")[1].split()[0] for s in sql]
    assert tables == [
        '"tenants_domain"',  # the tenant middleware
        '"accounts_apikey"',  # the key
        '"contacts_contact"',  # the page
        '"contacts_tag"',  # all tags of the page, at once
    ]
