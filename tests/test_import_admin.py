"""Support staff in the tenant admin: imports (read-only, roll back), the contact admin's
import (into the app's import flow) and export (django-import-export), and ContactResource,
whose import side applies the pipeline's own mapping and row rules."""

from __future__ import annotations

import csv
import io

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from contacts.emails import InvalidEmail, normalize_email
from contacts.models import Contact, ContactChange
from imports import services
from imports.mapping import save_preset
from imports.models import ImportJob, ImportRowError, ImportStatus
from imports.resources import ContactResource
from penguinleads.accounts.models import User
from tests.conftest import host_of, in_schema, make_user
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory, CustomFieldFactory, TagFactory
from tests.test_api_keys import ApiClient

BAD_EMAIL_FILE = "E-mail Address,Given Name\nann@acme-mail.com,Ann\nann at acme,Bad\n"


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def staff_of(tenant, email: str) -> User:
    user = make_user(tenant, "admin", email=email)
    with in_schema(tenant):
        user.is_staff = user.is_superuser = True
        user.save()
    return user


def admin_client(tenant, user) -> ApiClient:
    """Logged in on `tenant`'s host; puts the test's connection back in its schema after
    each request."""
    client = ApiClient(HTTP_HOST=host_of(tenant))
    with in_schema(tenant):
        client.force_login(user)
    return client


@pytest.fixture
def staff(tenant) -> User:
    return staff_of(tenant, "staff@alpha.example.com")


@pytest.fixture
def staff_client(tenant, staff) -> ApiClient:
    return admin_client(tenant, staff)


def pipeline_message(raw: str) -> str:
    with pytest.raises(InvalidEmail) as caught:
        normalize_email(raw)
    return str(caught.value)


def text(response) -> str:
    return response.content.decode()


# --- export ----------------------------------------------------------------------------------


def exported_rows(response) -> list[dict]:
    assert response.status_code == 200, text(response)[:500]
    assert response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(text(response))))


def test_contact_admin_export_csv_has_fields_tags_and_custom_fields(tenant, staff_client):
    CustomFieldFactory(key="plan", label="Plan", field_type="number")
    ann = ContactFactory(
        email="Ann@Acme-Mail.com", first_name="Ann", company="Acme", custom_fields={"plan": 12}
    )
    ann.tags.add(TagFactory(name="vip"), TagFactory(name="fair"))
    ContactFactory(email="bo@acme-mail.com", first_name="Bo", company="")

    response = staff_client.post("/admin/contacts/contact/export/", {"format": "0"})

    rows = exported_rows(response)
    assert list(rows[0]) == [
        "id",
        "email",
        "first_name",
        "last_name",
        "company",
        "job_title",
        "phone",
        "website",
        "city",
        "country",
        "tags",
        "status",
        "validation_status",
        "validation_reason",
        "source",
        "created_at",
        "updated_at",
        "plan",
    ]
    picked = [(r["email"], r["first_name"], r["company"], r["tags"], r["plan"]) for r in rows]
    assert sorted(picked) == [
        ("Ann@Acme-Mail.com", "Ann", "Acme", "fair, vip", "12"),
        ("bo@acme-mail.com", "Bo", "", "", ""),
    ]


def test_contact_admin_export_follows_the_list_search(tenant, staff_client):
    ContactFactory(email="ann@acme-mail.com", company="Acme")
    ContactFactory(email="bo@other-mail.com", company="Other")

    response = staff_client.post("/admin/contacts/contact/export/?q=acme", {"format": "0"})

    assert [r["email"] for r in exported_rows(response)] == ["ann@acme-mail.com"]


def test_contact_admin_export_of_other_tenant_has_none_of_tenants_contacts(tenant, other_tenant):
    ContactFactory(email="secret@acme-mail.com")
    other = admin_client(other_tenant, staff_of(other_tenant, "staff@beta.example.com"))
    with in_schema(other_tenant):
        ContactFactory(email="own@beta-mail.com")

    response = other.post("/admin/contacts/contact/export/", {"format": "0"})

    assert [r["email"] for r in exported_rows(response)] == ["own@beta-mail.com"]


