"""List pages: index, create/rename/archive/delete, a list's contact table, analytics, the
profile's Lists card; roles, tenant isolation and hostile input."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments import services
from segments.models import ListMembership, StaticList
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory


def html(response) -> str:
    return response.content.decode()


def fill(static_list: StaticList, *contacts, source: str = "manual") -> None:
    sql, params = services.ids_of([c.pk for c in contacts])
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source=source)


def test_index_shows_name_count_updated_and_creator(marketer, marketer_client):
    lst = services.create_list(name="Trade show", description="Booth visitors", actor=marketer)
    fill(lst, *ContactFactory.create_batch(3))
    services.create_list(name="Empty one")
    page = html(marketer_client.get("/lists/"))
    row = page[page.index(f'<tr data-list-id="{lst.pk}">'):]
    row = row[: row.index("</tr>")]
    assert f'<a href="/lists/{lst.pk}/">Trade show</a>' in row
    assert '<td class="num">3</td>' in row
    assert f"<td>{marketer.display_name}</td>" in row
    assert "Booth visitors" in row
    assert page.index("Empty one") < page.index("Trade show")  # by name


def test_index_hides_archived_lists_behind_a_filter(marketer_client):
    kept = services.create_list(name="Current")
    old = services.create_list(name="Old stuff")
    services.set_list_archived(static_list=old, archived=True)
    page = html(marketer_client.get("/lists/"))
    assert "Current" in page and "Old stuff" not in page
    assert '<a href="/lists/?archived=1">Archived lists (1)</a>' in page
    archived = html(marketer_client.get("/lists/?archived=1"))
    assert "Old stuff" in archived and f'data-list-id="{kept.pk}"' not in archived


def test_create_rename_archive_unarchive(marketer, marketer_client):
    response = marketer_client.post("/lists/new/", {"name": " Webinar ", "description": "Q3"})
    lst = StaticList.objects.get()
    assert response["Location"] == f"/lists/{lst.pk}/"
    assert (lst.name, lst.description, lst.created_by) == ("Webinar", "Q3", marketer)
    marketer_client.post(f"/lists/{lst.pk}/edit/", {"name": "Webinar Q3", "description": ""})
    marketer_client.post(f"/lists/{lst.pk}/archive/", {"archive": "1"})
    lst.refresh_from_db()
    assert (lst.name, lst.description, lst.is_archived) == ("Webinar Q3", "", True)
    marketer_client.post(f"/lists/{lst.pk}/archive/", {"archive": "0"})
    lst.refresh_from_db()
    assert lst.archived_at is None


def test_create_refuses_duplicate_name_with_field_error(marketer_client):
    services.create_list(name="Webinar")
    response = marketer_client.post("/lists/new/", {"name": "WEBINAR"})
    assert response.status_code == 400
    assert '<p class="field-error" id="id_name_error">A list named “WEBINAR” already exists.</p>' \
        in html(response)
    assert StaticList.objects.count() == 1


def test_formula_looking_name_is_escaped_on_pages(marketer_client):
    lst = services.create_list(name='=HYPERLINK("http://x")<script>alert(1)</script>')
    page = html(marketer_client.get("/lists/"))
    assert "<script>alert(1)</script>" not in page
    assert "=HYPERLINK(&quot;http://x&quot;)&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;" in html(marketer_client.get(f"/lists/{lst.pk}/"))


def test_delete_confirmation_names_the_count_then_keeps_contacts(marketer_client):
    lst = services.create_list(name="Doomed")
    contacts = ContactFactory.create_batch(2)
    fill(lst, *contacts)
    confirm = html(marketer_client.get(f"/lists/{lst.pk}/delete/"))
    assert "Delete list of 2 contacts</button>" in confirm
    assert "the 2 contacts themselves stay" in confirm
    response = marketer_client.post(f"/lists/{lst.pk}/delete/", follow=True)
    assert "List “Doomed” deleted (2 members removed; the contacts themselves stay)." in \
        html(response)
    assert (StaticList.objects.count(), ListMembership.objects.count()) == (0, 0)
    assert contacts[0].__class__.objects.count() == 2


def test_list_page_shows_members_in_the_contact_table_with_search(marketer_client):
    lst = services.create_list(name="VIPs")
    inside = ContactFactory(email="in@acme.com", company="Acme")
    other = ContactFactory(email="in2@globex.com", company="Globex")
    ContactFactory(email="out@acme.com", company="Acme")
    fill(lst, inside, other)
    page = html(marketer_client.get(f"/lists/{lst.pk}/"))
    assert f'data-contact-id="{inside.pk}"' in page and f'data-contact-id="{other.pk}"' in page
    assert "out@acme.com" not in page
    assert f'action="/lists/{lst.pk}/"' in page  # the filters stay on this page
    searched = html(marketer_client.get(f"/lists/{lst.pk}/?q=acme"))
    assert "in@acme.com" in searched and "in2@globex.com" not in searched
    partial = marketer_client.get(f"/lists/{lst.pk}/?q=acme", HTTP_HX_REQUEST="true")
    assert html(partial).startswith("<div") or '<div id="contact-results"' in html(partial)
    assert "<html" not in html(partial)


def test_list_page_query_count_does_not_grow_with_members(marketer_client):
    lst = services.create_list(name="L")
    fill(lst, *ContactFactory.create_batch(3))
    with CaptureQueriesContext(connection) as few:
        marketer_client.get(f"/lists/{lst.pk}/")
    fill(lst, *ContactFactory.create_batch(30))
    with CaptureQueriesContext(connection) as many:
        marketer_client.get(f"/lists/{lst.pk}/")
    assert len(many) == len(few)


def test_analytics_page_shows_size_changes_and_shares(marketer_client):
    lst = services.create_list(name="L")
    a = ContactFactory(validation_status="valid")
    b = ContactFactory(status="unsubscribed")
    fill(lst, a, b)
    page = html(marketer_client.get(f"/lists/{lst.pk}/analytics/"))
    assert '<strong id="list-size">2</strong>' in page
    assert '<svg class="chart"' in page and "<polyline points=" in page
    assert '<tr><th scope="row">Added</th><td class="num">2</td><td class="num">2</td></tr>' \
        in page
    assert '<tr><th scope="row">Valid</th><td class="num">1</td><td class="num">50.0%</td></tr>' \
        in page
    assert ('<tr><th scope="row">Unsubscribed</th><td class="num">1</td>'
            '<td class="num">50.0%</td></tr>') in page


def test_profile_adds_to_existing_and_new_list_and_removes(marketer, marketer_client):
    contact = ContactFactory()
    lst = services.create_list(name="Existing")
    profile = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert '<h2 id="lists-heading">Lists</h2>' in profile
    assert f'<option value="{lst.pk}">Existing</option>' in profile
    marketer_client.post(f"/lists/contact/{contact.pk}/", {"action": "add", "list_id": lst.pk})
    response = marketer_client.post(f"/lists/contact/{contact.pk}/",
                                    {"action": "add", "new_list": "Brand new"}, follow=True)
    assert "Added to the list “Brand new”." in html(response)
    rows = ListMembership.objects.filter(contact=contact)
    assert sorted(rows.values_list("static_list__name", "source", "added_by")) == [
        ("Brand new", "manual", marketer.pk), ("Existing", "manual", marketer.pk),
    ]
    marketer_client.post(f"/lists/contact/{contact.pk}/", {"action": "remove", "list_id": lst.pk})
    assert list(rows.values_list("static_list__name", flat=True)) == ["Brand new"]


def test_removing_from_a_deleted_list_says_so(marketer_client):
    contact = ContactFactory()
    lst = services.create_list(name="Soon gone")
    fill(lst, contact)
    services.delete_list(static_list=lst)
    response = marketer_client.post(f"/lists/contact/{contact.pk}/",
                                    {"action": "remove", "list_id": lst.pk}, follow=True)
    assert "This list no longer exists; it was deleted." in html(response)
    assert marketer_client.get(f"/lists/{lst.pk}/").status_code == 404
    assert marketer_client.post(f"/lists/{lst.pk}/delete/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/lists/new/"), ("post", "/lists/new/"), ("post", "/lists/contact/1/"),
     ("get", "/lists/from-file/")],
)
def test_viewer_cannot_change_lists(viewer_client, method, path):
    assert getattr(viewer_client, method)(path).status_code == 403


def test_viewer_sees_lists_without_write_buttons(viewer_client):
    lst = services.create_list(name="Readable")
    contact = ContactFactory()
    page = html(viewer_client.get(f"/lists/{lst.pk}/"))
    assert "Readable" in page and "Rename</a>" not in page
    profile = html(viewer_client.get(f"/contacts/{contact.pk}/"))
    assert "Add to list" not in profile


def test_other_tenant_sees_no_list_or_membership(tenant, other_tenant):
    lst = services.create_list(name="Secret list")
    contact = ContactFactory()
    fill(lst, contact)
    outsider = make_user(other_tenant, "owner")
    client = client_for(other_tenant, outsider)
    assert "Secret list" not in html(client.get("/lists/"))
    for path in (f"/lists/{lst.pk}/", f"/lists/{lst.pk}/analytics/", f"/lists/{lst.pk}/edit/",
                 f"/lists/{lst.pk}/delete/"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/lists/{lst.pk}/delete/").status_code == 404
    with in_schema(other_tenant):
        assert (StaticList.objects.count(), ListMembership.objects.count()) == (0, 0)
    connection.set_tenant(tenant)
    assert ListMembership.objects.count() == 1


def test_empty_list_page_says_so_rather_than_no_contacts_yet(marketer_client):
    ContactFactory()  # the workspace has contacts; the list has none
    lst = services.create_list(name="Fresh")
    page = html(marketer_client.get(f"/lists/{lst.pk}/"))
    assert "This list has no contacts yet" in page
    assert "No contacts yet" not in page and "Add your first contact" not in page
