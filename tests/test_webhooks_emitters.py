"""Each wired emitter records a delivery with the right payload, inside the change's
transaction; and an event of one tenant never reaches another tenant's endpoints."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from contacts import services as contacts
from contacts.models import Contact
from imports import services as imports
from segments import services as lists
from segments.dynamic import refresh
from segments.dynamic import services as segments
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory
from tests.test_webhooks_delivery import receiver  # noqa: F401  (fixture)
from webhooks import services
from webhooks.models import EVENT_KINDS, Delivery

ACME = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]}


@pytest.fixture
def hook(tenant, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    return services.create_endpoint(url="http://127.0.0.1:9/hooks", kinds=list(EVENT_KINDS))


def events() -> list[tuple[str, dict]]:
    return list(Delivery.objects.order_by("id").values_list("kind", "payload"))


def test_contact_created_updated_deleted(hook):
    ada = contacts.create_contact(data={"email": "ada@example.com", "first_name": "Ada"},
                                  tags=["vip"])
    contacts.update_contact(contact=ada, data={"company": "Analytical"})
    contacts.update_contact(contact=ada, data={"company": "Analytical"})  # no change: no event
    contacts.delete_contact(contact=Contact.objects.get(pk=ada.pk), source="api:abc")
    (created_kind, created), (updated_kind, updated), (deleted_kind, deleted) = events()
    assert (created_kind, updated_kind, deleted_kind) == (
        "contact.created", "contact.updated", "contact.deleted")
    assert created["contact"]["id"] == ada.pk
    assert (created["contact"]["email"], created["contact"]["first_name"]) == (
        "ada@example.com", "Ada")
    assert created["changes"]["tags"] == [[], ["vip"]]
    assert created["source"] == "ui"
    assert updated["changes"] == {"company": ["", "Analytical"]}
    assert updated["contact"]["company"] == "Analytical"
    assert (deleted["contact"]["id"], deleted["contact"]["email"], deleted["source"]) == (
        ada.pk, "ada@example.com", "api:abc")


def test_events_of_a_rolled_back_change_are_not_recorded(hook):
    with pytest.raises(RuntimeError), transaction.atomic():
        contacts.create_contact(data={"email": "ghost@example.com"})
        raise RuntimeError("rolled back")
    assert events() == []


def test_batch_upsert_gives_one_event_per_created_or_changed_contact(hook):
    old = ContactFactory(email="old@example.com", company="")
    same = ContactFactory(email="same@example.com", company="Same")
    results = contacts.upsert_contacts(items=[
        {"email": "new@example.com"}, {"email": "old@example.com", "company": "Acme"},
        {"email": "same@example.com", "company": "Same"}, {"email": "bad"},
    ])
    assert [r.status for r in results] == ["created", "updated", "unchanged", "error"]
    got = {(kind, p["contact"]["email"]): p for kind, p in events()}
    assert set(got) == {("contact.created", "new@example.com"),
                        ("contact.updated", "old@example.com")}
    assert got["contact.created", "new@example.com"]["contact"]["id"] == results[0].id
    assert got["contact.updated", "old@example.com"]["contact"]["id"] == old.pk
    assert got["contact.updated", "old@example.com"]["changes"] == {"company": ["", "Acme"]}
    assert got["contact.updated", "old@example.com"]["source"] == "api"
    assert same.pk not in [p["contact"]["id"] for _k, p in events()]


def test_list_membership_changed(hook):
    ids = [ContactFactory().pk for _ in range(3)]
    leads = lists.create_list(name="Leads")
    sql, params = lists.ids_of(ids)
    lists.add_contacts_to_list(static_list=leads, ids_sql=sql, params=params, source="manual")
    sql, params = lists.ids_of(ids[:1])
    lists.remove_contacts_from_list(static_list=leads, ids_sql=sql, params=params,
                                    source="manual")
    assert events() == [
        ("list.membership_changed", {"list": {"id": leads.pk, "name": "Leads"}, "added": 3,
                                     "removed": 0, "size": 3, "source": "manual"}),
        ("list.membership_changed", {"list": {"id": leads.pk, "name": "Leads"}, "added": 0,
                                     "removed": 1, "size": 2, "source": "manual"}),
    ]


def test_segment_entered_and_left(hook):
    acme = [ContactFactory(company="Acme") for _ in range(2)]
    segment = segments.create_segment(name="Acme", rules=ACME)
    refresh.refresh_segment(segment=segment)
    Contact.objects.filter(pk=acme[0].pk).update(company="Initech")
    refresh.refresh_segment(segment=segment)
    assert [(k, p) for k, p in events() if k.startswith("segment.")] == [
        ("segment.entered", {"segment": {"id": segment.pk, "name": "Acme"}, "count": 2,
                             "size": 2, "refresh": "full"}),
        ("segment.left", {"segment": {"id": segment.pk, "name": "Acme"}, "count": 1,
                          "size": 1, "refresh": "full"}),
    ]


def test_import_finished(hook, dns_server, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    text = "Email,First Name\nada@example.com,Ada\nnot-an-email,Al\n"
    job = imports.create_import(fileobj=ContentFile(text.encode(), name="f.csv"),
                                filename="people.csv", user=None)
    job = imports.analyse_import(job=job, inline=True)
    job = imports.start_import(job=job, user=None, inline=True)
    [(kind, payload)] = [(k, p) for k, p in events() if k == "import.finished"]
    body = payload["import"]
    assert (body["id"], body["file"], body["status"], body["created"], body["invalid"],
            body["total_rows"], body["list_id"]) == (job.pk, "people.csv", "finished", 1, 1, 2,
                                                     None)


def test_score_band_changed_is_a_known_kind_for_later(hook):
    assert "score.band_changed" in hook.kinds
    assert services.emit(kind="score.band_changed", payload={"band": "hot"}) == 1


def test_event_of_one_tenant_never_reaches_another_tenants_endpoint(
        tenant, other_tenant, receiver):  # noqa: F811
    with in_schema(other_tenant):
        theirs = services.create_endpoint(url=receiver.url, kinds=["contact.created"])
    mine = services.create_endpoint(url=receiver.url, kinds=["contact.created"])
    contacts.create_contact(data={"email": "ada@example.com"})
    assert services.send_due_deliveries() == 1
    with in_schema(other_tenant):
        assert services.send_due_deliveries() == 0
        assert not Delivery.objects.filter(endpoint_id=theirs.pk).exists()
    [request] = receiver.requests
    event = json.loads(request["body"])
    assert (event["workspace"], event["data"]["contact"]["email"]) == (
        tenant.schema_name, "ada@example.com")
    assert Delivery.objects.get().endpoint_id == mine.pk