def test_contact_export_is_not_offered_in_the_public_admin(db):
    with schema_context("public"):
        staff = User.objects.create_superuser("support@penguin.test", "staff-pass-123")
    client = ApiClient(HTTP_HOST="localhost")
    with schema_context("public"):
        client.force_login(staff)

    assert client.get("/admin/contacts/contact/export/").status_code == 403
    assert client.get("/admin/contacts/contact/import/").status_code == 403


# --- import through the admin: the app's import flow -----------------------------------------


def test_contact_admin_offers_import_and_export(tenant, staff_client):
    page = text(staff_client.get("/admin/contacts/contact/"))

    assert '<a href="/admin/contacts/contact/import/" class="import_link">Import contacts</a>' in (
        page
    )
    assert 'href="/admin/contacts/contact/export/' in page


def test_contact_admin_import_reports_the_pipelines_error(tenant, staff, staff_client, dns_server):
    upload = SimpleUploadedFile("support.csv", BAD_EMAIL_FILE.encode())

    response = staff_client.post("/admin/contacts/contact/import/", {"file": upload})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/map/"
    assert (job.original_name, job.created_by, job.status) == ("support.csv", staff, "uploaded")
    assert job.file.startswith(f"imports/{tenant.schema_name}/")
    assert staff_client.get(response["Location"]).status_code == 200

    mapped = staff_client.post(
        f"/imports/{job.pk}/map/",
        {
            "col_0": "email",
            "col_1": "first_name",
            "strategy": "update",
            "tags": "",
        },
    )
    assert mapped["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.created, job.invalid) == (ImportStatus.READY, 1, 1)
    error = ImportRowError.objects.get(job=job)
    message = pipeline_message("ann at acme")
    assert (error.line, error.column, error.value, error.reason) == (
        3,
        "E-mail Address",
        "ann at acme",
        message,
    )
    assert message in text(staff_client.get(f"/imports/{job.pk}/"))

    # The other front door, django-import-export with ContactResource, says the same.
    result = ContactResource().import_data(
        tablib.Dataset().load(BAD_EMAIL_FILE, format="csv"), dry_run=True
    )
    [invalid] = result.invalid_rows
    assert (invalid.number, invalid.error_dict) == (2, {"E-mail Address": [message]})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "This file is empty."),
        (
            b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
            "This file is not a CSV or Excel file. Upload a .csv, .tsv, .txt, .xlsx or .xls file.",
        ),
    ],
)
def test_contact_admin_import_refuses_unusable_files(tenant, staff_client, content, message):
    response = staff_client.post(
        "/admin/contacts/contact/import/", {"file": SimpleUploadedFile("x.csv", content)}
    )

    assert response.status_code == 400
    assert message in text(response)
    assert ImportJob.objects.count() == 0


def test_contact_admin_import_needs_a_file(tenant, staff_client):
    response = staff_client.post("/admin/contacts/contact/import/", {})

    assert response.status_code == 400
    assert "Choose a file to import." in text(response)


# --- ContactResource's import side: the pipeline's mapping and row rules ----------------------


