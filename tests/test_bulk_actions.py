"""Bulk actions on contacts: each action's effect on the data and the history, selections
("select all matching" with filters, within a list), the job path, reports and undo."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.utils import timezone

from contacts.bulk import services, tasks, undo
from contacts.bulk.selection import Selection
from contacts.models import (
    BulkOperation,
    BulkStatus,
    Contact,
    ContactChange,
    ContactTag,
    DeletedContactSnapshot,
    Tag,
)
from contacts.services import create_contact
from segments import services as lists
from segments.models import Campaign, ListMembership, StaticList

pytestmark = pytest.mark.django_db


def make_contacts(n: int, *, prefix: str = "p", company: str = "Acme") -> list[Contact]:
    return [
        create_contact(data={"email": f"{prefix}{i}@example.com", "company": company})
        for i in range(n)
    ]


def tag_names(contact: Contact) -> list[str]:
    return sorted(contact.tags.values_list("name", flat=True))


def post_bulk(client, **data):
    return client.post("/contacts/bulk/", data)


def ids_of(contacts) -> str:
    return ",".join(str(c.pk) for c in contacts)


# --- actions: data and history -------------------------------------------------------------


def test_add_tags_to_selected_contacts_records_history(tenant, marketer, marketer_client):
    a, b, c = make_contacts(3)
    create_contact(data={"email": "tagged@example.com"}, tags=["VIP"])
    ContactTag.objects.create(contact=a, tag=Tag.objects.get(name="VIP"))
    response = post_bulk(marketer_client, action="add_tags", ids=ids_of([a, b]), confirm="1",
                         tags="vip, Hot lead", next="/contacts/")
    assert response.status_code == 302 and response["Location"] == "/contacts/"
    assert tag_names(a) == ["Hot lead", "VIP"]
    assert tag_names(b) == ["Hot lead", "VIP"]
    assert tag_names(c) == []
    change = ContactChange.objects.filter(contact=a, source__startswith="bulk:").get()
    assert change.changes == {"tags": [["VIP"], ["Hot lead", "VIP"]]}
    assert change.actor == marketer and change.action == "updated"
    change_b = ContactChange.objects.get(contact=b, source__startswith="bulk:")
    assert change_b.changes == {"tags": [[], ["Hot lead", "VIP"]]}
    op = BulkOperation.objects.get()
    assert (op.status, op.total, op.processed, op.changed, op.failed) == ("finished", 2, 2, 2, 0)
    page = marketer_client.get("/contacts/").content.decode()
    assert "Add tags: 2 contacts tagged." in page


def test_remove_tags_only_from_the_selection(tenant, marketer):
    a, b = make_contacts(2)
    for contact in (a, b):
        ContactTag.objects.create(contact=contact, tag=Tag.objects.get_or_create(name="old")[0])
        ContactTag.objects.create(contact=contact, tag=Tag.objects.get_or_create(name="keep")[0])
    op = services.start_bulk_operation(
        kind="remove_tags", selection=Selection(ids=[a.pk]), options={"tags": "OLD"}, user=marketer
    )
    assert op.changed == 1
    assert tag_names(a) == ["keep"] and tag_names(b) == ["keep", "old"]
    change = ContactChange.objects.get(contact=a, source=f"bulk:{op.pk}")
    assert change.changes == {"tags": [["keep", "old"], ["keep"]]}


def test_change_status_counts_unchanged_and_records_old_values(tenant, marketer):
    a, b, c = make_contacts(3)
    Contact.objects.filter(pk=c.pk).update(status="unsubscribed")
    op = services.start_bulk_operation(
        kind="change_status", selection=Selection(ids=[a.pk, b.pk, c.pk]),
        options={"status": "unsubscribed"}, user=marketer,
    )
    assert (op.changed, op.processed, op.failed) == (2, 3, 0)
    assert set(Contact.objects.values_list("status", flat=True)) == {"unsubscribed"}
    changes = ContactChange.objects.filter(source=f"bulk:{op.pk}")
    assert sorted(changes.values_list("contact_id", flat=True)) == [a.pk, b.pk]
    assert changes.first().changes == {"status": ["active", "unsubscribed"]}
    assert services.summary(op) == "Change status: 2 contacts changed, 1 already had this status."
    a.refresh_from_db()
    assert a.updated_by == marketer


def test_add_to_new_list_and_remove_from_it(tenant, marketer, marketer_client):
    contacts = make_contacts(4)
    response = post_bulk(marketer_client, action="add_to_list", ids=ids_of(contacts[:3]),
                         confirm="1", new_list="Spring fair")
    assert response.status_code == 302
    static_list = StaticList.objects.get(name="Spring fair")
    op = BulkOperation.objects.get()
    members = ListMembership.objects.filter(static_list=static_list)
    assert sorted(members.values_list("contact_id", flat=True)) == [c.pk for c in contacts[:3]]
    assert set(members.values_list("source", "source_ref")) == {("bulk", op.pk)}
    response = post_bulk(marketer_client, action="remove_from_list", ids=ids_of(contacts[:1]),
                         confirm="1", list_id=static_list.pk)
    assert response.status_code == 302
    assert members.count() == 2


def test_add_to_campaign(tenant, marketer):
    campaign = Campaign.objects.create(name="Launch", created_by=marketer)
    contacts = make_contacts(2)
    op = services.start_bulk_operation(
        kind="add_to_campaign", selection=Selection(ids=[c.pk for c in contacts]),
        options={"campaign_id": str(campaign.pk)}, user=marketer,
    )
    assert op.changed == 2
    direct = lists.ensure_direct_list(campaign=campaign)
    assert ListMembership.objects.filter(static_list=direct).count() == 2


def test_delete_confirmation_names_the_count_then_deletes(tenant, marketer, marketer_client):
    contacts = make_contacts(3)
    response = post_bulk(marketer_client, action="delete", ids=ids_of(contacts[:2]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Delete 2 contacts?</h1>" in page
    assert Contact.objects.count() == 3  # nothing happens before the confirmation
    response = post_bulk(marketer_client, action="delete", ids=ids_of(contacts[:2]), confirm="1")
    op = BulkOperation.objects.get()
    assert response["Location"] == f"/contacts/bulk/{op.pk}/"
    assert list(Contact.objects.values_list("pk", flat=True)) == [contacts[2].pk]
    deleted = ContactChange.objects.filter(action="deleted", source=f"bulk:{op.pk}")
    assert sorted(deleted.values_list("contact_email", flat=True)) == ["p0@example.com",
                                                                       "p1@example.com"]
    page = marketer_client.get(f"/contacts/bulk/{op.pk}/").content.decode()
    assert "Delete: 2 contacts deleted." in page and "Undo delete" in page


# --- selections -----------------------------------------------------------------------------


def test_select_all_matching_applies_the_filters_at_run_time(tenant, marketer, marketer_client):
    acme = make_contacts(3, prefix="acme", company="Acme")
    other = make_contacts(2, prefix="zed", company="Zed")
    Contact.objects.filter(pk=acme[2].pk).update(status="bounced")
    response = post_bulk(marketer_client, action="add_tags", all="1", q="acme", status="active")
    assert "2 contacts" in response.content.decode()
    late = create_contact(data={"email": "acme-late@example.com", "company": "Acme"})
    post_bulk(marketer_client, action="add_tags", all="1", q="acme", status="active",
              confirm="1", tags="fair")
    tagged = set(Contact.objects.filter(tags__name="fair").values_list("pk", flat=True))
    assert tagged == {acme[0].pk, acme[1].pk, late.pk}  # re-evaluated when it ran
    assert not tagged & {c.pk for c in other}


def test_select_all_within_a_list_scope(tenant, marketer):
    inside = make_contacts(3, prefix="in")
    make_contacts(2, prefix="out")
    static_list = lists.create_list(name="Fair", actor=marketer)
    sql, params = lists.ids_of([c.pk for c in inside[:2]])
    lists.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params, source="manual")
    selection = Selection(all_matching=True, list_id=static_list.pk)
    assert services.count_selection(selection) == 2
    op = services.start_bulk_operation(kind="change_status", selection=selection,
                                       options={"status": "bounced"}, user=marketer)
    assert op.changed == 2
    assert set(Contact.objects.filter(status="bounced").values_list("pk", flat=True)) == {
        inside[0].pk, inside[1].pk}
    assert selection.as_export_source() == {
        "kind": "list", "list_id": static_list.pk, "label": f"All contacts of list #{static_list.pk}"}


def test_table_has_checkboxes_banner_and_bar(tenant, marketer_client, settings):
    settings.CONTACTS_PAGE_SIZE = 2
    contacts = make_contacts(3)
    page = marketer_client.get("/contacts/?q=example").content.decode()
    assert page.count('data-bulk-row aria-label="Select ') == 2
    assert 'data-bulk-page form="bulk-form" aria-label="Select all 2 contacts on this page"' in page
    assert "Select all 3 matching" in page
    assert '<input type="hidden" name="q" value="example">' in page
    assert '<option value="remove_from_list">Remove from list…</option>' in page
    assert f'name="ids" value="{contacts[2].pk}"' in page  # newest first
    assert f'name="ids" value="{contacts[0].pk}"' not in page  # on page 2


def test_viewer_sees_no_bulk_bar_and_cannot_run_actions(tenant, viewer_client):
    (contact,) = make_contacts(1)
    assert "bulk-form" not in viewer_client.get("/contacts/").content.decode()
    response = post_bulk(viewer_client, action="delete", ids=str(contact.pk), confirm="1")
    assert response.status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert not BulkOperation.objects.exists()


# --- job path, report ------------------------------------------------------------------------


def test_large_selection_runs_as_a_job_in_chunks(tenant, marketer, monkeypatch):
    contacts = make_contacts(7)
    monkeypatch.setattr(services, "CHUNK_SIZE", 3)
    pushed = []
    monkeypatch.setattr(services, "push", lambda **kw: pushed.append(kw))
    op = services.start_bulk_operation(
        kind="add_tags", selection=Selection(all_matching=True), options={"tags": "big"},
        user=marketer, inline_limit=5,
    )
    assert op.status == BulkStatus.QUEUED and op.total == 7 and op.changed == 0
    tasks.run_bulk_task(connection.schema_name, op.pk)
    op.refresh_from_db()
    assert (op.status, op.processed, op.changed, op.total) == ("finished", 7, 7, 7)
    assert op.last_id == max(c.pk for c in contacts)
    assert Contact.objects.filter(tags__name="big").count() == 7
    chunk_events = [p for p in pushed if p["topic"] == "contacts"]
    assert len(chunk_events) == 3  # one event per chunk (3 + 3 + 1), not per contact
    progress = [p["event"]["processed"] for p in pushed if p["topic"] == f"bulk.{op.pk}"]
    assert 3 in progress and 6 in progress
    tasks.run_bulk_task(connection.schema_name, op.pk)  # a re-run changes nothing
    assert ContactChange.objects.filter(source=f"bulk:{op.pk}").count() == 7


def test_chunked_add_to_list_is_one_change_in_the_lists_analytics(tenant, marketer,
                                                                   monkeypatch):
    from segments.models import ListChange

    contacts = make_contacts(7)
    static_list = lists.create_list(name="Big", actor=marketer)
    monkeypatch.setattr(services, "MEMBERSHIP_CHUNK_SIZE", 3)
    op = services.start_bulk_operation(
        kind="add_to_list", selection=Selection(all_matching=True),
        options={"list_id": str(static_list.pk)}, user=marketer, inline_limit=5,
    )
    tasks.run_bulk_task(connection.schema_name, op.pk)
    op.refresh_from_db()
    assert (op.status, op.processed, op.changed) == ("finished", 7, 7)
    assert ListMembership.objects.filter(static_list=static_list).count() == len(contacts)
    changes = list(ListChange.objects.filter(static_list=static_list)
                   .values_list("added", "removed", "size_after", "source", "source_ref"))
    assert changes == [(7, 0, 7, "bulk", op.pk)]  # three chunks, one recorded operation


def test_progress_json_and_page(tenant, marketer, marketer_client):
    make_contacts(3)
    op = services.start_bulk_operation(kind="add_tags", selection=Selection(all_matching=True),
                                       options={"tags": "x"}, user=marketer, inline_limit=1)
    data = marketer_client.get(f"/contacts/bulk/{op.pk}/progress").json()
    assert data | {"id": 0} == {"id": 0, "status": "queued", "status_label": "Waiting for a worker",
                                "is_active": True, "total": 3, "processed": 0, "changed": 0,
                                "failed": 0, "percent": 0, "error": ""}
    page = marketer_client.get(f"/contacts/bulk/{op.pk}/").content.decode()
    assert f'data-ws-path="/ws/bulk/{op.pk}/"' in page and 'role="progressbar"' in page


def test_partial_failure_report_names_missing_contacts(tenant, marketer, marketer_client):
    a, b, c = make_contacts(3)
    Contact.objects.filter(pk=c.pk).delete()
    response = post_bulk(marketer_client, action="add_tags", ids=f"{a.pk},{b.pk},{c.pk},999999",
                         confirm="1", tags="t")
    op = BulkOperation.objects.get()
    assert response["Location"] == f"/contacts/bulk/{op.pk}/"
    assert (op.processed, op.changed, op.failed) == (4, 2, 2)
    assert op.failures == {"not_found": {"count": 2, "sample_ids": [c.pk, 999999]}}
    page = marketer_client.get(response["Location"]).content.decode()
    assert "Add tags: 2 contacts tagged, 2 failed." in page
    assert (f"<strong>2</strong> no longer exist (deleted before the action reached them) "
            f"(e.g. ids {c.pk}, 999999)") in page


# --- undo of a delete -------------------------------------------------------------------------


def test_undo_restores_ids_fields_tags_and_lists(tenant, marketer, marketer_client):
    a = create_contact(data={"email": "Ann@Example.com", "first_name": "Ann", "city": "Oslo",
                             "custom_fields": {}}, tags=["vip", "fair"])
    b = create_contact(data={"email": "bob@example.com"}, tags=["vip"])
    static_list = lists.create_list(name="Fair", actor=marketer)
    sql, params = lists.ids_of([a.pk, b.pk])
    lists.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params, source="manual")
    before = Contact.objects.filter(pk=a.pk).values().get()
    op = services.start_bulk_operation(kind="delete", selection=Selection(ids=[a.pk, b.pk]),
                                       options={}, user=marketer)
    assert not Contact.objects.exists() and not ListMembership.objects.exists()
    assert DeletedContactSnapshot.objects.filter(operation=op).count() == 2
    assert op.undo_until > timezone.now() + timezone.timedelta(days=29)
    response = marketer_client.post(f"/contacts/bulk/{op.pk}/undo/")
    assert response.status_code == 302
    after = Contact.objects.filter(pk=a.pk).values().get()
    assert after == before
    assert tag_names(Contact.objects.get(pk=a.pk)) == ["fair", "vip"]
    assert set(ListMembership.objects.values_list("contact_id", "source")) == {
        (a.pk, "restore"), (b.pk, "restore")}
    assert Contact.objects.get(pk=a.pk).email == before["email"]
    op.refresh_from_db()
    assert op.undone_at and op.undo_report == {"restored": 2, "skipped": 0, "skipped_emails": []}
    assert not DeletedContactSnapshot.objects.exists()
    assert ContactChange.objects.filter(action="created", source=f"undo:bulk:{op.pk}").count() == 2
    second = marketer_client.post(f"/contacts/bulk/{op.pk}/undo/", follow=True)
    assert "This action cannot be undone (any more)." in second.content.decode()


def test_undo_skips_contacts_whose_email_was_recreated(tenant, marketer, marketer_client):
    a, b = make_contacts(2)
    op = services.start_bulk_operation(kind="delete", selection=Selection(ids=[a.pk, b.pk]),
                                       options={}, user=marketer)
    again = create_contact(data={"email": "P0@example.com"})
    response = marketer_client.post(f"/contacts/bulk/{op.pk}/undo/", follow=True)
    page = response.content.decode()
    assert ("Restored 1 contacts. 1 were not restored: a contact with the same email was "
            "created since.") in page
    assert sorted(Contact.objects.values_list("pk", flat=True)) == sorted([b.pk, again.pk])
    assert Contact.objects.filter(email_normalized="p0@example.com").count() == 1
    op.refresh_from_db()
    assert op.undo_report == {"restored": 1, "skipped": 1, "skipped_emails": ["p0@example.com"]}


def test_expired_snapshots_are_purged_by_the_schedule(tenant, marketer):
    from django_q.models import Schedule

    a, b = make_contacts(2)
    old = services.start_bulk_operation(kind="delete", selection=Selection(ids=[a.pk]),
                                        options={}, user=marketer)
    recent = services.start_bulk_operation(kind="delete", selection=Selection(ids=[b.pk]),
                                           options={}, user=marketer)
    BulkOperation.objects.filter(pk=old.pk).update(
        undo_until=timezone.now() - timezone.timedelta(seconds=1))
    assert tasks.purge_expired_snapshots() == 1
    connection.set_tenant(tenant)
    assert list(DeletedContactSnapshot.objects.values_list("operation_id", flat=True)) == [
        recent.pk]
    old.refresh_from_db()
    assert not undo.can_undo(old) and undo.can_undo(recent)
    assert Schedule.objects.filter(func="contacts.bulk.tasks.purge_expired_snapshots").exists()


def test_history_page_lists_operations(tenant, marketer, marketer_client):
    (a,) = make_contacts(1)
    services.start_bulk_operation(kind="change_status", selection=Selection(ids=[a.pk]),
                                  options={"status": "bounced"}, user=marketer)
    page = marketer_client.get("/contacts/bulk/history/").content.decode()
    assert re.search(r">Change status</a></td><td>1 selected contact</td><td>1</td>", page)
