"""The import pages: history, upload, mapping, the job's page in each state, its actions, the
progress JSON and the error report; roles and tenant isolation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact, CustomField, Tag
from contacts.services import update_contact
from imports.models import ImportJob, ImportRowError, ImportStatus
from tests.browser import browser_page  # noqa: F401  (fixture)
from tests.conftest import client_for, in_schema, make_user
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory, CustomFieldFactory

CSV = (
    "Email,First Name,Company,Plan\n"
    "ada@acme-mail.com,Ada,Analytical,gold\n"
    "grace@example.com,Grace,Navy,silver\n"
    "not-an-email,Al,Alt,bronze\n"
)


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    """Uploaded files go to a folder of this test, not the checkout's .media."""
    settings.MEDIA_ROOT = str(tmp_path)


def html(response) -> str:
    return response.content.decode()


def make_job(**fields) -> ImportJob:
    values = {
        "file": "imports/alpha/0/leads.csv",
        "original_name": "leads.csv",
        "size": 2048,
        "file_format": "csv",
        "read_settings": {
            "encoding": "utf-8",
            "delimiter": ",",
            "quotechar": '"',
            "header_row": 1,
            "file_format": "csv",
        },
        "headers": ["Email", "First Name", "Notes"],
        "preview_rows": [["ada@acme-mail.com", "Ada", "likes engines"]],
        "mapping": {"0": "email", "1": "first_name", "2": "ignore"},
        "status": ImportStatus.UPLOADED,
    }
    values.update(fields)
    return ImportJob.objects.create(**values)


