"""Imports that add their rows to a list: the mapping page option, "New list from CSV",
`import_contacts --list`, resumption without duplicates, and rollback removing memberships."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from contacts.models import Contact
from imports import services as imports
from imports.models import ImportJob, ImportStatus
from segments import services
from segments.models import ListChange, ListMembership, StaticList
from tests.conftest import client_for, make_user
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory

CSV = (
    "Email,First Name\n"
    "ada@example.com,Ada\n"        # new
    "grace@example.com,Grace\n"    # already a contact
    "not-an-email,Al\n"            # invalid
    "ADA@example.com,Ada again\n"  # duplicate in the file
)


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)


def members(static_list: StaticList) -> list[tuple[str, str, int | None]]:
    return sorted(
        ListMembership.objects.filter(static_list=static_list)
        .values_list("contact__email_normalized", "source", "source_ref")
    )


def run(text: str, **options) -> ImportJob:
    job = imports.create_import(fileobj=ContentFile(text.encode(), name="f.csv"),
                                filename="f.csv", user=None)
    job = imports.configure_import(job=job, **options)
    job = imports.analyse_import(job=job, inline=True)
    return imports.start_import(job=job, user=None, inline=True)


def test_import_adds_written_and_matched_rows_not_refused_ones(tenant, dns_server):
    ContactFactory(email="grace@example.com")
    target = services.create_list(name="Leads")
    job = run(CSV, strategy="skip", target_list=target)
    assert job.status == ImportStatus.FINISHED
    assert members(target) == [
        ("ada@example.com", "import", job.pk), ("grace@example.com", "import", job.pk),
    ]
    assert list(ListChange.objects.values_list("added", "source", "source_ref")) == [
        (2, "import", job.pk)
    ]


def test_import_chunk_run_twice_adds_nobody_twice(tenant, dns_server):
    from imports import pipeline

    target = services.create_list(name="Leads")
    job = imports.create_import(fileobj=ContentFile(CSV.encode(), name="f.csv"),
                                filename="f.csv", user=None)
    job = imports.configure_import(job=job, strategy="update", target_list=target)
    job = imports.analyse_import(job=job, inline=True)
    ((low, high),) = pipeline.chunk_bounds(job, 1000)
    pipeline.apply_chunk(job, low, high, user_id=None)
    pipeline.apply_chunk(job, low, high, user_id=None)  # a worker's retry of the same chunk
    assert members(target) == [
        ("ada@example.com", "import", job.pk), ("grace@example.com", "import", job.pk),
    ]
    assert list(ListChange.objects.values_list("added", flat=True)) == [2]


def test_rollback_removes_the_import_memberships_only(tenant, dns_server):
    grace = ContactFactory(email="grace@example.com")
    target = services.create_list(name="Leads")
    sql, params = services.ids_of([grace.pk])
    services.add_contacts_to_list(static_list=target, ids_sql=sql, params=params,
                                  source="manual")
    job = run(CSV, strategy="skip", target_list=target)
    assert len(members(target)) == 2  # grace was already in: kept her manual membership
    job = imports.rollback_import(job=job, user=None, inline=True)
    assert job.status == ImportStatus.ROLLED_BACK
    assert job.rollback_report["unlisted"] == 1
    assert members(target) == [("grace@example.com", "manual", None)]
    assert not Contact.objects.filter(email_normalized="ada@example.com").exists()


def test_import_into_a_list_deleted_meanwhile_still_imports(tenant, dns_server):
    target = services.create_list(name="Leads")
    job = imports.create_import(fileobj=ContentFile(CSV.encode(), name="f.csv"),
                                filename="f.csv", user=None)
    job = imports.configure_import(job=job, strategy="skip", target_list=target)
    job = imports.analyse_import(job=job, inline=True)
    services.delete_list(static_list=target)
    job = imports.start_import(job=job, user=None, inline=True)
    assert (job.status, job.created, job.target_list_id) == (ImportStatus.FINISHED, 2, None)
    assert ListMembership.objects.count() == 0


def test_import_contacts_command_creates_the_list(tenant, dns_server, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    out = io.StringIO()
    call_command("import_contacts", str(path), tenant=tenant.schema_name, list="Webinar 2025",
                 json=True, stdout=out)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    target = StaticList.objects.get(name="Webinar 2025")
    assert members(target) == [
        ("ada@example.com", "import", summary["import_id"]),
        ("grace@example.com", "import", summary["import_id"]),
    ]
    # Again, with the name in other case: the same list, nobody added twice.
    call_command("import_contacts", str(path), tenant=tenant.schema_name, list="webinar 2025",
                 stdout=io.StringIO())
    assert StaticList.objects.count() == 1
    assert len(members(target)) == 2


def test_import_contacts_command_refuses_bad_list_name(tenant, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError) as caught:
        call_command("import_contacts", str(path), tenant=tenant.schema_name, list="x" * 201,
                     stdout=io.StringIO())
    assert str(caught.value) == "At most 200 characters (got 201)."


def test_map_page_offers_lists_and_adds_to_a_new_one(marketer_client, marketer, dns_server):
    services.create_list(name="Existing")
    marketer_client.post("/imports/new/", {"file": SimpleUploadedFile("f.csv", CSV.encode())})
    job = ImportJob.objects.get()
    page = marketer_client.get(f"/imports/{job.pk}/map/").content.decode()
    assert '<label for="id_target_list">Add the rows to a list</label>' in page
    assert ">Existing</option>" in page
    response = marketer_client.post(f"/imports/{job.pk}/map/", {
        "col_0": "email", "col_1": "first_name", "strategy": "skip",
        "target_list": "", "new_list": "  From   the map ",
    })
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.target_list.name == "From the map"
    assert job.target_list.created_by == marketer
    marketer_client.post(f"/imports/{job.pk}/start/")
    assert [email for email, _s, _r in members(job.target_list)] == [
        "ada@example.com", "grace@example.com",
    ]


def test_map_page_refuses_a_deleted_list(marketer_client, dns_server):
    gone = services.create_list(name="Gone")
    marketer_client.post("/imports/new/", {"file": SimpleUploadedFile("f.csv", CSV.encode())})
    job = ImportJob.objects.get()
    services.delete_list(static_list=gone)
    response = marketer_client.post(f"/imports/{job.pk}/map/", {
        "col_0": "email", "col_1": "first_name", "strategy": "skip", "target_list": gone.pk,
    })
    assert response.status_code == 400
    assert "That list no longer exists; choose another." in response.content.decode()


def test_new_list_from_csv_goes_through_the_import(marketer_client, marketer, dns_server):
    ContactFactory(email="grace@example.com", first_name="Grace")
    response = marketer_client.post("/lists/from-file/", {
        "name": "Trade show", "file": SimpleUploadedFile("f.csv", CSV.encode()),
    })
    job = ImportJob.objects.get()
    assert response["Location"] == f"/imports/{job.pk}/map/"
    assert (job.strategy, job.target_list.name) == ("skip", "Trade show")
    page = marketer_client.get(f"/imports/{job.pk}/map/").content.decode()
    assert f'<option value="{job.target_list_id}" selected>Trade show</option>' in page
    marketer_client.post(f"/imports/{job.pk}/map/", {
        "col_0": "email", "col_1": "first_name", "strategy": "skip",
        "target_list": job.target_list_id,
    })
    marketer_client.post(f"/imports/{job.pk}/start/")
    assert [email for email, _s, _r in members(job.target_list)] == [
        "ada@example.com", "grace@example.com",
    ]
    assert Contact.objects.get(email_normalized="grace@example.com").first_name == "Grace"


def test_new_list_from_csv_refuses_taken_name_and_keeps_nothing(marketer_client):
    services.create_list(name="Trade show")
    response = marketer_client.post("/lists/from-file/", {
        "name": "TRADE SHOW", "file": SimpleUploadedFile("f.csv", CSV.encode()),
    })
    assert response.status_code == 400
    assert "A list named “TRADE SHOW” already exists." in response.content.decode()
    assert StaticList.objects.count() == 1


def test_review_and_result_pages_say_who_joins_the_list(marketer_client, marketer, tenant,
                                                         other_tenant, dns_server):
    """A file of contacts that all exist already, skipped: nothing to import, yet every
    valid row joins the list. The review page says so (and the button too); the result page
    says how many joined. The other workspace sees neither page."""
    for name in ("ada", "grace"):
        ContactFactory(email=f"{name}@example.com")
    marketer_client.post("/lists/from-file/", {
        "name": "Trade show", "file": SimpleUploadedFile("f.csv", CSV.encode()),
    })
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/map/", {
        "col_0": "email", "col_1": "first_name", "strategy": "skip",
        "target_list": job.target_list_id,
    })
    review = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    # ada and grace (not the invalid row, nor ADA repeated)
    assert 'data-list-joiners="2"' in review
    assert "<strong>2</strong> contacts will be in the list" in review
    assert "Add 2 contacts to Trade show</button>" in review
    outsider = client_for(other_tenant, make_user(other_tenant, "owner"))
    assert outsider.get(f"/imports/{job.pk}/").status_code == 404
    marketer_client.post(f"/imports/{job.pk}/start/")
    result = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert 'data-list-joined="2"' in result
    assert f'joined the list <a href="/lists/{job.target_list_id}/">Trade show</a>' in result
    assert ("gives the contacts it updated their previous values back, removes the tags it added "
            "and takes the 2 contacts it added out of Trade show.") in result
    assert outsider.get(f"/imports/{job.pk}/").status_code == 404
    assert "Trade show" not in outsider.get("/lists/").content.decode()


def test_list_summary_before_and_after_the_run_and_the_button_names_both(
        marketer_client, dns_server):
    ContactFactory(email="grace@example.com")
    target = services.create_list(name="Leads")
    job = imports.create_import(fileobj=ContentFile(CSV.encode(), name="f.csv"),
                                filename="f.csv", user=None)
    job = imports.configure_import(job=job, strategy="skip", target_list=target)
    job = imports.analyse_import(job=job, inline=True)
    assert imports.list_summary(job) == {"list": target, "count": 2}
    review = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "Import 1 contact and add 2 to Leads</button>" in review  # ada new, grace matched
    job = imports.start_import(job=job, user=None, inline=True)
    job.refresh_from_db()
    assert imports.list_summary(job) == {"list": target, "count": 2}
    services.delete_list(static_list=target)  # a deleted list: no summary, no error
    job.refresh_from_db()
    assert imports.list_summary(job) is None
    assert "joined the list" not in marketer_client.get(f"/imports/{job.pk}/").content.decode()
