"""Each export format's content, exactly: standard fields, tags, custom fields, unicode."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from contacts.models import Contact
from tests.exports_helpers import export_bytes, make_fields, make_people, xlsx_rows

COLUMNS = ["email", "first_name", "last_name", "company", "job_title", "phone", "city", "tags",
           "status", "custom.plan", "custom.seats", "custom.renewal", "custom.vip"]


@pytest.fixture
def people(tenant):
    make_fields()
    return make_people()


def test_csv_export_content_exactly(people):
    content = export_bytes(COLUMNS, "csv")

    assert content.startswith(b"\xef\xbb\xbf")  # so Excel reads UTF-8
    assert content.decode("utf-8-sig") == (
        "email,first_name,last_name,company,job_title,phone,city,tags,status,plan,seats,"
        "renewal,vip\n"
        'ann@acme-mail.com,Ann,Ångström,"Acme, Inc.","CEO ""boss""",\'+33 1 23 45 67 89,'
        'Zürich,"Customer, vip",active,Gold,12,2025-03-01,true\n'
        "bo@acme-mail.com,Bo,李,,,-12.5,,,unsubscribed,,-3.5,,\n"
    )


def test_xlsx_export_content_exactly(people):
    rows = xlsx_rows(export_bytes(COLUMNS, "xlsx"))

    assert rows == [
        ["email", "first_name", "last_name", "company", "job_title", "phone", "city", "tags",
         "status", "plan", "seats", "renewal", "vip"],
        ["ann@acme-mail.com", "Ann", "Ångström", "Acme, Inc.", 'CEO "boss"',
         "'+33 1 23 45 67 89", "Zürich", "Customer, vip", "active", "Gold", 12, "2025-03-01",
         True],
        ["bo@acme-mail.com", "Bo", "李", None, None, "-12.5", None, None, "unsubscribed", None,
         -3.5, None, None],
    ]


def test_jsonl_export_content_exactly(people):
    lines = export_bytes(COLUMNS, "jsonl").decode().splitlines()

    assert [json.loads(line) for line in lines] == [
        {"email": "ann@acme-mail.com", "first_name": "Ann", "last_name": "Ångström",
         "company": "Acme, Inc.", "job_title": 'CEO "boss"', "phone": "+33 1 23 45 67 89",
         "city": "Zürich", "tags": ["Customer", "vip"], "status": "active",
         "custom_fields": {"plan": "Gold", "seats": 12, "renewal": "2025-03-01", "vip": True}},
        {"email": "bo@acme-mail.com", "first_name": "Bo", "last_name": "李", "company": "",
         "job_title": "", "phone": "-12.5", "city": "", "tags": [], "status": "unsubscribed",
         "custom_fields": {"plan": None, "seats": -3.5, "renewal": None, "vip": None}},
    ]
    assert "Ångström" in lines[0]  # UTF-8, not \u escapes


def test_json_export_is_one_array_with_the_same_objects(people):
    array = json.loads(export_bytes(COLUMNS, "json"))
    lines = [json.loads(line) for line in export_bytes(COLUMNS, "jsonl").decode().splitlines()]

    assert array == lines
    assert len(array) == 2


def test_json_export_of_nothing_is_an_empty_array(tenant):
    assert json.loads(export_bytes(["email"], "json")) == []
    assert export_bytes(["email"], "jsonl") == b""
    assert export_bytes(["email"], "csv").decode("utf-8-sig") == "email\n"
    assert xlsx_rows(export_bytes(["email"], "xlsx")) == [["email"]]


def test_timestamps_and_ids_are_exported_in_utc_iso(people):
    ann, _bo = people
    ann.refresh_from_db()
    content = export_bytes(["id", "email", "created_at", "updated_at", "validation_status",
                            "source"], "csv")

    first = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))[1]
    assert first == [
        str(ann.pk), "ann@acme-mail.com",
        ann.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ann.updated_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "unknown", "test",
    ]


def test_export_follows_the_source(people):
    ann, bo = people
    by_search = export_bytes(["email"], "csv", {"kind": "filter", "filters": {"search": "ann"}})
    by_ids = export_bytes(["email"], "csv", {"kind": "ids", "ids": [bo.pk, 999_999_999]})
    by_tag = export_bytes(["email"], "jsonl", {"kind": "filter", "filters": {"tag": "vip"}})
    by_status = export_bytes(["email"], "csv",
                             {"kind": "filter", "filters": {"status": "unsubscribed"}})

    assert by_search.decode("utf-8-sig") == "email\nann@acme-mail.com\n"
    assert by_ids.decode("utf-8-sig") == "email\nbo@acme-mail.com\n"  # unknown id skipped
    assert json.loads(by_tag) == {"email": "ann@acme-mail.com"}
    assert by_status.decode("utf-8-sig") == "email\nbo@acme-mail.com\n"


def test_export_across_many_chunks_keeps_every_contact_once(tenant, monkeypatch):
    from imports.exports import writers

    Contact.objects.bulk_create(
        Contact(email=f"p{i}@acme-mail.com", email_normalized=f"p{i}@acme-mail.com")
        for i in range(25)
    )
    monkeypatch.setitem(writers.CHUNK_ROWS, "csv", 4)
    monkeypatch.setitem(writers.CHUNK_ROWS, "xlsx", 7)
    expected = sorted(f"p{i}@acme-mail.com" for i in range(25))

    csv_rows = export_bytes(["email"], "csv").decode("utf-8-sig").splitlines()[1:]
    xlsx = [row[0] for row in xlsx_rows(export_bytes(["email"], "xlsx"))[1:]]

    assert sorted(csv_rows) == expected and len(csv_rows) == 25
    assert sorted(xlsx) == expected and len(xlsx) == 25
