"""REST endpoints of exports: ask, follow, download; hostile input; tenant isolation."""

from __future__ import annotations

import pytest

from imports.models import ExportJob
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_api_keys import error_of, key_client


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def api(tenant):
    client, _key = key_client(tenant)
    return client


def post(api, body: dict):
    return api.post("/api/v1/exports", body, content_type="application/json")


def test_api_export_is_accepted_followed_and_downloaded(api):
    ann = ContactFactory(email="ann@acme-mail.com", first_name="Ann")
    ContactFactory(email="bo@acme-mail.com")

    created = post(api, {"source": {"kind": "ids", "ids": [ann.pk]},
                         "columns": ["email", "first_name"], "format": "csv"})

    assert created.status_code == 202, created.content
    body = created.json()
    job = ExportJob.objects.get()
    assert created["Location"] == f"/api/v1/exports/{job.pk}"
    assert (body["status"], body["written_rows"], body["format"], body["label"]) == (
        "finished", 1, "csv", "1 selected contact")
    assert body["download_url"] == f"http://alpha.localhost/api/v1/exports/{job.pk}/download"
    assert api.get(f"/api/v1/exports/{job.pk}").json() == body
    file = api.get(f"/api/v1/exports/{job.pk}/download")
    assert b"".join(file.streaming_content) == (
        b"\xef\xbb\xbfemail,first_name\nann@acme-mail.com,Ann\n")
    assert job.created_by is None  # an API key acts for no person


def test_api_export_defaults_to_all_contacts_and_default_columns(api):
    ContactFactory(email="ann@acme-mail.com")

    body = post(api, {"format": "jsonl"}).json()

    assert body["source"] == {"kind": "all", "label": "All contacts"}
    assert body["columns"][:3] == ["email", "first_name", "last_name"]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"columns": ["email", "bogus"]}, "invalid_export", 'Unknown column "bogus".'),
        ({"columns": []}, "invalid_export", "Choose at least one column."),
        ({"columns": "email"}, "invalid_export", "Columns must be a list of column names."),
        ({"columns": ["email", "email"]}, "invalid_export",
         'The column "email" is chosen twice.'),
        ({"source": {"kind": "everything"}}, "invalid_export",
         "Unknown source kind 'everything'; use one of: all, filter, list, ids, segment."),
        ({"source": {"kind": "ids", "ids": ["1; DROP TABLE x"]}}, "invalid_export",
         "“ids” must hold contact ids (positive whole numbers)."),
        ({"source": {"kind": "ids", "ids": list(range(1, 100_002))}}, "invalid_export",
         "At most 100,000 ids can be listed; export a search or a list instead."),
        ({"source": {"kind": "filter", "filters": {"owner": "me"}}}, "invalid_export",
         "Unknown filter 'owner'; use: search, tag, status, created_from, created_to, "
         "score_band."),
        ({"source": {"kind": "list", "list_id": 123}}, "invalid_export",
         "There is no list with id 123."),
    ],
)
def test_api_refuses_bad_exports(api, body, code, message):
    response = post(api, body)

    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["message"]) == (code, message)
    assert ExportJob.objects.count() == 0


def test_api_refuses_an_unknown_format(api):
    response = post(api, {"format": "pdf"})

    assert response.status_code == 400
    assert error_of(response)["details"] == {"format": ['"pdf" is not a valid choice.']}


def test_api_export_of_ids_that_do_not_exist_is_empty(api):
    body = post(api, {"source": {"kind": "ids", "ids": [987_654]}, "columns": ["email"]}).json()

    assert (body["status"], body["written_rows"]) == ("finished", 0)


def test_api_download_of_an_unfinished_export_is_409(api):
    job = ExportJob.objects.create(source={"kind": "all"}, file_format="csv", columns=["email"])

    response = api.get(f"/api/v1/exports/{job.pk}/download")

    assert response.status_code == 409
    assert error_of(response) == {"code": "not_ready", "message": "The export is queued; there "
                                  "is no file to download."}


def test_api_exports_are_invisible_to_another_tenant(tenant, other_tenant, api):
    ContactFactory(email="secret@acme-mail.com")
    job = ExportJob.objects.get(pk=post(api, {"columns": ["email"]}).json()["id"])
    theirs, _key = key_client(other_tenant)

    for path in (f"/api/v1/exports/{job.pk}", f"/api/v1/exports/{job.pk}/download"):
        response = theirs.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["message"] == f"No export with id {job.pk}."
    assert theirs.get("/api/v1/exports").json()["results"] == []
    with in_schema(other_tenant):
        ContactFactory(email="beta@acme-mail.com")
    mine = theirs.post("/api/v1/exports", {"columns": ["email"]}, content_type="application/json")
    assert b"".join(theirs.get(f"/api/v1/exports/{mine.json()['id']}/download")
                    .streaming_content) == b"\xef\xbb\xbfemail\nbeta@acme-mail.com\n"
