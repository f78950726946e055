"""Contacts migration 0011: one index on email_normalized (collation "C") serves prefix search
and the email sort; a deleted contact's history stays under its id."""

import pytest
from django.db import connection

from contacts import services
from contacts.bulk import services as bulk_services
from contacts.bulk import undo
from contacts.bulk.selection import Selection
from contacts.models import Contact, ContactChange
from contacts.selectors import page_of_contacts, search_contacts
from tests.conftest import client_for, in_schema, make_staff


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A handful of rows: the planner would rather scan them; forbid that to see whether the
        # index can answer at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _emails(n: int) -> None:
    for i in range(n):
        services.create_contact(data={"email": f"P{i:02d}.user@Example.com"})


def test_email_prefix_search_uses_the_unique_index(tenant):
    _emails(3)
    plan = _plan(search_contacts(Contact.objects.order_by(), "p01.us@").values("id"))
    assert "contacts_contact_email_normalized_key" in plan
    assert "Seq Scan" not in plan
    assert list(search_contacts(Contact.objects.all(), "P01.US").values_list(
        "email_normalized", flat=True)) == ["p01.user@example.com"]


@pytest.mark.parametrize("sort", ["email", "-email"])
def test_email_sort_is_an_index_walk_in_byte_order(tenant, sort):
    for email in ("b@example.com", "B2@example.com", "a-z@example.com", "a_z@example.com",
                  "zoë@example.com", "Zed@example.com"):
        services.create_contact(data={"email": email})
    page = page_of_contacts(Contact.objects.all(), sort=sort)
    emails = [c.email_normalized for c in page.contacts]
    expected = sorted(emails, key=lambda e: e.encode(), reverse=sort.startswith("-"))
    assert emails == expected
    plan = _plan(Contact.objects.order_by(sort.replace("email", "email_normalized"))[:50])
    assert "contacts_contact_email_normalized_key" in plan
    assert "Sort" not in plan


def test_no_other_index_on_the_email(tenant):
    with connection.cursor() as cursor:
        cursor.execute("""SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
                          AND tablename = 'contacts_contact' AND indexdef LIKE '%%email%%'
                          AND indexname <> 'contact_search_idx'""")
        defs = [row[0] for row in cursor.fetchall()]
    assert len(defs) == 1 and "UNIQUE" in defs[0]


def test_bulk_delete_then_undo_keeps_the_whole_history(tenant, marketer, other_tenant):
    contact = services.create_contact(data={"email": "kept@example.com", "city": "Oslo"})
    services.update_contact(contact=contact, data={"city": "Bergen"})
    with in_schema(other_tenant):  # the same email in the other workspace: untouched
        services.create_contact(data={"email": "kept@example.com"})
    op = bulk_services.start_bulk_operation(
        kind="delete", selection=Selection(ids=[contact.pk]), options={}, user=marketer)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert list(ContactChange.objects.filter(contact_id=contact.pk).order_by("id")
                .values_list("action", flat=True)) == ["created", "updated", "deleted"]
    undo.start_undo(op=op, user=marketer)
    actions = list(ContactChange.objects.filter(contact_id=contact.pk).order_by("id")
                   .values_list("action", "source"))
    assert [a for a, _ in actions] == ["created", "updated", "deleted", "created"]
    assert actions[-1][1] == f"undo:bulk:{op.pk}"
    with in_schema(other_tenant):
        assert list(ContactChange.objects.filter(contact_email="kept@example.com")
                    .values_list("action", flat=True)) == ["created"]


def test_admin_shows_history_of_a_deleted_contact(tenant, other_tenant):
    contact = services.create_contact(data={"email": "gone@example.com"})
    pk = contact.pk
    services.delete_contact(contact=contact)
    change = ContactChange.objects.get(action="deleted")
    assert change.contact_id == pk
    own = client_for(tenant, make_staff(tenant, "support@alpha.example.com"))
    listing = own.get("/admin/contacts/contactchange/")
    assert listing.status_code == 200 and b"gone@example.com" in listing.content
    page = own.get(f"/admin/contacts/contactchange/{change.pk}/change/")
    assert page.status_code == 200 and b"gone@example.com" in page.content
    other = client_for(other_tenant, make_staff(other_tenant, "support@beta.example.com"))
    assert b"gone@example.com" not in other.get("/admin/contacts/contactchange/").content