def test_contact_resource_import_maps_checks_and_updates_like_the_pipeline(tenant):
    CustomFieldFactory(key="plan", label="Plan", field_type="number")
    ContactFactory(
        email="ann@acme-mail.com",
        first_name="Ann",
        company="Old Co",
        custom_fields={"plan": 1, "kept": "x"},
    )
    dataset = tablib.Dataset().load(
        "E-mail Address,Given Name,Company,Plan\n"
        "ANN@acme-mail.com,,New Co,3\n"
        "New@Acme-Mail.com,Nia,,12\n"
        "bad@acme-mail.com,Bad,,lots\n",
        format="csv",
    )

    result = ContactResource(tags=["support"]).import_data(dataset)

    assert [(r.number, r.error_dict) for r in result.invalid_rows] == [
        (3, {"Plan": ["'lots' is not a number."]})
    ]
    assert not result.has_errors()
    ann = Contact.objects.get(email_normalized="ann@acme-mail.com")
    assert (ann.email, ann.first_name, ann.company, ann.custom_fields) == (
        "ann@acme-mail.com",
        "Ann",
        "New Co",
        {"plan": 3, "kept": "x"},
    )
    new = Contact.objects.get(email_normalized="new@acme-mail.com")
    assert (new.email, new.first_name, new.custom_fields, new.source) == (
        "New@acme-mail.com",
        "Nia",
        {"plan": 12},
        "import_export",
    )
    assert [list(c.tags.values_list("name", flat=True)) for c in (ann, new)] == [
        ["support"],
        ["support"],
    ]
    history = ContactChange.objects.filter(source="import_export")
    assert sorted(history.values_list("contact_email", "action")) == [
        ("New@acme-mail.com", "created"),
        ("ann@acme-mail.com", "updated"),
    ]
    assert history.get(action="updated").changes == {
        "company": ["Old Co", "New Co"],
        "custom_fields": [{"plan": 1, "kept": "x"}, {"plan": 3, "kept": "x"}],
    }
    assert Contact.objects.count() == 2


def test_contact_resource_import_refuses_a_file_without_email_column(tenant):
    dataset = tablib.Dataset().load("name,company\nAnn,Acme\n", format="csv")

    result = ContactResource().import_data(dataset)

    assert [str(e.error) for e in result.base_errors] == [
        "Map one column to Email: every contact needs an email address."
    ]
    assert result.totals["new"] == 0
    assert Contact.objects.count() == 0


def test_contact_resource_export_then_import_round_trips(tenant):
    CustomFieldFactory(key="plan", label="Plan", field_type="number")
    ann = ContactFactory(email="ann@acme-mail.com", first_name="Ann", custom_fields={"plan": 2})
    ann.tags.add(TagFactory(name="vip"))
    exported = ContactResource().export(Contact.objects.all())
    Contact.objects.all().delete()

    result = ContactResource().import_data(tablib.Dataset().load(exported.csv, format="csv"))

    assert not result.has_errors() and not result.has_validation_errors()
    again = Contact.objects.get()
    assert (again.email, again.first_name, again.custom_fields) == (
        "ann@acme-mail.com",
        "Ann",
        {"plan": 2},
    )
    assert list(again.tags.values_list("name", flat=True)) == ["vip"]


# --- imports in the admin ----------------------------------------------------------------------


def finished_import(text_: str) -> ImportJob:
    job = services.create_import(
        fileobj=SimpleUploadedFile("alpha-leads.csv", text_.encode()),
        filename="alpha-leads.csv",
        user=None,
    )
    return services.start_import(job=services.analyse_import(job=job), user=None)


def test_import_admin_shows_counts_status_and_errors(tenant, staff_client, dns_server):
    job = finished_import("email\nok@acme-mail.com\n" + "".join(f"bad{i}\n" for i in range(105)))

    listing = text(staff_client.get("/admin/imports/importjob/"))
    detail = staff_client.get(f"/admin/imports/importjob/{job.pk}/change/")

    assert "alpha-leads.csv" in listing
    assert detail.status_code == 200
    assert detail.context["original"] == job
    inline = detail.context["inline_admin_formsets"][0]
    shown = [form.form.instance.line for form in inline]
    assert shown == list(range(3, 103))  # the first 100 of 105
    page = text(detail)
    assert "Row errors (the first 100)" in page
    assert f'<a href="/imports/{job.pk}/">Import page</a>' in page
    assert '<div class="readonly">105</div>' in page  # invalid
    assert "Finished" in page


def test_import_admin_rolls_back(tenant, staff, staff_client, dns_server):
    job = finished_import("email\nok@acme-mail.com\n")
    assert Contact.objects.count() == 1

    response = staff_client.post(
        "/admin/imports/importjob/",
        {
            "action": "roll_back",
            "_selected_action": [job.pk],
            "index": 0,
        },
        follow=True,
    )

    job.refresh_from_db()
    assert (job.status, job.rolled_back_by) == (ImportStatus.ROLLED_BACK, staff)
    assert Contact.objects.count() == 0
    assert f"Import #{job.pk} alpha-leads.csv: rolled back." in text(response)


