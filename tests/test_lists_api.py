"""/api/v1/lists: CRUD, members (cursor pages, batches by id or email), hostile requests and
tenant isolation."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from segments import services
from segments.models import ListMembership, StaticList
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_api_keys import error_of, key_client

JSON = "application/json"


@pytest.fixture
def api(tenant):
    client, _key = key_client(tenant)
    return client


def post(api, path: str, body) -> object:
    return api.post(path, data=json.dumps(body), content_type=JSON)


def test_create_get_patch_delete_a_list(api):
    created = post(api, "/api/v1/lists", {"name": " Leads ", "description": "From the fair"})
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("name", "description", "archived", "member_count")} == {
        "name": "Leads", "description": "From the fair", "archived": False, "member_count": 0,
    }
    assert created["Location"] == f"/api/v1/lists/{body['id']}"
    changed = api.patch(f"/api/v1/lists/{body['id']}", data=json.dumps(
        {"name": "Fair leads", "archived": True}), content_type=JSON)
    assert (changed.json()["name"], changed.json()["archived"]) == ("Fair leads", True)
    assert StaticList.objects.get().is_archived
    assert api.delete(f"/api/v1/lists/{body['id']}").status_code == 204
    assert StaticList.objects.count() == 0


def test_duplicate_name_is_a_field_error(api):
    services.create_list(name="Leads")
    response = post(api, "/api/v1/lists", {"name": "LEADS"})
    assert response.status_code == 400
    assert error_of(response)["details"] == {"name": ["A list named “LEADS” already exists."]}


def test_add_by_ids_and_emails_reports_unknown_ones(api):
    lst = services.create_list(name="Leads")
    a = ContactFactory(email="a@example.com")
    b = ContactFactory(email="b@example.com")
    response = post(api, f"/api/v1/lists/{lst.pk}/members", {
        "contact_ids": [a.pk, 999999], "emails": [" B@Example.com", "nobody@example.com"],
    })
    assert response.status_code == 200
    assert response.json() == {"added": 2, "matched": 2, "unknown_ids": [999999],
                               "unknown_emails": ["nobody@example.com"]}
    assert sorted(ListMembership.objects.values_list("contact_id", "source")) == sorted(
        [(a.pk, "api"), (b.pk, "api")]
    )
    again = post(api, f"/api/v1/lists/{lst.pk}/members", {"contact_ids": [a.pk]})
    assert again.json()["added"] == 0


def test_remove_by_delete_and_by_post(api):
    lst = services.create_list(name="Leads")
    a, b = ContactFactory.create_batch(2)
    post(api, f"/api/v1/lists/{lst.pk}/members", {"contact_ids": [a.pk, b.pk]})
    removed = api.delete(f"/api/v1/lists/{lst.pk}/members",
                         data=json.dumps({"contact_ids": [a.pk]}), content_type=JSON)
    assert removed.json()["removed"] == 1
    removed = post(api, f"/api/v1/lists/{lst.pk}/members/remove", {"emails": [b.email]})
    assert removed.json()["removed"] == 1
    assert ListMembership.objects.count() == 0


def test_members_are_paged_by_id_cursor(api):
    lst = services.create_list(name="Leads")
    contacts = ContactFactory.create_batch(5)
    post(api, f"/api/v1/lists/{lst.pk}/members", {"contact_ids": [c.pk for c in contacts]})
    first = api.get(f"/api/v1/lists/{lst.pk}/members?limit=2").json()
    assert [r["id"] for r in first["results"]] == sorted(c.pk for c in contacts)[:2]
    second = api.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == sorted(c.pk for c in contacts)[2:4]


def test_more_than_10000_items_are_refused_with_a_message(api):
    lst = services.create_list(name="Leads")
    response = post(api, f"/api/v1/lists/{lst.pk}/members",
                    {"contact_ids": list(range(1, 10_002))})
    assert response.status_code == 413
    error = error_of(response)
    assert (error["code"], error["message"]) == (
        "batch_too_large",
        "At most 10,000 contacts per request (got 10,001); send them in several requests.",
    )
    assert ListMembership.objects.count() == 0


def test_empty_body_and_bad_ids_are_refused(api):
    lst = services.create_list(name="Leads")
    response = post(api, f"/api/v1/lists/{lst.pk}/members", {})
    assert error_of(response)["details"] == {
        "non_field_errors": ["Send `contact_ids` or `emails` (or both)."]
    }
    response = post(api, f"/api/v1/lists/{lst.pk}/members", {"contact_ids": ["x"]})
    assert error_of(response)["details"] == {"contact_ids": {"0": ["A valid integer is required."]}}


def test_members_of_a_deleted_list_is_404_with_message(api):
    lst = services.create_list(name="Gone")
    contact = ContactFactory()
    services.delete_list(static_list=lst)
    response = post(api, f"/api/v1/lists/{lst.pk}/members/remove", {"contact_ids": [contact.pk]})
    assert response.status_code == 404
    assert error_of(response)["message"] == f"No list with id {lst.pk}; it may have been deleted."


def test_other_tenant_key_sees_no_lists(tenant, other_tenant):
    lst = services.create_list(name="Secret")
    contact = ContactFactory()
    services.add_contacts_to_list(static_list=lst, ids_sql="SELECT %s::bigint AS id",
                                  params=[contact.pk], source="manual")
    outsider, _key = key_client(other_tenant)
    assert outsider.get("/api/v1/lists").json()["results"] == []
    assert outsider.get(f"/api/v1/lists/{lst.pk}").status_code == 404
    assert outsider.get(f"/api/v1/lists/{lst.pk}/members").status_code == 404
    response = outsider.post(f"/api/v1/lists/{lst.pk}/members",
                             data=json.dumps({"contact_ids": [contact.pk]}), content_type=JSON)
    assert response.status_code == 404
    with in_schema(other_tenant):
        assert ListMembership.objects.count() == 0
    connection.set_tenant(tenant)
    assert ListMembership.objects.count() == 1


def test_deleting_a_list_a_segment_uses_is_a_conflict(api):
    from segments.dynamic import services as segment_services

    spring = services.create_list(name="Spring")
    segment_services.create_segment(name="In Spring", rules={"op": "and", "rules": [
        {"field": "list", "operator": "in", "value": [spring.pk]}]})
    response = api.delete(f"/api/v1/lists/{spring.pk}")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "list_in_use",
        "message": "The segment “In Spring” uses this list in its rules; change its rules first.",
    }
    assert services.count_members(spring) == 0 and StaticList.objects.filter(pk=spring.pk).exists()
