"""contact.deleted webhooks from set-based deletes (contacts.services.purge_contacts: bulk
delete and import rollback): one delivery per deleted contact and listening endpoint, the same
payload as a single delete, delivered to a real HTTP server; no work when nobody listens; never
to another tenant's endpoints."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts import services as contacts
from contacts.bulk.selection import Selection
from contacts.bulk.services import start_bulk_operation
from contacts.models import Contact
from engagement.models import ContactScore, EmailEvent
from imports import services as imports
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.test_webhooks_delivery import receiver  # noqa: F401  (fixture)
from webhooks import services
from webhooks.models import Delivery


def deleted_events() -> dict[str, dict]:
    """contact.deleted payloads by the deleted contact's email."""
    return {p["contact"]["email"]: p for p in Delivery.objects.filter(kind="contact.deleted")
            .order_by("id").values_list("payload", flat=True)}


def bulk_delete(ids, user):
    return start_bulk_operation(kind="delete", selection=Selection(ids=list(ids)), options={},
                                user=user)


def test_bulk_delete_sends_one_contact_deleted_per_contact(
        tenant, marketer, receiver):  # noqa: F811
    hook = services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
    ada = contacts.create_contact(data={"email": "Ada@Example.com", "first_name": "Ada",
                                        "city": "London"})
    bob = contacts.create_contact(data={"email": "bob@example.com", "company": "Initech"})
    keep = contacts.create_contact(data={"email": "keep@example.com"})
    op = bulk_delete([ada.pk, bob.pk], marketer)

    events = deleted_events()
    assert sorted(events) == ["Ada@example.com", "bob@example.com"]
    assert events["Ada@example.com"] == {
        "contact": {"id": ada.pk, "email": "Ada@example.com", "first_name": "Ada",
                    "last_name": "", "company": "", "job_title": "", "phone": "",
                    "website": "", "city": "London", "country": "", "status": "active",
                    "custom_fields": {}},
        "changes": {}, "source": f"bulk:{op.pk}",
    }
    assert events["bob@example.com"]["contact"]["company"] == "Initech"
    assert Delivery.objects.filter(endpoint=hook).count() == 2
    assert list(Contact.objects.values_list("pk", flat=True)) == [keep.pk]

    assert services.send_due_deliveries() == 2
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert sorted((b["kind"], b["data"]["contact"]["id"]) for b in bodies) == sorted(
        [("contact.deleted", ada.pk), ("contact.deleted", bob.pk)])
    assert all(b["workspace"] == tenant.schema_name for b in bodies)


def test_the_payload_equals_a_single_deletes(tenant, marketer, receiver):  # noqa: F811
    services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
    data = {"email": "same@example.com", "first_name": "Sam", "phone": "+44 1"}
    one = contacts.create_contact(data=data)
    one_id = one.pk
    contacts.delete_contact(contact=one, source="bulk:0")
    single = deleted_events()["same@example.com"]
    Delivery.objects.all().delete()
    two = contacts.create_contact(data=data)
    bulk = bulk_delete([two.pk], marketer)
    grouped = deleted_events()["same@example.com"]
    assert {**grouped, "source": "bulk:0", "contact": {**grouped["contact"], "id": one_id}} == (
        json.loads(json.dumps(single)))
    assert grouped["source"] == f"bulk:{bulk.pk}"


def test_every_listening_endpoint_gets_each_contact_once(tenant, marketer, receiver):  # noqa: F811
    first = services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
    second = services.create_endpoint(url=receiver.url + "/2",
                                      kinds=["contact.created", "contact.deleted"])
    services.create_endpoint(url=receiver.url + "/3", kinds=["contact.created"])
    off = services.create_endpoint(url=receiver.url + "/4", kinds=["contact.deleted"])
    services.set_endpoint_active(endpoint=off, active=False)
    ids = [contacts.create_contact(data={"email": f"p{i}@example.com"}).pk for i in range(3)]
    Delivery.objects.all().delete()  # the contact.created ones
    bulk_delete(ids, marketer)
    got = sorted(Delivery.objects.values_list("endpoint_id", "payload__contact__id"))
    assert got == sorted([(first.pk, i) for i in ids] + [(second.pk, i) for i in ids])
    assert len({d.event_id for d in Delivery.objects.all()}) == 6  # each its own event id