@pytest.mark.parametrize(
    ("action", "left", "message"),
    [
        (
            "roll_back",
            ["Later"],
            "rolled back. 1 contact(s) changed after the import were left "
            "alone, e.g. ok@acme-mail.com.",
        ),
        ("roll_back_forced", [], "rolled back."),
    ],
)
def test_import_admin_rollback_of_contacts_changed_since(
    tenant, staff_client, dns_server, action, left, message
):
    from contacts.services import update_contact

    job = finished_import("email\nok@acme-mail.com\n")
    update_contact(contact=Contact.objects.get(), data={"company": "Later"}, source="ui")

    response = staff_client.post(
        "/admin/imports/importjob/",
        {"action": action, "_selected_action": [job.pk], "index": 0},
        follow=True,
    )

    assert f"Import #{job.pk} alpha-leads.csv: {message}</li>" in text(response)
    assert list(Contact.objects.values_list("company", flat=True)) == left


def test_import_admin_rollback_of_an_import_not_run_says_why(tenant, staff_client, dns_server):
    job = services.create_import(
        fileobj=SimpleUploadedFile("x.csv", b"email\nx@y.com\n"), filename="x.csv", user=None
    )

    response = staff_client.post(
        "/admin/imports/importjob/",
        {"action": "roll_back", "_selected_action": [job.pk], "index": 0},
        follow=True,
    )

    assert (
        f"Import #{job.pk} x.csv: Only a finished or cancelled import can be rolled back."
        in text(response)
    )


def test_import_admin_of_other_tenant_never_sees_tenants_imports(tenant, other_tenant, dns_server):
    job = finished_import("email\nsecret@acme-mail.com\n")
    other = admin_client(other_tenant, staff_of(other_tenant, "staff@beta.example.com"))

    listing = other.get("/admin/imports/importjob/")
    detail = other.get(f"/admin/imports/importjob/{job.pk}/change/", follow=True)
    rollback = other.post(
        "/admin/imports/importjob/",
        {"action": "roll_back_forced", "_selected_action": [job.pk], "index": 0},
        follow=True,
    )

    assert listing.status_code == 200
    assert "alpha-leads.csv" not in text(listing)
    assert "alpha-leads.csv" not in text(detail)
    assert "doesn\u2019t exist" in text(detail)
    assert "alpha-leads.csv" not in text(rollback)
    job.refresh_from_db()
    assert job.status == ImportStatus.FINISHED
    assert Contact.objects.get().email == "secret@acme-mail.com"
    with in_schema(other_tenant):
        assert ImportJob.objects.count() == 0


def test_import_admin_is_read_only(tenant, staff_client, dns_server):
    job = finished_import("email\nok@acme-mail.com\n")

    add = staff_client.get("/admin/imports/importjob/add/")
    delete = staff_client.post(f"/admin/imports/importjob/{job.pk}/delete/", {"post": "yes"})

    assert (add.status_code, delete.status_code) == (403, 403)
    assert ImportJob.objects.filter(pk=job.pk).exists()


def test_mapping_preset_admin_lists_presets_of_this_tenant_only(tenant, other_tenant, staff_client):
    save_preset(
        name="Alpha CRM export", headers=["Email", "Name"], mapping={"0": "email", "1": "full_name"}
    )
    other = admin_client(other_tenant, staff_of(other_tenant, "staff@beta.example.com"))

    own = staff_client.get("/admin/imports/mappingpreset/")
    theirs = other.get("/admin/imports/mappingpreset/")

    assert [p.name for p in own.context["cl"].result_list] == ["Alpha CRM export"]
    assert theirs.status_code == 200
    assert list(theirs.context["cl"].result_list) == []
    assert "Alpha CRM export" not in text(theirs)
