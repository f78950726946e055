"""Export pages: the form reached from the contact table, the export's page, the download,
the history; roles, hostile input and tenant isolation."""

from __future__ import annotations

import json
import re

import pytest

from imports.exports import services
from imports.models import ExportJob, ExportStatus
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def html(response) -> str:
    return response.content.decode()


def download(client, job: ExportJob) -> bytes:
    response = client.get(f"/imports/exports/{job.pk}/download")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"] == (
        f'attachment; filename="{services.file_name(job)}"'
    )
    return b"".join(response.streaming_content)


def test_contact_table_links_to_the_export_of_its_search(marketer_client):
    ContactFactory(email="ann@acme-mail.com")
    page = html(marketer_client.get("/contacts/?q=ann&status=active"))

    assert 'data-export-link href="/imports/exports/new/?q=ann&amp;status=active"' in page
    # A search made over htmx swaps the results and the Export button with them (out of band).
    swapped = html(marketer_client.get("/contacts/?q=bo", HTTP_HX_REQUEST="true",
                                      HTTP_HX_TARGET="contact-results"))
    assert ('id="export-link" data-export-link hx-swap-oob="true" '
            'href="/imports/exports/new/?q=bo"') in swapped


def test_list_page_links_to_the_export_of_its_members(marketer_client):
    from segments import services as list_services

    static_list = list_services.create_list(name="Spring")
    page = html(marketer_client.get(f"/lists/{static_list.pk}/?q=ann"))
    assert f'data-export-link href="/imports/exports/new/?list={static_list.pk}&amp;q=ann"' in page


def test_export_form_exports_the_search_and_downloads(marketer_client, marketer):
    ContactFactory(email="ann@acme-mail.com", first_name="Ann")
    ContactFactory(email="bo@acme-mail.com", first_name="Bo")
    form = marketer_client.get("/imports/exports/new/?q=ann")
    assert "search “ann”" in html(form)

    response = marketer_client.post("/imports/exports/new/", {
        "source": json.dumps({"kind": "filter", "filters": {"search": "ann"}}),
        "scope": "source", "file_format": "csv", "columns": ["email", "first_name"],
    })

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/exports/{job.pk}/"
    assert (job.status, job.label, job.created_by) == (ExportStatus.FINISHED, "search “ann”",
                                                       marketer)
    page = html(marketer_client.get(f"/imports/exports/{job.pk}/"))
    assert "Your export is ready" in page and f"/imports/exports/{job.pk}/download" in page
    assert download(marketer_client, job) == b"\xef\xbb\xbfemail,first_name\nann@acme-mail.com,Ann\n"


def test_export_form_can_widen_to_all_contacts(marketer_client):
    ContactFactory(email="ann@acme-mail.com")
    ContactFactory(email="bo@acme-mail.com")
    marketer_client.post("/imports/exports/new/", {
        "source": json.dumps({"kind": "filter", "filters": {"search": "ann"}}),
        "scope": "all", "file_format": "jsonl", "columns": ["email"],
    })
    job = ExportJob.objects.get()
    assert download(marketer_client, job).decode().splitlines() == [
        '{"email":"ann@acme-mail.com"}', '{"email":"bo@acme-mail.com"}',
    ]


def test_viewers_may_export(viewer_client, viewer):
    ContactFactory(email="ann@acme-mail.com")
    viewer_client.post("/imports/exports/new/", {"file_format": "csv", "columns": ["email"]})

    job = ExportJob.objects.get()
    assert job.created_by == viewer
    assert download(viewer_client, job) == b"\xef\xbb\xbfemail\nann@acme-mail.com\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"file_format": "csv"}, "Choose at least one column."),
        ({"file_format": "pdf", "columns": ["email"]},
         "Select a valid choice. pdf is not one of the available choices."),
        ({"file_format": "csv", "columns": ["email", "password"]},
         "Select a valid choice. password is not one of the available choices."),
        ({"file_format": "csv", "columns": ["email"], "source": "{not json"},
         "The contacts to export are not understood."),
        ({"file_format": "csv", "columns": ["email"], "source": '{"kind": "everything"}'},
         "Unknown source kind &#x27;everything&#x27;; use one of: all, filter, list, ids, segment."),
        ({"file_format": "csv", "columns": ["email"], "source": '{"kind": "list", "list_id": 9}'},
         "There is no list with id 9."),
        ({"file_format": "csv", "columns": ["email"],
          "source": '{"kind": "filter", "filters": {"created_from": "yesterday"}}'},
         "Filter “created_from”: Enter a valid date."),
    ],
)
def test_export_form_refuses_bad_input_with_a_message(marketer_client, data, message):
    response = marketer_client.post("/imports/exports/new/", data)

    assert response.status_code == 400
    assert message in html(response)
    assert ExportJob.objects.count() == 0


def test_history_lists_exports_with_their_download(marketer_client, marketer):
    ContactFactory(email="ann@acme-mail.com")
    job = services.start_export(source={"kind": "all", "label": "Everyone"}, columns=["email"],
                                file_format="xlsx", user=marketer)

    page = html(marketer_client.get("/imports/exports/"))

    row = re.search(rf'<tr data-export-id="{job.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "Everyone" in row and "Excel (XLSX)" in row and "Ready" in row
    assert marketer.display_name in row
    assert f'href="/imports/exports/{job.pk}/download"' in row


def test_progress_json_of_an_export(marketer_client):
    job = ExportJob.objects.create(source={"kind": "all"}, file_format="csv", columns=["email"],
                                   total_rows=200, written_rows=50, status=ExportStatus.RUNNING)

    data = marketer_client.get(f"/imports/exports/{job.pk}/progress").json()

    assert data == {"id": job.pk, "status": "running", "status_label": "Exporting",
                    "percent": 25, "processed_rows": 50, "total_rows": 200, "size": 0,
                    "error": "", "is_active": True}


def test_download_of_an_unfinished_export_is_404_with_the_reason(marketer_client):
    job = ExportJob.objects.create(source={"kind": "all"}, file_format="csv", columns=["email"])

    response = marketer_client.get(f"/imports/exports/{job.pk}/download")

    assert response.status_code == 404 and "It is not ready yet." in html(response)


def test_other_tenant_sees_no_export(tenant, other_tenant, marketer):
    ContactFactory(email="secret@acme-mail.com")
    job = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=marketer)
    with in_schema(other_tenant):
        assert not ExportJob.objects.filter(pk=job.pk).exists()
    outsider = client_for(other_tenant, make_user(other_tenant, "owner"))

    for path in ("", "progress", "download"):
        response = outsider.get(f"/imports/exports/{job.pk}/{path}")
        assert response.status_code == 404, path
        assert b"secret@acme-mail.com" not in response.content
    assert "No exports yet" in html(outsider.get("/imports/exports/"))


def test_export_pages_need_a_signed_in_user(tenant):
    ContactFactory(email="ann@acme-mail.com")
    job = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=None)
    response = client_for(tenant).get(f"/imports/exports/{job.pk}/download")

    assert response.status_code == 302 and "/login" in response["Location"]