def test_nobody_listening_means_a_plain_delete(tenant, marketer, receiver):  # noqa: F811
    services.create_endpoint(url=receiver.url, kinds=["contact.created", "contact.updated"])
    ids = [contacts.create_contact(data={"email": f"p{i}@example.com"}).pk for i in range(3)]
    Delivery.objects.all().delete()
    with CaptureQueriesContext(connection) as captured:
        bulk_delete(ids, marketer)
    assert not Contact.objects.exists()
    assert not Delivery.objects.exists()
    assert not [q for q in captured.captured_queries if "webhooks_delivery" in q["sql"]]


def test_import_rollback_sends_contact_deleted_for_the_created_contacts(
        tenant, dns_server, settings, tmp_path, receiver):  # noqa: F811
    settings.MEDIA_ROOT = str(tmp_path)
    services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
    text = "Email,First Name\nada@example.com,Ada\nbob@example.com,Bob\n"
    job = imports.create_import(fileobj=ContentFile(text.encode(), name="f.csv"),
                                filename="people.csv", user=None)
    job = imports.analyse_import(job=job, inline=True)
    job = imports.start_import(job=job, user=None, inline=True)
    assert deleted_events() == {}
    imports.rollback_import(job=job, user=None, inline=True)
    events = deleted_events()
    assert sorted(events) == ["ada@example.com", "bob@example.com"]
    assert events["ada@example.com"]["contact"]["first_name"] == "Ada"
    assert events["ada@example.com"]["source"].startswith("rollback")


def test_contacts_with_events_and_scores_can_be_bulk_deleted(tenant, marketer):
    ada = contacts.create_contact(data={"email": "ada@example.com"})
    EmailEvent.objects.create(event_id="e1", contact=ada, type="opened",
                              occurred_at=timezone.now())
    ContactScore.objects.create(contact=ada, score=3, computed_score=3)
    bulk_delete([ada.pk], marketer)
    with connection.cursor() as cursor:  # the foreign keys are checked at commit: now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Contact.objects.exists() and not EmailEvent.objects.exists()


def test_another_tenants_endpoint_gets_nothing(
        tenant, other_tenant, marketer, receiver):  # noqa: F811
    with in_schema(other_tenant):
        theirs = services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
        their_contact = contacts.create_contact(data={"email": "theirs@example.com"})
    mine = services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
    ada = contacts.create_contact(data={"email": "ada@example.com"})
    bulk_delete([ada.pk], marketer)
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [mine.pk]
    with in_schema(other_tenant):
        assert not Delivery.objects.filter(endpoint=theirs).exists()
        assert Contact.objects.filter(pk=their_contact.pk).exists()
    assert services.send_due_deliveries() == 1
    [request] = receiver.requests
    assert json.loads(request["body"])["workspace"] == tenant.schema_name


@pytest.mark.parametrize("count", [1, 2500])
def test_many_deliveries_are_sent_in_jobs_of_a_thousand(
        tenant, marketer, count, django_capture_on_commit_callbacks, receiver):  # noqa: F811
    from django_q.models import OrmQ

    services.create_endpoint(url=receiver.url, kinds=["contact.deleted"])
    Contact.objects.bulk_create(Contact(email=f"m{i}@example.com",
                                        email_normalized=f"m{i}@example.com")
                                for i in range(count))
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        deleted = contacts.purge_contacts(ids_sql="SELECT id FROM contacts_contact", params={},
                                          actor_id=None, source="test")
    assert deleted == count == Delivery.objects.count()
    jobs = [q.task["args"] for q in OrmQ.objects.order_by("id")]
    assert [len(ids) for _schema, ids in jobs] == [min(1000, count - i)
                                                    for i in range(0, count, 1000)]
    assert sorted(i for _schema, ids in jobs for i in ids) == sorted(
        Delivery.objects.values_list("pk", flat=True))
