"""The API of one tenant never reads or writes another tenant's contacts or accepts its keys."""

from __future__ import annotations

import pytest

from contacts.models import Contact, ContactChange
from penguinleads.api.keys import create_api_key
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_api_keys import client_with_key, error_of, key_client

JSON = "application/json"


@pytest.fixture
def alpha_contact(tenant):
    return ContactFactory(email="secret@alpha.example.com", first_name="Alpha", company="A Corp")


@pytest.fixture
def beta_api(other_tenant):
    client, _api_key = key_client(other_tenant)
    return client


def alpha_unchanged(contact) -> bool:
    row = Contact.objects.get(pk=contact.pk)
    return (row.email, row.first_name, row.company) == (
        "secret@alpha.example.com",
        "Alpha",
        "A Corp",
    ) and not ContactChange.objects.exists()


def test_key_of_tenant_used_on_other_tenant_host_gets_401(tenant, other_tenant, alpha_contact):
    _row, alpha_key = create_api_key(name="alpha")

    for path in ("/api/v1/contacts", f"/api/v1/contacts/{alpha_contact.pk}"):
        response = client_with_key(other_tenant, alpha_key).get(path)
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
    assert client_with_key(tenant, alpha_key).get("/api/v1/contacts").status_code == 200


def test_other_tenant_lists_none_of_tenants_contacts(other_tenant, alpha_contact, beta_api):
    for params in ({}, {"email": "secret@alpha.example.com"}, {"search": "alpha"}):
        response = beta_api.get("/api/v1/contacts", params)
        assert response.status_code == 200
        assert response.json()["results"] == []


def test_other_tenant_cannot_fetch_update_or_delete_tenants_contact(
    other_tenant, alpha_contact, beta_api
):
    url = f"/api/v1/contacts/{alpha_contact.pk}"
    with in_schema(other_tenant):
        assert not Contact.objects.filter(pk=alpha_contact.pk).exists()

    fetched = beta_api.get(url)
    updated = beta_api.patch(url, {"first_name": "Hacked"}, content_type=JSON)
    deleted = beta_api.delete(url)

    assert [fetched.status_code, updated.status_code, deleted.status_code] == [404, 404, 404]
    assert alpha_unchanged(alpha_contact)


def test_other_tenant_batch_never_touches_tenants_contacts(other_tenant, alpha_contact, beta_api):
    items = [{"email": "secret@alpha.example.com", "first_name": "Beta's own"}]

    response = beta_api.post("/api/v1/contacts/batch", {"contacts": items}, content_type=JSON)

    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "created"
    assert alpha_unchanged(alpha_contact)
    assert Contact.objects.count() == 1
    with in_schema(other_tenant):
        beta = Contact.objects.get()
        assert (beta.email, beta.first_name) == ("secret@alpha.example.com", "Beta's own")


def test_other_tenant_create_with_tenants_email_is_no_duplicate(
    other_tenant, alpha_contact, beta_api
):
    response = beta_api.post(
        "/api/v1/contacts", {"email": "secret@alpha.example.com"}, content_type=JSON
    )

    assert response.status_code == 201
    assert alpha_unchanged(alpha_contact)
    with in_schema(other_tenant):
        assert list(Contact.objects.values_list("pk", flat=True)) == [response.json()["id"]]
