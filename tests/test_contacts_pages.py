"""The contact table, profile, create/edit/delete pages and the contacts admin."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services
from contacts.models import Contact, ContactChange, ContactTag
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory, CustomFieldFactory, TagFactory

ROW_LINK = re.compile(r'<td><a href="/contacts/(\d+)/">([^<]*)</a></td>')


def listed(response) -> list[str]:
    """Emails of the table rows, in order."""
    assert response.status_code == 200
    return [email for _pk, email in ROW_LINK.findall(response.content.decode())]


def headings_of(page: str) -> list[str]:
    cells = re.findall(r'<th scope="col"[^>]*>(?:<a [^>]*>)?([^<]+)', page)
    return [cell.strip() for cell in cells]


def html(response) -> str:
    return response.content.decode()


def tag(contact: Contact, *names: str) -> None:
    for name in names:
        ContactTag.objects.create(contact=contact, tag=TagFactory(name=name))


def set_created(contact: Contact, when: dt.datetime) -> None:
    Contact.objects.filter(pk=contact.pk).update(created_at=when)


# --- table ------------------------------------------------------------------------------------


def test_contact_list_shows_default_columns_and_data(marketer_client):
    jane = ContactFactory(
        email="jane@acme.com",
        first_name="Jane",
        last_name="Doe",
        company="Acme Corp",
        status="unsubscribed",
    )
    tag(jane, "vip")
    response = marketer_client.get("/contacts/")
    page = html(response)
    headings = headings_of(page)
    assert headings == ["Email", "Name", "Company", "Status", "Score", "Tags", "Created"]
    assert listed(response) == ["jane@acme.com"]
    # The first cell is the bulk-selection checkbox, then the email links to the profile.
    assert re.search(
        rf'<tr data-contact-id="{jane.pk}"><td class="select"><input type="checkbox" name="ids" '
        rf'value="{jane.pk}"[^>]*></td><td><a href="/contacts/{jane.pk}/">jane@acme.com</a>',
        page,
    )
    assert "<td>Jane Doe</td>" in page
    assert "<td>Acme Corp</td>" in page
    assert '<span class="badge unsubscribed">Unsubscribed</span>' in page
    assert '<span class="tag">vip</span>' in page
    assert "Showing 1–1 of 1" in page


def test_contact_list_form_is_get_with_labels(marketer_client):
    ContactFactory()
    page = html(marketer_client.get("/contacts/"))
    assert re.search(r'<form class="toolbar filters" method="get" action="/contacts/"', page)
    for name, label in [
        ("q", "Search"),
        ("tag", "Tag"),
        ("status", "Status"),
        ("created_from", "Created from"),
        ("created_to", "Created to"),
    ]:
        assert f'<label for="id_{name}">{label}</label>' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("jane", ["jane@acme.com"]),  # first name
        ("globex", ["bob@globex.com"]),  # company (and email domain)
        ("Smith", ["carl@initech.com"]),  # last name, any case
        ("bob@glo", ["bob@globex.com"]),  # email prefix
        ("initech carl", ["carl@initech.com"]),  # every word must match
        ("nobody", []),
    ],
)
def test_contact_list_search_matches_email_name_company(marketer_client, query, expected):
    ContactFactory(email="jane@acme.com", first_name="Jane", last_name="Doe", company="Acme")
    ContactFactory(email="bob@globex.com", first_name="Bob", last_name="Roe", company="Globex")
    ContactFactory(
        email="carl@initech.com", first_name="Carl", last_name="Smith", company="Initech"
    )
    assert listed(marketer_client.get("/contacts/", {"q": query})) == expected


def test_contact_list_filters_by_tag_status_and_created_dates(marketer_client):
    old = ContactFactory(email="old@example.com")
    mid = ContactFactory(email="mid@example.com", status="bounced")
    new = ContactFactory(email="new@example.com")
    set_created(old, dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC))
    set_created(mid, dt.datetime(2024, 6, 10, 12, tzinfo=dt.UTC))
    set_created(new, dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC))
    tag(old, "VIP")
    ContactTag.objects.create(contact=new, tag=old.tags.get())

    get = marketer_client.get
    assert listed(get("/contacts/", {"tag": "VIP"})) == ["new@example.com", "old@example.com"]
    assert listed(get("/contacts/", {"status": "bounced"})) == ["mid@example.com"]
    assert listed(get("/contacts/", {"created_from": "2024-06-10"})) == [
        "new@example.com",
        "mid@example.com",
    ]
    assert listed(get("/contacts/", {"created_to": "2024-06-10"})) == [
        "mid@example.com",
        "old@example.com",
    ]
    assert listed(
        get(
            "/contacts/",
            {
                "created_from": "2024-01-01",
                "created_to": "2024-12-31",
                "tag": "VIP",
            },
        )
    ) == ["old@example.com"]


def test_contact_list_reports_bad_filter_and_ignores_it(marketer_client):
    ContactFactory(email="a@example.com")
    response = marketer_client.get("/contacts/", {"created_from": "yesterday"})
    assert "Enter a valid date." in html(response)
    assert listed(response) == ["a@example.com"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["b@example.com", "c@example.com", "a@example.com"]),
        ("-name", ["a@example.com", "c@example.com", "b@example.com"]),
        ("company", ["c@example.com", "a@example.com", "b@example.com"]),
        ("email", ["a@example.com", "b@example.com", "c@example.com"]),
        ("-created", ["c@example.com", "b@example.com", "a@example.com"]),
        ("created", ["a@example.com", "b@example.com", "c@example.com"]),
        ("bogus", ["c@example.com", "b@example.com", "a@example.com"]),  # default sort
    ],
)
def test_contact_list_sorts(marketer_client, sort, expected):
    rows = [
        ("a@example.com", "Zed", "Beta"),
        ("b@example.com", "Adams", "Gamma"),
        ("c@example.com", "Miller", "Alpha"),
    ]
    for day, (email, last, company) in enumerate(rows, start=1):
        contact = ContactFactory(email=email, last_name=last, first_name="X", company=company)
        set_created(contact, dt.datetime(2025, 1, day, tzinfo=dt.UTC))
    assert listed(marketer_client.get("/contacts/", {"sort": sort})) == expected


def test_contact_list_sort_headers_toggle_and_keep_filters(marketer_client):
    ContactFactory(company="Acme")
    page = html(marketer_client.get("/contacts/", {"q": "acme", "sort": "name", "page": "1"}))
    assert (
        '<th scope="col" aria-sort="ascending"><a href="?q=acme&amp;sort=-name">Name '
        '<span aria-hidden="true">▲</span></a></th>'
    ) in page
    assert '<a href="?q=acme&amp;sort=company">Company</a>' in page
    # The default sort is newest first, so Created shows as descending.
    page = html(marketer_client.get("/contacts/"))
    assert '<th scope="col" aria-sort="descending"><a href="?sort=created">Created' in page


def test_contact_list_paginates_with_window_and_summary(marketer_client, settings):
    settings.CONTACTS_PAGE_SIZE = 2
    for n in range(11):
        contact = ContactFactory(email=f"p{n:02}@example.com")
        set_created(contact, dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n))
    response = marketer_client.get("/contacts/", {"page": "3", "status": "active"})
    page = html(response)
    assert listed(response) == ["p06@example.com", "p05@example.com"]
    assert "Showing 5–6 of 11" in page
    assert '<a href="?status=active&amp;page=2" rel="prev">‹ Previous</a>' in page
    assert '<a href="?status=active&amp;page=4" rel="next">Next ›</a>' in page
    assert '<span class="current" aria-current="page">3</span>' in page
    numbers = re.findall(r'aria-label="Page (\d+)"', page)
    assert numbers == ["1", "2", "4", "5", "6"]
    # Past the end: the last page, not an error.
    last = marketer_client.get("/contacts/", {"page": "99"})
    assert listed(last) == ["p00@example.com"]
    assert "Showing 11–11 of 11" in html(last)
    assert '<span class="disabled" aria-disabled="true">Next ›</span>' in html(last)


def test_page_window_marks_gaps():
    from contacts.views import page_window

    assert page_window(1, 1) == [1]
    assert page_window(50, 20_000) == [1, None, 48, 49, 50, 51, 52, None, 20_000]
    assert page_window(2, 6) == [1, 2, 3, 4, 5, 6]  # a gap of one page shows the page
    assert page_window(7, 7) == [1, None, 5, 6, 7]


def test_contact_list_empty_tenant_invites_to_add_or_import(marketer_client):
    page = html(marketer_client.get("/contacts/"))
    assert "No contacts yet" in page
    assert '<a class="btn primary" href="/contacts/new/">Add a contact</a>' in page
    assert '<a href="/imports/">Imports</a>' in page
    assert "Clear filters" not in page


def test_contact_list_no_match_offers_clear_filters(marketer_client):
    ContactFactory(email="a@example.com")
    page = html(marketer_client.get("/contacts/", {"q": "zzz"}))
    assert "No contacts match these filters" in page
    assert '<a class="btn primary" href="/contacts/">Clear filters</a>' in page
    assert "No contacts yet" not in page


def test_contact_list_htmx_request_gets_only_the_table(marketer_client):
    ContactFactory(email="a@example.com")
    response = marketer_client.get("/contacts/", {"q": "a"}, HTTP_HX_REQUEST="true")
    page = html(response)
    assert page.startswith('<div id="contact-results" class="results">')
    assert "<html" not in page
    assert listed(response) == ["a@example.com"]
    assert "HX-Request" in response["Vary"]
    # The filter form outside the swapped part learns the sort chosen in the table.
    sorted_page = html(
        marketer_client.get("/contacts/", {"sort": "company"}, HTTP_HX_REQUEST="true")
    )
    assert (
        '<input type="hidden" name="sort" id="filter-sort" value="company" hx-swap-oob="true">'
    ) in sorted_page
    full = html(marketer_client.get("/contacts/", {"sort": "company"}))
    assert '<input type="hidden" name="sort" id="filter-sort" value="company">' in full


def test_contact_list_query_count_does_not_grow_with_rows(marketer, marketer_client):
    CustomFieldFactory(key="plan", label="Plan")
    marketer.contact_columns = ["email", "name", "tags", "validation", "cf_plan"]
    marketer.save()

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = marketer_client.get("/contacts/")
        assert response.status_code == 200
        return len(queries)

    first = ContactFactory(custom_fields={"plan": "pro"})
    tag(first, "one", "two")
    with_one = count_queries()
    for n in range(2):
        tag(ContactFactory(custom_fields={"plan": "free"}), f"x{n}")
    with_three = count_queries()
    assert len(listed(marketer_client.get("/contacts/"))) == 3
    assert with_one == with_three


def test_contact_list_saves_columns_per_user(tenant, marketer, marketer_client, owner_client):
    CustomFieldFactory(key="plan", label="Plan", field_type="text")
    ContactFactory(
        email="a@example.com",
        company="Acme",
        custom_fields={"plan": "Pro"},
        validation_status="risky",
        validation_reason="role_account",
    )
    response = marketer_client.post(
        "/contacts/columns/",
        {
            "columns": ["company", "cf_plan", "validation"],
            "next": "/contacts/?q=a",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/contacts/?q=a"
    marketer.refresh_from_db()
    assert marketer.contact_columns == ["email", "company", "cf_plan", "validation"]
    page = html(marketer_client.get("/contacts/"))
    headings = headings_of(page)
    assert headings == ["Email", "Company", "Plan", "Validation"]
    assert "<td>Pro</td>" in page
    assert '<span class="badge risky" title="role_account">Risky</span>' in page
    # Another user keeps the default columns.
    other = html(owner_client.get("/contacts/"))
    assert headings_of(other) == [
        "Email",
        "Name",
        "Company",
        "Status",
        "Score",
        "Tags",
        "Created",
    ]


def test_contact_list_columns_refuses_offsite_next(marketer_client):
    response = marketer_client.post(
        "/contacts/columns/",
        {
            "columns": ["company"],
            "next": "https://evil.example.com/",
        },
    )
    assert response["Location"] == "/contacts/"


def test_contact_list_drops_saved_column_of_deleted_field(marketer, marketer_client):
    ContactFactory()
    marketer.contact_columns = ["email", "cf_gone", "company"]
    marketer.save()
    page = html(marketer_client.get("/contacts/"))
    headings = headings_of(page)
    assert headings == ["Email", "Company"]


# --- profile ----------------------------------------------------------------------------------


def test_contact_detail_shows_all_fields(marketer, marketer_client):
    CustomFieldFactory(key="plan", label="Plan", field_type="text", position=1)
    CustomFieldFactory(key="trial", label="On trial", field_type="boolean", position=2)
    contact = services.create_contact(
        data={
            "email": "Jane@Example.com",
            "first_name": "Jane",
            "last_name": "Doe",
            "company": "Acme",
            "job_title": "CTO",
            "phone": "+1 555",
            "city": "Paris",
            "country": "France",
            "website": "acme.com",
            "custom_fields": {"plan": "Pro", "trial": True},
        },
        tags=["vip", "newsletter"],
        actor=marketer,
    )
    Contact.objects.filter(pk=contact.pk).update(
        validation_status="invalid", validation_reason="no_such_domain"
    )
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    for label, value in [
        ("Email", "Jane@example.com"),
        ("Company", "Acme"),
        ("Job title", "CTO"),
        ("Phone", "+1 555"),
        ("City", "Paris"),
        ("Country", "France"),
        ("Website", "acme.com"),
        ("Plan", "Pro"),
        ("On trial", "Yes"),
        ("Source", "ui"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    assert '<span class="tag">newsletter</span> <span class="tag">vip</span>' in page
    assert (
        '<span class="badge invalid" title="no_such_domain">Invalid</span> '
        '<small class="muted">no such domain</small>'
    ) in page
    assert f"by {marketer.display_name}</dd>" in page
    assert "<h1>Jane Doe</h1>" in page
    assert f'<a class="btn primary" href="/contacts/{contact.pk}/edit/">Edit</a>' in page
    assert "<td>Created</td>" in page  # history entry


def test_contact_detail_unknown_id_is_404(marketer_client):
    assert marketer_client.get("/contacts/999999/").status_code == 404


# --- create / edit / delete -------------------------------------------------------------------


def test_contact_create_page_saves_contact_tags_and_custom_fields(marketer, marketer_client):
    CustomFieldFactory(key="seats", label="Seats", field_type="number")
    CustomFieldFactory(key="renewal", label="Renewal", field_type="date")
    CustomFieldFactory(key="trial", label="Trial", field_type="boolean")
    CustomFieldFactory(key="plan", label="Plan", field_type="text")
    form = html(marketer_client.get("/contacts/new/"))
    assert '<input type="number" name="cf_seats" step="any" id="id_cf_seats">' in form
    assert '<input type="date" name="cf_renewal" id="id_cf_renewal">' in form
    assert '<input type="checkbox" name="cf_trial" id="id_cf_trial">' in form
    assert '<input type="text" name="cf_plan" maxlength="1000" id="id_cf_plan">' in form

    response = marketer_client.post(
        "/contacts/new/",
        {
            "email": " New.Person@Example.COM ",
            "first_name": "New",
            "last_name": "Person",
            "company": "Globex",
            "status": "active",
            "tags": "vip, Newsletter ,vip, ",
            "cf_seats": "12",
            "cf_renewal": "2026-03-01",
            "cf_trial": "on",
            "cf_plan": "",
        },
    )
    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{contact.pk}/"
    assert (contact.email, contact.email_normalized) == (
        "New.Person@example.com",
        "new.person@example.com",
    )
    assert (contact.first_name, contact.company, contact.source) == ("New", "Globex", "ui")
    assert contact.custom_fields == {"seats": 12, "renewal": "2026-03-01", "trial": True}
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Newsletter", "vip"]
    change = ContactChange.objects.get()
    assert (change.action, change.actor, change.source) == ("created", marketer, "ui")


def test_contact_create_invalid_email_shows_field_error(marketer_client):
    response = marketer_client.post(
        "/contacts/new/", {"email": "jane doe@example", "status": "active"}
    )
    assert response.status_code == 400
    page = html(response)
    assert (
        '<p class="field-error" id="id_email_error">The email address contains invalid '
        "characters before the @-sign: SPACE.</p>"
    ) in page
    assert Contact.objects.count() == 0


def test_contact_create_duplicate_email_links_to_existing(marketer_client):
    existing = ContactFactory(email="jane@example.com")
    response = marketer_client.post(
        "/contacts/new/", {"email": "JANE@example.com", "status": "active"}
    )
    assert response.status_code == 400
    assert (
        "A contact with the email JANE@example.com already exists. "
        f'<a href="/contacts/{existing.pk}/">Open the existing contact</a>'
    ) in html(response)
    assert Contact.objects.count() == 1


def test_contact_create_bad_custom_value_and_tag_show_field_errors(marketer_client):
    CustomFieldFactory(key="seats", label="Seats", field_type="number")
    response = marketer_client.post(
        "/contacts/new/",
        {
            "email": "a@example.com",
            "status": "active",
            "cf_seats": "many",
            "tags": "x" * 65,
        },
    )
    assert response.status_code == 400
    page = html(response)
    assert '<p class="field-error" id="id_cf_seats_error">Enter a number.</p>' in page
    assert (
        f'<p class="field-error" id="id_tags_error">Tag &#x27;{"x" * 20}&#x27;… is longer '
        "than 64 characters.</p>"
    ) in page
    assert Contact.objects.count() == 0


def test_contact_edit_records_exact_history(marketer, marketer_client):
    CustomFieldFactory(key="plan", label="Plan", field_type="text")
    CustomFieldFactory(key="trial", label="Trial", field_type="boolean")
    contact = services.create_contact(
        data={
            "email": "jane@example.com",
            "first_name": "Jane",
            "company": "Acme",
            "custom_fields": {"plan": "Free"},
        },
        tags=["vip"],
        actor=marketer,
    )
    form = html(marketer_client.get(f"/contacts/{contact.pk}/edit/"))
    assert 'name="company" value="Acme"' in form
    assert 'name="tags" value="vip"' in form
    assert 'name="cf_plan" value="Free"' in form
    response = marketer_client.post(
        f"/contacts/{contact.pk}/edit/",
        {
            "email": "jane@example.com",
            "first_name": "Jane",
            "company": "Globex",
            "status": "active",
            "tags": "vip, customer",
            "cf_plan": "Pro",
        },
    )
    assert response.status_code == 302
    change = ContactChange.objects.filter(action="updated").get()
    assert change.changes == {
        "company": ["Acme", "Globex"],
        "custom_fields": [{"plan": "Free"}, {"plan": "Pro"}],
        "tags": [["vip"], ["customer", "vip"]],
    }
    assert (change.actor, change.source) == (marketer, "ui")
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert (
        '<li><strong>Company</strong>: <span class="old">Acme</span> → '
        '<span class="new">Globex</span></li>'
    ) in page
    assert (
        '<li><strong>Plan</strong>: <span class="old">Free</span> → '
        '<span class="new">Pro</span></li>'
    ) in page
    assert (
        '<li><strong>Tags</strong>: <span class="old">vip</span> → '
        '<span class="new">customer, vip</span></li>'
    ) in page


def test_contact_edit_without_changes_records_nothing(marketer, marketer_client):
    CustomFieldFactory(key="trial", label="Trial", field_type="boolean")
    contact = services.create_contact(data={"email": "a@example.com"}, actor=marketer)
    # An unticked box on a contact without the field must not invent a "No".
    response = marketer_client.post(
        f"/contacts/{contact.pk}/edit/",
        {
            "email": "a@example.com",
            "status": "active",
            "tags": "",
        },
    )
    assert response.status_code == 302
    assert list(ContactChange.objects.values_list("action", flat=True)) == ["created"]


def test_contact_edit_to_duplicate_email_is_refused(marketer_client):
    taken = ContactFactory(email="taken@example.com")
    contact = ContactFactory(email="mine@example.com")
    response = marketer_client.post(
        f"/contacts/{contact.pk}/edit/",
        {
            "email": "Taken@Example.com",
            "status": "active",
        },
    )
    assert response.status_code == 400
    assert f'<a href="/contacts/{taken.pk}/">Open the existing contact</a>' in html(response)
    contact.refresh_from_db()
    assert contact.email == "mine@example.com"


def test_contact_delete_asks_then_deletes(marketer, marketer_client):
    contact = ContactFactory(email="gone@example.com")
    confirm = marketer_client.get(f"/contacts/{contact.pk}/delete/")
    assert "<h1>Delete gone@example.com?</h1>" in html(confirm)
    assert Contact.objects.filter(pk=contact.pk).exists()
    response = marketer_client.post(f"/contacts/{contact.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/contacts/"
    assert not Contact.objects.filter(pk=contact.pk).exists()
    change = ContactChange.objects.get()
    assert (change.action, change.contact_email, change.actor) == (
        "deleted",
        "gone@example.com",
        marketer,
    )


def test_profile_delete_button_asks_for_confirmation(marketer_client):
    contact = ContactFactory(email="x@example.com")
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert f'<form method="post" action="/contacts/{contact.pk}/delete/">' in page
    assert 'data-confirm="Delete x@example.com? This can\'t be undone."' in page


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "path", ["/contacts/new/", "/contacts/{pk}/edit/", "/contacts/{pk}/delete/"]
)
def test_viewer_gets_403_on_writes(viewer_client, method, path):
    contact = ContactFactory(email="keep@example.com", company="Acme")
    data = {"email": "changed@example.com", "status": "active"} if method == "post" else None
    response = getattr(viewer_client, method)(path.format(pk=contact.pk), data)
    assert response.status_code == 403
    contact.refresh_from_db()
    assert (Contact.objects.count(), contact.email) == (1, "keep@example.com")


def test_viewer_sees_pages_without_write_buttons(viewer_client):
    contact = ContactFactory(email="seen@example.com")
    table = html(viewer_client.get("/contacts/"))
    assert listed_from(table) == ["seen@example.com"]
    assert "/contacts/new/" not in table
    assert "/contacts/fields/" not in table
    profile = html(viewer_client.get(f"/contacts/{contact.pk}/"))
    assert "<dt>Email</dt><dd>seen@example.com</dd>" in profile
    assert f"/contacts/{contact.pk}/edit/" not in profile
    assert f"/contacts/{contact.pk}/delete/" not in profile


def test_viewer_empty_state_does_not_offer_add(viewer_client):
    page = html(viewer_client.get("/contacts/"))
    assert "No contacts yet" in page
    assert "/contacts/new/" not in page


def listed_from(page: str) -> list[str]:
    return [email for _pk, email in ROW_LINK.findall(page)]


# --- tenant isolation -------------------------------------------------------------------------


def test_other_tenant_never_sees_contact(tenant, other_tenant):
    contact = ContactFactory(email="secret@alpha.example.com", company="Alphaco")
    outsider = make_user(other_tenant, "owner")
    client = client_for(other_tenant, outsider)
    with in_schema(other_tenant):
        ContactFactory(email="own@beta.example.com")
        assert not Contact.objects.filter(pk=contact.pk).exists()
    for path in ("/contacts/{pk}/", "/contacts/{pk}/edit/", "/contacts/{pk}/delete/"):
        assert client.get(path.format(pk=contact.pk)).status_code == 404
    assert client.post(f"/contacts/{contact.pk}/delete/").status_code == 404
    assert listed(client.get("/contacts/")) == ["own@beta.example.com"]
    assert listed(client.get("/contacts/", {"q": "secret"})) == []
    assert listed(client.get("/contacts/", {"q": "alphaco"})) == []
    connection.set_tenant(tenant)  # the requests left the connection in other_tenant's schema
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- escaping ---------------------------------------------------------------------------------


def test_html_in_contact_values_is_escaped(marketer, marketer_client):
    CustomFieldFactory(key="note", label="<i>Note</i>", field_type="text")
    marketer.contact_columns = ["email", "name", "company", "tags", "cf_note"]
    marketer.save()
    contact = services.create_contact(
        data={
            "email": "x@example.com",
            "first_name": "<script>alert(1)</script>",
            "company": '"><img src=x onerror=alert(2)>',
            "custom_fields": {"note": "<b>bold</b>"},
        },
        tags=["<svg onload=alert(3)>"],
        actor=marketer,
    )
    services.update_contact(contact=contact, data={"last_name": "<u>Doe</u>"}, actor=marketer)
    for page in (
        html(marketer_client.get("/contacts/")),
        html(marketer_client.get(f"/contacts/{contact.pk}/")),
        html(marketer_client.get(f"/contacts/{contact.pk}/edit/")),
    ):
        for raw in (
            "<script>alert(1)",
            "<img src=x",
            "<svg onload",
            "<b>bold",
            "<i>Note",
            "<u>Doe",
        ):
            assert raw not in page
    table = html(marketer_client.get("/contacts/"))
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt; &lt;u&gt;Doe&lt;/u&gt;</td>" in table
    assert "<td>&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</td>" in table
    assert '<span class="tag">&lt;svg onload=alert(3)&gt;</span>' in table
    assert "<td>&lt;b&gt;bold&lt;/b&gt;</td>" in table
    assert "&lt;i&gt;Note&lt;/i&gt;</th>" in table


# --- Django admin -----------------------------------------------------------------------------


@pytest.fixture
def staff_client(tenant):
    staff = make_user(tenant, "owner", email="support@alpha.example.com")
    staff.is_staff = True
    staff.is_superuser = True
    staff.save()
    return client_for(tenant, staff), staff


def test_admin_contact_list_searches_and_filters(staff_client):
    client, _staff = staff_client
    ContactFactory(email="jane@acme.com", first_name="Jane", company="Acme")
    ContactFactory(email="bob@globex.com", first_name="Bob", company="Globex", status="bounced")
    page = html(client.get("/admin/contacts/contact/", {"q": "acme"}))
    assert "jane@acme.com" in page
    assert "bob@globex.com" not in page
    page = html(client.get("/admin/contacts/contact/", {"status__exact": "bounced"}))
    assert "bob@globex.com" in page
    assert "jane@acme.com" not in page


def test_admin_contact_change_goes_through_services(staff_client):
    client, staff = staff_client
    contact = services.create_contact(data={"email": "a@example.com", "company": "Acme"})
    ContactFactory(email="taken@example.com")
    url = f"/admin/contacts/contact/{contact.pk}/change/"
    form = {
        "email": "A@Example.com",
        "first_name": "",
        "last_name": "",
        "company": "Globex",
        "job_title": "",
        "phone": "",
        "website": "",
        "city": "",
        "country": "",
        "status": "active",
        "tags_text": "vip",
        "custom_fields": "{}",
        "validation_status": "unknown",
        "validation_reason": "",
    }
    response = client.post(url, form)
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.email, contact.email_normalized, contact.company) == (
        "A@example.com",
        "a@example.com",
        "Globex",
    )
    change = ContactChange.objects.get(action="updated")
    assert change.source == "admin"
    assert change.actor == staff
    assert change.changes["company"] == ["Acme", "Globex"]
    refused = client.post(url, {**form, "email": "TAKEN@example.com"})
    assert refused.status_code == 200
    assert "A contact with this email already exists" in html(refused)


def test_admin_hides_contacts_on_public_schema(tenant):
    from django_tenants.utils import schema_context

    from penguinleads.accounts.models import User

    with schema_context("public"):
        support = User.objects.create_superuser("helper@support.example.com", "pw-secret-123")
        client = client_for_public(support)
        page = html(client.get("/admin/"))
        assert "/admin/contacts/" not in page
        assert client.get("/admin/contacts/contact/").status_code == 403


def client_for_public(user):
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def test_admin_paginator_uses_estimate_only_without_filters(tenant):
    from contacts.admin import EstimatedCountPaginator

    ContactFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    EstimatedCountPaginator.EXACT_BELOW = 0
    try:
        assert EstimatedCountPaginator(Contact.objects.all(), 50).count == 3
        assert EstimatedCountPaginator(Contact.objects.filter(status="bounced"), 50).count == 0
    finally:
        EstimatedCountPaginator.EXACT_BELOW = 100_000


def test_admin_contact_add_goes_through_services(staff_client):
    client, staff = staff_client
    CustomFieldFactory(key="seats", field_type="number")
    form = {
        "email": "New@Example.com",
        "first_name": "New",
        "last_name": "",
        "company": "",
        "job_title": "",
        "phone": "",
        "website": "",
        "city": "",
        "country": "",
        "status": "active",
        "tags_text": "vip, Partner",
        "custom_fields": '{"seats": "7"}',
        "validation_status": "valid",
        "validation_reason": "",
    }
    response = client.post("/admin/contacts/contact/add/", form)
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert (contact.email_normalized, contact.source, contact.created_by) == (
        "new@example.com",
        "admin",
        staff,
    )
    assert contact.custom_fields == {"seats": 7}
    assert contact.validation_status == "valid"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Partner", "vip"]
    refused = client.post(
        "/admin/contacts/contact/add/",
        {
            **form,
            "email": "other@example.com",
            "custom_fields": '{"seats": "many"}',
        },
    )
    assert "seats: &#x27;many&#x27; is not a number." in html(refused)
    assert Contact.objects.count() == 1


def test_admin_custom_field_type_change_refused_with_values(staff_client):
    client, _staff = staff_client
    field = CustomFieldFactory(key="seats", label="Seats", field_type="text")
    ContactFactory(custom_fields={"seats": "ten"})
    response = client.post(
        f"/admin/contacts/customfield/{field.pk}/change/",
        {
            "label": "Seats",
            "field_type": "number",
            "position": "0",
        },
    )
    assert response.status_code == 200
    assert "can&#x27;t be changed because contacts already have values" in html(response)
    field.refresh_from_db()
    assert field.field_type == "text"