def csv_upload(text: str = CSV, name: str = "leads.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def selected(page: str, name: str) -> str:
    """The selected option value of <select name=…>."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    chosen = re.findall(r'<option value="([^"]*)"[^>]*selected', select.group(1))
    assert len(chosen) == 1, (name, chosen)
    return chosen[0]


# --- history ----------------------------------------------------------------------------------


def test_import_list_empty_state_offers_first_import(marketer_client):
    page = html(marketer_client.get("/imports/"))
    assert "<h2>Import your first spreadsheet</h2>" in page
    assert '<a class="btn primary" href="/imports/new/">Import a spreadsheet</a>' in page


def test_import_list_empty_state_for_viewer_has_no_button(viewer_client):
    page = html(viewer_client.get("/imports/"))
    assert "<h2>Import your first spreadsheet</h2>" in page
    assert 'href="/imports/new/"' not in page
    assert "Your role can look at imports but not run them." in page


def test_import_list_shows_who_when_file_mapping_counts_status_duration(marketer_client, marketer):
    CustomFieldFactory(key="plan", label="Plan", field_type="text")
    started = timezone.now() - dt.timedelta(minutes=5)
    job = make_job(
        original_name="hubspot-export.csv",
        headers=["Email", "First Name", "Plan", "Notes", "Phone", "City"],
        mapping={
            "0": "email",
            "1": "first_name",
            "2": "custom:plan",
            "3": "ignore",
            "4": "phone",
            "5": "new:text:City",
        },
        status=ImportStatus.FINISHED,
        total_rows=1500,
        created=1200,
        updated=250,
        skipped=30,
        invalid=20,
        created_by=marketer,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=83),
    )
    page = html(marketer_client.get("/imports/"))
    row = re.search(rf'<tr data-import-id="{job.pk}">(.*?)</tr>', page, re.S).group(1)
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells[0] == (
        "hubspot-export.csvEmail, First name, Plan (custom field), Phone +1 more · 1 ignored"
    )
    assert cells[1:8] == ["Finished", "1,500", "1,200", "250", "30", "20", marketer.display_name]
    assert cells[9] == "1 min 23 s"
    assert f'<a href="/imports/{job.pk}/">hubspot-export.csv</a>' in row


def test_import_list_paginates_newest_first(marketer_client):
    jobs = [make_job(original_name=f"file-{n}.csv") for n in range(26)]
    first = html(marketer_client.get("/imports/"))
    ids = [int(i) for i in re.findall(r'data-import-id="(\d+)"', first)]
    assert ids == [j.pk for j in reversed(jobs)][:25]
    assert "Page 1 of 2" in first
    second = html(marketer_client.get("/imports/?page=2"))
    assert re.findall(r'data-import-id="(\d+)"', second) == [str(jobs[0].pk)]


def test_import_list_query_count_does_not_grow_with_rows(marketer_client, marketer):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert marketer_client.get("/imports/").status_code == 200
        return len(queries)

    make_job(created_by=marketer)
    one = count_queries()
    make_job(created_by=marketer)
    make_job(created_by=make_user(connection.tenant, "admin"))
    assert count_queries() == one


# --- upload -----------------------------------------------------------------------------------


def test_import_new_page_has_labelled_file_input_formats_and_limit(marketer_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
    page = html(marketer_client.get("/imports/new/"))
    assert '<form method="post" enctype="multipart/form-data" novalidate data-upload-form>' in page
    assert '<label for="id_file">' in page
    assert re.search(r'<input type="file" name="file" id="id_file" accept="[^"]*\.xlsx', page)
    assert "CSV, TSV or TXT (any delimiter), Excel XLSX or XLS. Up to 512 MB." in page
    assert 'data-max-bytes="536870912"' in page


def test_import_new_refuses_oversize_file_before_the_service(marketer_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    response = marketer_client.post("/imports/new/", {"file": csv_upload()})
    assert response.status_code == 400
    assert (
        "This file is 131 bytes; the limit is 100 bytes. Split it into smaller files, or "
        "remove columns you don&#x27;t need."
    ) in html(response)
    assert ImportJob.objects.count() == 0


def test_import_new_refuses_empty_file(marketer_client):
    response = marketer_client.post("/imports/new/", {"file": csv_upload("")})
    assert response.status_code == 400
    assert "This file is empty." in html(response)
    assert ImportJob.objects.count() == 0


def test_import_new_shows_why_the_reader_refused_a_file(marketer_client):
    picture = SimpleUploadedFile("leads.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    response = marketer_client.post("/imports/new/", {"file": picture})
    assert response.status_code == 400
    assert (
        '<p class="field-error" id="id_file_error" role="alert">This file is not a CSV or Excel '
        "file. Upload a .csv, .tsv, .txt, .xlsx or .xls file.</p>"
    ) in html(response)
    assert ImportJob.objects.count() == 0


def test_import_new_upload_stores_job_and_redirects_to_mapping(marketer_client, marketer):
    response = marketer_client.post("/imports/new/", {"file": csv_upload()})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/map/"
    assert (job.original_name, job.status, job.created_by) == (
        "leads.csv",
        ImportStatus.UPLOADED,
        marketer,
    )
    assert job.headers == ["Email", "First Name", "Company", "Plan"]


# --- mapping ----------------------------------------------------------------------------------


def test_import_map_shows_preview_targets_options_and_warnings(marketer_client):
    CustomFieldFactory(key="plan", label="Plan", field_type="text")
    job = make_job(
        headers=["Email", "First Name", "Plan", "Notes"],
        preview_rows=[
            ["ada@acme-mail.com", "Ada", "gold", "likes engines"],
            ["grace@example.com", "Grace", "silver", ""],
        ],
        mapping={"0": "email", "1": "first_name", "2": "custom:plan", "3": "new:date:Notes"},
        read_settings={
            "encoding": "cp1252",
            "delimiter": ";",
            "quotechar": '"',
            "header_row": 1,
            "warnings": ["Read as Windows-1252: not valid UTF-8."],
        },
        strategy="fill",
        tags=["webinar", "2024"],
    )
    page = html(marketer_client.get(f"/imports/{job.pk}/map/"))
    assert [selected(page, f"col_{i}") for i in range(4)] == [
        "email",
        "first_name",
        "custom:plan",
        "new:date:Notes",
    ]
    assert '<option value="new:number:First Name">New number field “First Name”</option>' in page
    assert (
        '<label class="visually-hidden" for="id_col_3">Column 4 “Notes” imports as</label>' in page
    )
    assert re.findall(r'<th scope="col">([^<]*)</th>', page) == [
        "Email",
        "First Name",
        "Plan",
        "Notes",
    ]
    assert "<td>likes engines</td>" in page
    assert "<li>Read as Windows-1252: not valid UTF-8.</li>" in page
    assert selected(page, "encoding") == "cp1252"
    assert selected(page, "delimiter") == ";"
    assert re.search(r'<input type="radio" name="strategy" value="fill"[^>]* checked', page)
    assert (
        '<strong>Fill empty fields only</strong><small class="help">Contacts already here only '
        "get values for fields they have empty.</small>"
    ) in page
    assert 'value="webinar, 2024"' in page
    assert "Skip rows whose domain is disposable or cannot receive mail" in page
    assert "Save this mapping as a preset named" in page


def test_import_map_spreadsheet_offers_sheets_not_encoding(marketer_client):
    job = make_job(
        original_name="leads.xlsx",
        file_format="xlsx",
        read_settings={"sheet": "Leads", "header_row": 1, "sheets": ["Summary", "Leads"]},
    )
    page = html(marketer_client.get(f"/imports/{job.pk}/map/"))
    assert selected(page, "sheet") == "Leads"
    assert (
        re.findall(r'<select name="sheet"[^>]*>(.*?)</select>', page, re.S)[0].count("<option") == 2
    )
    assert 'name="encoding"' not in page
    assert 'name="delimiter"' not in page


def test_import_map_reread_with_other_delimiter_changes_headers(marketer_client, dns_server):
    marketer_client.post("/imports/new/", {"file": csv_upload("Email;Name\nada@example.com;Ada\n")})
    job = ImportJob.objects.get()
    response = marketer_client.post(
        f"/imports/{job.pk}/map/",
        {
            "action": "reread",
            "encoding": "utf-8",
            "delimiter": ",",
            "quotechar": '"',
            "header_row": "1",
        },
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.headers == ["Email;Name"]
    assert job.read_settings["delimiter"] == ","


def test_import_map_without_email_column_shows_error_inline(marketer_client):
    marketer_client.post("/imports/new/", {"file": csv_upload()})
    job = ImportJob.objects.get()
    response = marketer_client.post(
        f"/imports/{job.pk}/map/",
        {
            "col_0": "ignore",
            "col_1": "first_name",
            "col_2": "company",
            "col_3": "ignore",
            "strategy": "update",
        },
    )
    assert response.status_code == 400
    error = re.search(
        r'<div class="form-errors" role="alert" id="map-error"><p>([^<]+)</p>', html(response)
    )
    assert error and "email" in error.group(1).lower()
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_import_map_of_started_job_redirects_to_detail(marketer_client):
    job = make_job(status=ImportStatus.RUNNING)
    response = marketer_client.get(f"/imports/{job.pk}/map/")
    assert (response.status_code, response["Location"]) == (302, f"/imports/{job.pk}/")


# --- the whole flow through the pages ---------------------------------------------------------


def _map_and_check(client, job: ImportJob, **extra) -> None:
    data = {
        "col_0": "email",
        "col_1": "first_name",
        "col_2": "company",
        "col_3": "new:text:Plan",
        "strategy": "update",
        "tags": "webinar, q3",
    }
    data.update(extra)
    response = client.post(f"/imports/{job.pk}/map/", data)
    assert (response.status_code, response["Location"]) == (302, f"/imports/{job.pk}/")


def test_import_flow_upload_map_check_start_finish(marketer_client, dns_server):
    ContactFactory(email="grace@example.com", first_name="Grace", company="Old Navy")
    marketer_client.post("/imports/new/", {"file": csv_upload()})
    job = ImportJob.objects.get()
    _map_and_check(marketer_client, job)

    ready = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert '<h2 id="preview-title">What will happen</h2>' in ready
    assert '<dd data-count="created">1</dd>' in ready
    assert '<dd data-count="updated">1</dd>' in ready
    assert '<dd data-count="invalid">1</dd>' in ready
    assert '<button class="btn primary" type="submit">Import 2 contacts</button>' in ready
    assert f'<a class="btn" href="/imports/{job.pk}/map/">Change mapping</a>' in ready
    assert Contact.objects.count() == 1  # nothing written before the confirmation

    response = marketer_client.post(f"/imports/{job.pk}/start/")
    assert response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.created, job.updated, job.invalid) == (ImportStatus.FINISHED, 1, 1, 1)
    ada = Contact.objects.get(email_normalized="ada@acme-mail.com")
    assert (ada.first_name, ada.company, ada.custom_fields) == (
        "Ada",
        "Analytical",
        {"plan": "gold"},
    )
    assert sorted(ada.tags.values_list("name", flat=True)) == ["q3", "webinar"]
    assert Contact.objects.get(email_normalized="grace@example.com").company == "Navy"

    finished = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert '<h2 id="counts-title">Results</h2>' in finished
    assert '<dd data-count="created">1</dd>' in finished
    assert "Rows with problems (1)" in finished
    assert re.search(
        r'<tr><td class="num">4</td><td>[^<]*</td><td class="value">not-an-email</td>', finished
    )
    assert (
        f'href="/imports/{job.pk}/errors.csv" download>Download the error report (CSV)' in finished
    )
    assert "Roll back this import</button>" in finished
    listing = html(marketer_client.get("/imports/"))
    assert f'<tr data-import-id="{job.pk}">' in listing


def test_import_error_report_downloads_original_rows_with_reason(marketer_client, dns_server):
    marketer_client.post("/imports/new/", {"file": csv_upload()})
    job = ImportJob.objects.get()
    _map_and_check(marketer_client, job)
    marketer_client.post(f"/imports/{job.pk}/start/")
    response = marketer_client.get(f"/imports/{job.pk}/errors.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="leads-errors.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "Email,First Name,Company,Plan,error"
    assert lines[1].startswith("not-an-email,Al,Alt,bronze,")
    assert len(lines) == 2


def _imported_then_ada_changed(client, marketer):
    client.post("/imports/new/", {"file": csv_upload()})
    job = ImportJob.objects.get()
    _map_and_check(client, job, col_3="ignore")
    client.post(f"/imports/{job.pk}/start/")
    ada = Contact.objects.get(email_normalized="ada@acme-mail.com")
    update_contact(contact=ada, data={"company": "Changed later"}, actor=marketer, source="ui")
    return job


def test_import_rollback_shows_changed_contacts_and_leaves_them_alone(
    marketer_client, marketer, dns_server
):
    job = _imported_then_ada_changed(marketer_client, marketer)
    page = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert "<strong>1 contact changed after this import.</strong>" in page
    assert '<a href="/contacts/?q=ada%40acme-mail.com">ada@acme-mail.com</a>' in page
    assert "Roll back, leave the changed contacts alone</button>" in page
    assert "Roll back everything</button>" in page

    marketer_client.post(f"/imports/{job.pk}/rollback/")
    job.refresh_from_db()
    assert job.status == ImportStatus.ROLLED_BACK
    ada = Contact.objects.get(email_normalized="ada@acme-mail.com")
    assert ada.company == "Changed later"
    page = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert "<dt>Created contacts deleted</dt><dd>1</dd>" in page
    assert "<dt>Changed since the import, left alone</dt><dd>1</dd>" in page
    assert "Left alone: ada@acme-mail.com" in page


def test_import_rollback_forced_undoes_changed_contacts_too(
    marketer_client, marketer, dns_server
):
    job = _imported_then_ada_changed(marketer_client, marketer)
    marketer_client.post(f"/imports/{job.pk}/rollback/", {"force": "1"})
    job.refresh_from_db()
    assert job.status == ImportStatus.ROLLED_BACK
    assert Contact.objects.filter(email_normalized="ada@acme-mail.com").count() == 0
    page = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert '<h2 id="rollback-title">Rolled back</h2>' in page
    assert "<dt>Created contacts deleted</dt><dd>2</dd>" in page
    assert ", including contacts changed after it." in page


# --- the job's page in each state -------------------------------------------------------------


def test_import_detail_running_shows_progressbar_counters_and_cancel(marketer_client):
    job = make_job(
        status=ImportStatus.RUNNING,
        total_rows=4000,
        processed_rows=1000,
        created=700,
        updated=250,
        skipped=50,
    )
    page = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert re.search(r'role="progressbar"[^>]*aria-valuenow="25"', page)
    assert '<dd data-count="created">700</dd>' in page
    assert (
        f'data-ws-path="/ws/imports/{job.pk}/" data-poll-url="/imports/{job.pk}/progress"' in page
    )
    assert f'<form method="post" action="/imports/{job.pk}/cancel/">' in page


def test_import_detail_finished_shows_first_200_errors_and_note(marketer_client):
    job = make_job(status=ImportStatus.FINISHED, total_rows=300, created=99, invalid=201)
    ImportRowError.objects.bulk_create(
        ImportRowError(job=job, line=n + 2, column="Email", value=f"bad{n}", reason="Not an email")
        for n in range(201)
    )
    page = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert "Rows with problems (201)" in page
    assert "The first 200 of 201 are shown here; the report has them all." in page
    assert page.count("<td>Not an email</td>") == 200
    assert '<td class="value">bad199</td>' in page
    assert '<td class="value">bad200</td>' not in page


def test_import_detail_failed_shows_the_error(marketer_client):
    job = make_job(status=ImportStatus.FAILED, error="Line 7: unmatched quote.")
    page = html(marketer_client.get(f"/imports/{job.pk}/"))
    assert "<strong>The import failed.</strong> Line 7: unmatched quote." in page
    assert f'href="/imports/{job.pk}/map/">Change the settings and try again</a>' in page
    assert "Roll back this import" not in page


def test_import_start_refused_by_the_service_shows_its_reason(marketer_client):
    job = make_job(status=ImportStatus.FINISHED)
    response = marketer_client.post(f"/imports/{job.pk}/start/", follow=True)
    assert "Only an analysed import that has not run can start." in html(response)


def test_import_cancel_asks_a_running_import_to_stop(marketer_client):
    job = make_job(status=ImportStatus.RUNNING, total_rows=5000)
    response = marketer_client.post(f"/imports/{job.pk}/cancel/")
    assert response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert job.cancel_requested is True


def test_import_progress_json(marketer_client):
    job = make_job(
        status=ImportStatus.RUNNING, total_rows=200, processed_rows=50, created=40, invalid=3
    )
    response = marketer_client.get(f"/imports/{job.pk}/progress")
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "id": job.pk,
        "status": "running",
        "status_label": "Importing",
        "percent": 25,
        "total_rows": 200,
        "processed_rows": 50,
        "created": 40,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "invalid": 3,
        "duplicates_in_file": 0,
        "possible_duplicates": 0,
        "flagged": 0,
        "error": "",
        "is_active": True,
        "cancel_requested": False,
    }


# --- roles and tenants ------------------------------------------------------------------------


def test_import_pages_viewer_reads_but_cannot_change(viewer_client):
    job = make_job(status=ImportStatus.READY, created=3)
    assert viewer_client.get("/imports/").status_code == 200
    page = html(viewer_client.get(f"/imports/{job.pk}/"))
    assert '<dd data-count="created">3</dd>' in page
    assert "Import 3 contacts" not in page
    assert viewer_client.get("/imports/new/").status_code == 403
    assert viewer_client.get(f"/imports/{job.pk}/map/").status_code == 403
    assert viewer_client.post("/imports/new/", {"file": csv_upload()}).status_code == 403
    for action in ("map", "start", "cancel", "rollback"):
        assert viewer_client.post(f"/imports/{job.pk}/{action}/").status_code == 403, action
    job.refresh_from_db()
    assert job.status == ImportStatus.READY
    assert ImportJob.objects.count() == 1


def test_import_pages_other_tenants_job_is_404(tenant, other_tenant):
    make_job(original_name="alpha.csv")
    with in_schema(other_tenant):  # ids are per schema: one that alpha has not used
        theirs = make_job(
            pk=987_654, status=ImportStatus.FINISHED, original_name="beta-secrets.csv"
        )
    assert not ImportJob.objects.filter(pk=theirs.pk).exists()
    client = client_for(tenant, make_user(tenant, "owner"))
    for url in ("", "map/", "progress", "errors.csv"):
        assert client.get(f"/imports/{theirs.pk}/{url}").status_code == 404, url
    for action in ("map", "start", "cancel", "rollback"):
        assert client.post(f"/imports/{theirs.pk}/{action}/").status_code == 404, action
    assert "beta-secrets.csv" not in html(client.get("/imports/"))
    with in_schema(other_tenant):
        assert ImportJob.objects.get(pk=theirs.pk).status == ImportStatus.FINISHED


@pytest.mark.parametrize("path", ["/imports/", "/imports/new/"])
def test_import_pages_need_sign_in(tenant, path):
    response = client_for(tenant).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- in a real browser ------------------------------------------------------------------------


def _remove_browser_data(tenant) -> None:
    with in_schema(tenant):
        ImportJob.objects.all().delete()
        Contact.objects.filter(
            email_normalized__in=["ada@acme-mail.com", "grace@example.com"]
        ).delete()
        CustomField.objects.filter(key="plan").delete()
        Tag.objects.filter(name__in=["webinar", "q3"]).delete()
        get_user_model().objects.filter(email="importer@alpha.example.com").delete()


def _sign_in(page, live_server, path: str) -> None:
    """Open `path` on the tenant's host and sign in as the importer."""
    base = live_server.url.replace("localhost", "alpha.localhost").replace(
        "127.0.0.1", "alpha.localhost"
    )
    page.goto(f"{base}{path}")
    page.get_by_label("Email").fill("importer@alpha.example.com")
    page.get_by_label("Password").fill("import-pass-123")
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def browser_cleanup(tenant):
    """The live server needs committed data, which outlives the test in the tenant's schema
    (also removed first, in case an interrupted run left some)."""
    _remove_browser_data(tenant)
    yield
    _remove_browser_data(tenant)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_import_drop_map_check_import(
    live_server,
    browser_page,  # noqa: F811
    tenant,
    dns_server,
    browser_cleanup,
):
    with in_schema(tenant):
        get_user_model().objects.create_user(
            email="importer@alpha.example.com", password="import-pass-123", role="marketer"
        )
    page = browser_page
    _sign_in(page, live_server, "/imports/")
    page.wait_for_url(re.compile(r"/imports/$"))
    assert page.get_by_role("heading", name="Import your first spreadsheet").is_visible()
    page.get_by_role("link", name="Import a spreadsheet").click()
    # The drop zone's script is deferred: drop only once the page has loaded and run it.
    page.wait_for_url(re.compile(r"/imports/new/$"))
    page.wait_for_load_state("load")

    # Drop a file on the zone: it fills the real file input.
    transfer = page.evaluate_handle(
        "(text) => { const t = new DataTransfer();"
        " t.items.add(new File([text], 'leads.csv', {type: 'text/csv'})); return t; }",
        CSV,
    )
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})
    assert page.get_by_text("Selected: leads.csv (131 bytes)").is_visible()
    page.screenshot(path="test-artifacts/imports-upload.png", full_page=True)
    page.get_by_role("button", name="Upload and continue").click()

    page.wait_for_url(re.compile(r"/imports/\d+/map/$"))
    headings = page.locator("table.preview thead th")
    # Changing how the file is read re-reads the preview in place (htmx).
    page.get_by_label("Delimiter").select_option(";")
    page.wait_for_function("document.querySelectorAll('table.preview thead th').length === 1")
    assert headings.all_inner_texts() == ["Email,First Name,Company,Plan"]
    # Let that swap settle first: a change made while htmx still replaces the form is lost.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling')")
    page.wait_for_load_state("networkidle")
    page.get_by_label("Delimiter").select_option(",")
    page.wait_for_function("document.querySelectorAll('table.preview thead th').length === 4")
    assert headings.all_inner_texts() == ["Email", "First Name", "Company", "Plan"]
    page.get_by_label("Header row").fill("99")
    page.get_by_label("Header row").press("Tab")  # a refused setting is explained in place
    assert page.locator("#map-error").inner_text() == (
        "The file has no row 99; choose another header row."
    )
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling')")
    page.get_by_label("Header row").fill("1")
    page.get_by_label("Header row").press("Tab")
    page.wait_for_selector("#map-error", state="detached")
    assert page.get_by_label("Column 1 “Email” imports as").input_value() == "email"
    page.get_by_label("Column 4 “Plan” imports as").select_option("new:text:Plan")
    page.get_by_label("Tags to add to every row").fill("webinar, q3")
    page.screenshot(path="test-artifacts/imports-map.png", full_page=True)
    page.get_by_role("button", name="Check the file").click()

    page.wait_for_url(re.compile(r"/imports/\d+/$"))
    assert page.get_by_role("heading", name="What will happen").is_visible()
    page.screenshot(path="test-artifacts/imports-ready.png", full_page=True)
    page.get_by_role("button", name="Import 2 contacts").click()
    page.wait_for_selector("#counts-title")
    assert page.locator('[data-count="created"]').inner_text() == "2"
    page.screenshot(path="test-artifacts/imports-finished.png", full_page=True)
    with in_schema(tenant):
        ada = Contact.objects.get(email_normalized="ada@acme-mail.com")
        assert (ada.first_name, ada.custom_fields) == ("Ada", {"plan": "gold"})


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_import_progress_follows_the_job_then_shows_results(
    live_server,
    browser_page,  # noqa: F811
    tenant,
    browser_cleanup,
):
    """The live server speaks HTTP only, so this also proves the polling fallback."""
    with in_schema(tenant):
        user = get_user_model().objects.create_user(
            email="importer@alpha.example.com", password="import-pass-123", role="marketer"
        )
        job = make_job(
            status=ImportStatus.RUNNING,
            total_rows=4000,
            processed_rows=1000,
            created=900,
            created_by=user,
        )
    page = browser_page
    _sign_in(page, live_server, f"/imports/{job.pk}/")
    bar = page.get_by_role("progressbar")
    assert bar.get_attribute("aria-valuenow") == "25"

    with in_schema(tenant):
        ImportJob.objects.filter(pk=job.pk).update(processed_rows=3000, created=2900)
    page.wait_for_selector('[role=progressbar][aria-valuenow="75"]')
    assert page.locator('[data-count="created"]').inner_text() == "2,900"
    page.screenshot(path="test-artifacts/imports-running.png", full_page=True)

    with in_schema(tenant):
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.FINISHED, processed_rows=4000, created=3900
        )
    page.wait_for_selector("#counts-title")  # the page reloaded on the terminal state
    assert page.locator('[data-count="created"]').inner_text() == "3,900"
    assert page.get_by_role("progressbar").count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_rollback_progress_then_a_stopped_rollback_offers_the_rest(
    live_server,
    browser_page,  # noqa: F811
    tenant,
    other_tenant,
    browser_cleanup,
):
    """A rollback's bar counts its chunks undone (polling: the live server is HTTP only);
    when it stops half-way the page says so, with what was undone and a button for the rest.
    Another tenant's browser finds no such import."""
    with in_schema(tenant):
        user = get_user_model().objects.create_user(
            email="importer@alpha.example.com", password="import-pass-123", role="marketer"
        )
        job = make_job(status=ImportStatus.ROLLING_BACK, total_rows=4000, created=4000,
                       finished_at=timezone.now(), created_by=user, rolled_back_by=user,
                       rollback_chunks=8, rollback_ranges=[[1, 500], [500, 1000]])
    page = browser_page
    _sign_in(page, live_server, f"/imports/{job.pk}/")
    bar = page.get_by_role("progressbar")
    assert bar.get_attribute("aria-valuenow") == "25"
    assert bar.get_attribute("aria-valuetext") == "25% undone"

    with in_schema(tenant):
        ImportJob.objects.filter(pk=job.pk).update(
            rollback_ranges=[[1, 500], [500, 1000], [1000, 1500], [1500, 2000]])
    page.wait_for_selector('[role=progressbar][aria-valuenow="50"]')
    assert bar.get_attribute("aria-valuetext") == "50% undone"  # as polled, not "rows"
    page.screenshot(path="test-artifacts/imports-rolling-back.png", full_page=True)

    with in_schema(tenant):
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED,
            error="The rollback stopped because of an internal error (OperationalError). "
                  "What it undid so far stays undone; roll back again to undo the rest.",
            rollback_report={"forced": False, "deleted": 2000, "restored": 0})
    page.get_by_role("button", name="Roll back the rest").wait_for()  # reloaded: terminal
    assert page.get_by_role("progressbar").count() == 0
    body = page.locator("main").inner_text()
    assert body.count("The rollback stopped") == 1  # said once, not as heading and message
    assert "roll back again to undo the rest" in body
    assert "Undone so far: 2,000 created contacts deleted, 0 updated contacts restored." in body
    page.screenshot(path="test-artifacts/imports-rollback-stopped.png", full_page=True)

    other = client_for(other_tenant, make_user(other_tenant, "owner"))
    assert other.get(f"/imports/{job.pk}/").status_code == 404
    assert other.post(f"/imports/{job.pk}/rollback/").status_code == 404
    with in_schema(other_tenant):
        assert not ImportJob.objects.filter(pk=job.pk).exists()
