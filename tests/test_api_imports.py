"""/api/v1/imports: upload → analysed → start → finished → errors → rollback, the hostile
requests around it, and tenant isolation."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from contacts.services import update_contact
from imports import services
from imports.models import ImportJob, ImportRowError, ImportStatus, MappingPreset
from imports.serializers import ImportSerializer
from penguinleads.api.keys import create_api_key
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory
from tests.test_api_keys import client_with_key, error_of, key_client

HEADER = "Email,First Name,Last Name,Company,Tags\n"
ROWS = (
    "a@acme-mail.com,,,New Co,vip\n"  # line 2: existing contact, gets company + tag
    "B@Acme-Mail.com,Bo,Berg,,\n"  # line 3: new
    "not-an-email,Al,Alt,X,\n"  # line 4: refused
    "b@acme-mail.com,Bob,Berg,,\n"  # line 5: duplicate of line 3
    "c@nullmx-corp.com,Cy,Cole,Null Inc,\n"  # line 6: new, flagged (null MX)
    "d@example.com,Di,Dee,Co,x,extra\n"  # line 7: ragged, refused
)
BAD_EMAIL_REASON = "An email address must have an @-sign."
COUNTS = (
    "total_rows",
    "processed_rows",
    "created",
    "updated",
    "unchanged",
    "skipped",
    "invalid",
    "duplicates_in_file",
    "possible_duplicates",
    "flagged",
)


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    """Uploads land in a folder of this test, so a test can see what was kept."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


@pytest.fixture
def api(tenant):
    client, _api_key = key_client(tenant)
    return client


@pytest.fixture
def existing(tenant):
    return ContactFactory(
        email="a@acme-mail.com", first_name="Ann", last_name="Abel", company="Old Co"
    )


def post_file(
    api, content: bytes | str, name: str = "leads.csv", path: str = "/api/v1/imports", **fields
):
    data = content.encode() if isinstance(content, str) else content
    return api.post(path, {"file": SimpleUploadedFile(name, data), **fields})


def counts(body: dict) -> dict:
    return {name: body[name] for name in COUNTS}


# --- the whole flow ---------------------------------------------------------------------------


def test_import_api_full_flow(tenant, api, dns_server, existing, media):
    uploaded = post_file(api, HEADER + ROWS)

    assert uploaded.status_code == 201, uploaded.content
    body = uploaded.json()
    job_id = body["id"]
    assert uploaded["Location"] == f"/api/v1/imports/{job_id}"
    assert (body["status"], body["file_name"], body["strategy"]) == ("ready", "leads.csv", "update")
    assert body["mapping"] == {
        "0": "email",
        "1": "first_name",
        "2": "last_name",
        "3": "company",
        "4": "tags",
    }
    assert counts(body) == {
        "total_rows": 6,
        "processed_rows": 0,
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "skipped": 0,
        "invalid": 2,
        "duplicates_in_file": 1,
        "possible_duplicates": 0,
        "flagged": 1,
    }
    assert Contact.objects.count() == 1  # the analysis writes no contact
    [stored] = stored_files(media)
    assert stored.startswith(f"imports/{tenant.schema_name}/") and stored.endswith("/leads.csv")

    detail = api.get(f"/api/v1/imports/{job_id}")
    assert detail.status_code == 200
    assert detail.json() == body

    started = api.post(f"/api/v1/imports/{job_id}/start")
    assert started.status_code == 200
    result = started.json()
    assert (result["status"], result["created"], result["updated"]) == ("finished", 2, 1)
    assert result["started_at"] is not None and result["finished_at"] is not None
    assert sorted(Contact.objects.values_list("email_normalized", flat=True)) == [
        "a@acme-mail.com",
        "b@acme-mail.com",
        "c@nullmx-corp.com",
    ]
    assert Contact.objects.get(email_normalized="a@acme-mail.com").company == "New Co"

    errors = api.get(f"/api/v1/imports/{job_id}/errors")
    assert errors.status_code == 200
    assert errors.json()["results"] == [
        {"line": 4, "column": "Email", "value": "not-an-email", "reason": BAD_EMAIL_REASON},
        {
            "line": 5,
            "column": "Email",
            "value": "b@acme-mail.com",
            "reason": "Same email as line 3; only the first is imported.",
        },
        {
            "line": 7,
            "column": "",
            "value": "",
            "reason": "This row has 6 values but the header has 5 columns.",
        },
    ]

    report = api.get(f"/api/v1/imports/{job_id}/errors.csv")
    assert report.status_code == 200
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report["Content-Disposition"] == 'attachment; filename="leads-errors.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows == [
        ["Email", "First Name", "Last Name", "Company", "Tags", "error"],
        ["not-an-email", "Al", "Alt", "X", "", BAD_EMAIL_REASON],
        [
            "b@acme-mail.com",
            "Bob",
            "Berg",
            "",
            "",
            "Same email as line 3; only the first is imported.",
        ],
        [
            "d@example.com",
            "Di",
            "Dee",
            "Co",
            "x",
            "extra",
            "This row has 6 values but the header has 5 columns.",
        ],
    ]

    rolled = api.post(f"/api/v1/imports/{job_id}/rollback", {}, content_type="application/json")
    assert rolled.status_code == 200
    assert rolled.json()["status"] == "rolled_back"
    assert rolled.json()["rollback_report"] == {
        "deleted": 2,
        "restored": 1,
        "untagged": 1,
        "forced": False,
        "conflicts": 0,
    }
    a = Contact.objects.get()
    assert (a.email_normalized, a.company) == ("a@acme-mail.com", "Old Co")


def test_import_api_representation_has_the_documented_fields(tenant, api, dns_server):
    body = post_file(api, "email\nx@acme-mail.com\n").json()

    assert set(body) == set(ImportSerializer._declared_fields)
    assert body["headers"] == ["email"]
    assert (body["file_size"], body["file_format"], body["tags"]) == (22, "csv", [])


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v1/imports?start=true", {}),
        ("/api/v1/imports", {"start": "true"}),
    ],
)
def test_import_api_upload_with_start_runs_it(tenant, api, dns_server, path, fields):
    response = post_file(api, "email,company\nn@acme-mail.com,Acme\n", path=path, **fields)

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["created"]) == ("finished", 1)
    assert Contact.objects.get().company == "Acme"


def test_import_api_upload_without_start_does_not_run(tenant, api, dns_server):
    response = post_file(api, "email\nn@acme-mail.com\n", path="/api/v1/imports?start=false")

    assert response.json()["status"] == "ready"
    assert Contact.objects.count() == 0


def test_import_api_mapping_by_header_and_options(tenant, api, dns_server):
    csv_text = (
        "Work email,Plan seats,Notes\nn@acme-mail.com,12,hi\nm@acme-mail.com,lots,yo\n"
        "y@mailinator.com,3,\n"
    )
    mapping = {"Work email": "email", "1": "new:number:Plan seats"}

    response = post_file(
        api,
        csv_text,
        path="/api/v1/imports?start=1",
        mapping=json.dumps(mapping),
        strategy="skip",
        tags='["Fair 2026", "vip", "VIP"]',
        skip_undeliverable="true",
        save_preset="Fair export",
    )

    body = response.json()
    assert response.status_code == 201, body
    assert body["mapping"] == {"0": "email", "1": "custom:plan_seats", "2": "ignore"}
    assert (body["strategy"], body["tags"], body["skip_undeliverable"]) == (
        "skip",
        ["Fair 2026", "vip"],
        True,
    )
    assert (body["status"], body["created"], body["invalid"], body["skipped"]) == (
        "finished",
        1,
        1,
        1,
    )
    contact = Contact.objects.get()
    assert (contact.email, contact.custom_fields) == ("n@acme-mail.com", {"plan_seats": 12})
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Fair 2026", "vip"]
    assert MappingPreset.objects.get().name == "Fair export"


def test_import_api_applies_a_named_preset(tenant, api, dns_server):
    post_file(
        api,
        "A,B\nAnn,a@acme-mail.com\n",
        mapping='{"A": "first_name", "B": "email"}',
        save_preset="two columns",
    )

    response = post_file(api, "B,A\nb@acme-mail.com,Bo\n", preset="two columns")

    assert response.status_code == 201
    assert response.json()["mapping"] == {"0": "email", "1": "first_name"}


def test_import_api_tags_as_comma_separated_text(tenant, api, dns_server):
    response = post_file(api, "email\nx@acme-mail.com\n", tags=" fair ,, Leads 2026 ")

    assert response.json()["tags"] == ["fair", "Leads 2026"]


# --- listing ----------------------------------------------------------------------------------


def make_jobs(count: int) -> list[ImportJob]:
    return [
        services.create_import(
            fileobj=SimpleUploadedFile(f"f{i}.csv", b"email\nx@y.com\n"),
            filename=f"f{i}.csv",
            user=None,
        )
        for i in range(count)
    ]


def test_import_api_list_pages_newest_first(tenant, api):
    jobs = make_jobs(3)

    first = api.get("/api/v1/imports", {"limit": 2})
    second = api.get(first.json()["next"])

    assert [j["id"] for j in first.json()["results"]] == [jobs[2].pk, jobs[1].pk]
    assert [j["id"] for j in second.json()["results"]] == [jobs[0].pk]
    assert second.json()["next"] is None
    assert first.json()["results"][0]["file_name"] == "f2.csv"


@pytest.mark.parametrize("count", [1, 3])
def test_import_api_list_query_count_does_not_grow(tenant, api, count):
    make_jobs(count)
    api.get("/api/v1/imports")  # the key's last_used_at is written on first use only

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/imports")

    assert len(response.json()["results"]) == count
    # django-tenants may issue `SET search_path` before each query (TENANT_LIMIT_SET_CALLS)
    sql = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
    tables = [s.split(" FROM ")[1].split()[0] for s in sql]
    assert tables == ['"tenants_domain"', '"accounts_apikey"', '"imports_importjob"']


def test_import_api_errors_are_paginated_by_line(tenant, api, dns_server):
    rows = "".join(f"bad{i}\n" for i in range(5))
    job_id = post_file(api, "email\nok@acme-mail.com\n" + rows).json()["id"]

    first = api.get(f"/api/v1/imports/{job_id}/errors", {"limit": 3})
    second = api.get(first.json()["next"])

    assert [e["line"] for e in first.json()["results"]] == [3, 4, 5]
    assert [e["line"] for e in second.json()["results"]] == [6, 7]
    assert second.json()["results"][-1]["value"] == "bad4"


# --- hostile input: the exact error, nothing kept ----------------------------------------------


def assert_nothing_kept(media) -> None:
    assert ImportJob.objects.count() == 0
    assert stored_files(media) == []


def test_import_api_upload_without_file(tenant, api, media):
    response = api.post("/api/v1/imports", {"strategy": "skip"})

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "validation_error",
        "message": "The request has invalid data; see details.",
        "details": {"file": ["No file was submitted."]},
    }
    assert_nothing_kept(media)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "The file is empty."),
        (
            bytes(range(256)) * 20,
            "leads.csv",
            "This file is not a CSV or Excel file. Upload a .csv, .tsv, .txt, .xlsx or .xls file.",
        ),
        (b"email,name\n", "header.csv", "The file has a header row but no data rows."),
    ],
)
def test_import_api_refuses_unusable_files(tenant, api, media, content, name, message):
    response = post_file(api, content, name=name)

    assert response.status_code == 400
    assert error_of(response) == {"code": "file_rejected", "message": message}
    assert_nothing_kept(media)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Email": "nonsense"}, 'Column "Email": unknown target "nonsense".'),
        ({"Name": "first_name"}, "Map one column to Email: every contact needs an email address."),
        (
            {"Email": "email", "Name": "email"},
            'Columns "Email" and "Name" are both mapped to Email; map each field once.',
        ),
        ({"Phone": "email"}, 'Unknown column "Phone".'),
        ({"7": "email"}, 'Unknown column "7".'),
        ({"Email": "email", "0": "ignore"}, 'Column "Email" is mapped twice.'),
        (
            {"Email": "email", "Name": "new:colour:Name"},
            'Column "Name": "colour" is not a field type; use text, number, date or boolean.',
        ),
    ],
)
def test_import_api_refuses_bad_mappings(tenant, api, media, mapping, message):
    response = post_file(api, "Email,Name\nx@acme-mail.com,X\n", mapping=json.dumps(mapping))

    assert response.status_code == 400
    assert error_of(response) == {"code": "invalid_mapping", "message": message}
    assert_nothing_kept(media)


def test_import_api_refuses_a_file_that_breaks_midway_and_keeps_nothing(
    tenant, api, media, dns_server
):
    rows = "".join(f"p{i}@acme-mail.com,P{i}\n" for i in range(50))
    broken = "email,name\n" + rows + 'q@acme-mail.com,"never closed\n'

    response = post_file(api, broken, save_preset="broken export")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "file_rejected"
    assert "never closed" in error["message"]
    assert_nothing_kept(media)
    assert not MappingPreset.objects.exists()
    assert not ImportRowError.objects.exists()


def test_import_api_refuses_a_file_without_email_column(tenant, api, media):
    response = post_file(api, "name,company\nAnn,Acme\n")

    assert error_of(response) == {
        "code": "invalid_mapping",
        "message": "Map one column to Email: every contact needs an email address.",
    }
    assert_nothing_kept(media)


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"strategy": "merge"}, {"strategy": ['"merge" is not a valid choice.']}),
        ({"mapping": "{email"}, {"mapping": ["Must be a JSON object."]}),
        (
            {"mapping": '["email"]'},
            {"mapping": ['Must be a JSON object {"<header or column index>": "<target>"}.']},
        ),
        ({"mapping": '{"0": 1}'}, {"mapping": ['Each target must be text, e.g. "email".']}),
        ({"tags": "[1, 2]"}, {"tags": ["Each tag must be text."]}),
        ({"skip_undeliverable": "perhaps"}, {"skip_undeliverable": ["Must be a valid boolean."]}),
        (
            {"preset": "x", "mapping": "{}"},
            {"preset": ["Send either `mapping` or `preset`, not both."]},
        ),
    ],
)
def test_import_api_refuses_bad_form_fields(tenant, api, media, fields, details):
    response = post_file(api, "email\nx@acme-mail.com\n", **fields)

    assert response.status_code == 400
    assert error_of(response)["details"] == details
    assert_nothing_kept(media)


def test_import_api_refuses_unknown_preset(tenant, api, media):
    response = post_file(api, "email\nx@acme-mail.com\n", preset="nope")

    assert error_of(response) == {
        "code": "invalid_mapping",
        "message": 'No mapping preset named "nope".',
    }
    assert_nothing_kept(media)


def test_import_api_refuses_bad_start_flag(tenant, api, media):
    response = post_file(api, "email\nx@acme-mail.com\n", path="/api/v1/imports?start=soon")

    assert error_of(response)["details"] == {"start": ["Must be a valid boolean."]}
    assert_nothing_kept(media)


def test_import_api_refuses_file_over_the_limit(tenant, api, media, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    response = post_file(api, "email\n" + "x@acme-mail.com\n" * 100)

    assert response.status_code == 413
    assert error_of(response) == {
        "code": "file_too_large",
        "message": "The file is 1.6 KB; the limit is 1 KB.",
        "details": {"size_bytes": 1606, "limit_bytes": 1024},
    }
    assert_nothing_kept(media)


def test_import_api_refuses_a_body_declared_over_the_limit_unread(tenant, api, media, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    response = post_file(api, b"email\n" + b"x@acme-mail.com\n" * 70_000)

    assert response.status_code == 413
    assert error_of(response)["code"] == "file_too_large"
    assert error_of(response)["details"]["limit_bytes"] == 1024
    assert_nothing_kept(media)


def test_import_api_upload_needs_multipart(tenant, api, media):
    response = api.post("/api/v1/imports", {"file": "x"}, content_type="application/json")

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_import_api_refuses_broken_multipart(tenant, api, media):
    response = api.post("/api/v1/imports", b"--x\r\nnot a part", content_type="multipart/form-data")

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_multipart"


# --- state changes that are not allowed ---------------------------------------------------------


def test_import_api_state_errors_are_409(tenant, api, dns_server):
    job_id = post_file(api, "email\nx@acme-mail.com\n", path="/api/v1/imports?start=true").json()[
        "id"
    ]

    again = api.post(f"/api/v1/imports/{job_id}/start")
    cancel = api.post(f"/api/v1/imports/{job_id}/cancel")

    assert (again.status_code, cancel.status_code) == (409, 409)
    assert error_of(again) == {
        "code": "invalid_state",
        "message": "Only an analysed import that has not run can start.",
    }
    assert error_of(cancel)["message"] == (
        "Only an import that is queued or running can be cancelled."
    )


def test_import_api_rollback_of_an_import_not_run_is_409(tenant, api, dns_server):
    job_id = post_file(api, "email\nx@acme-mail.com\n").json()["id"]

    response = api.post(f"/api/v1/imports/{job_id}/rollback", content_type="application/json")

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "invalid_state",
        "message": "Only a finished or cancelled import can be rolled back.",
    }


@pytest.fixture
def changed_since(tenant, api, dns_server, existing) -> int:
    """An import run through the API, then one of its new contacts edited in the app."""
    job_id = post_file(api, HEADER + ROWS, path="/api/v1/imports?start=true").json()["id"]
    b = Contact.objects.get(email_normalized="b@acme-mail.com")
    update_contact(contact=b, data={"company": "Edited later"}, source="ui")
    return job_id


def test_import_api_rollback_asks_what_to_do_with_contacts_changed_since(api, changed_since):
    refused = api.post(
        f"/api/v1/imports/{changed_since}/rollback", {}, content_type="application/json"
    )

    assert refused.status_code == 409
    assert error_of(refused) == {
        "code": "rollback_conflicts",
        "message": "1 contact was changed after this import; nothing was rolled back. Send "
        '{"force": false} to roll back the rest and leave them as they are, or '
        '{"force": true} to roll back everything (their later changes are then '
        "lost).",
        "details": {"conflicts": 1, "sample": ["B@acme-mail.com"]},
    }
    assert Contact.objects.count() == 3
    assert ImportJob.objects.get(pk=changed_since).status == ImportStatus.FINISHED


def test_import_api_rollback_without_force_leaves_contacts_changed_since(api, changed_since):
    response = api.post(
        f"/api/v1/imports/{changed_since}/rollback",
        {"force": False},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "rolled_back"
    assert response.json()["rollback_report"] == {
        "deleted": 1,
        "restored": 1,
        "untagged": 1,
        "forced": False,
        "conflicts": 1,
        "left_alone_sample": ["B@acme-mail.com"],
    }
    assert sorted(Contact.objects.values_list("email_normalized", "company")) == [
        ("a@acme-mail.com", "Old Co"),
        ("b@acme-mail.com", "Edited later"),
    ]


def test_import_api_rollback_with_force_undoes_everything(api, changed_since):
    response = api.post(
        f"/api/v1/imports/{changed_since}/rollback",
        {"force": True},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["rollback_report"]["forced"] is True
    assert list(Contact.objects.values_list("email_normalized", "company")) == [
        ("a@acme-mail.com", "Old Co")
    ]


def test_import_api_rollback_refuses_bad_body(tenant, api, dns_server):
    job_id = post_file(api, "email\nx@acme-mail.com\n", path="/api/v1/imports?start=true").json()[
        "id"
    ]

    response = api.post(
        f"/api/v1/imports/{job_id}/rollback", {"force": "maybe"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert error_of(response)["details"] == {"force": ["Must be a valid boolean."]}
    assert Contact.objects.count() == 1


@pytest.mark.parametrize("pk", [987654, 2**63])
def test_import_api_unknown_import_is_404(tenant, api, pk):
    response = api.get(f"/api/v1/imports/{pk}")

    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": f"No import with id {pk}."}


def test_import_api_needs_a_key(tenant):
    response = client_with_key(tenant, None).get("/api/v1/imports")

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_import_api_is_in_the_openapi_document(tenant):
    schema = client_with_key(tenant, None).get("/api/v1/schema", {"format": "json"}).json()

    assert {
        "/api/v1/imports",
        "/api/v1/imports/{id}",
        "/api/v1/imports/{id}/start",
        "/api/v1/imports/{id}/cancel",
        "/api/v1/imports/{id}/rollback",
        "/api/v1/imports/{id}/errors",
        "/api/v1/imports/{id}/errors.csv",
    } <= set(schema["paths"])
    upload = schema["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]


# --- tenant isolation ---------------------------------------------------------------------------


def test_import_api_of_tenant_is_invisible_to_other_tenant(tenant, other_tenant, api, dns_server):
    job_id = post_file(
        api, "email\nsecret@acme-mail.com\n", path="/api/v1/imports?start=true"
    ).json()["id"]
    beta, _key = key_client(other_tenant)

    assert beta.get("/api/v1/imports").json()["results"] == []
    answers = [
        beta.get(f"/api/v1/imports/{job_id}"),
        beta.get(f"/api/v1/imports/{job_id}/errors"),
        beta.get(f"/api/v1/imports/{job_id}/errors.csv"),
        beta.post(f"/api/v1/imports/{job_id}/start"),
        beta.post(f"/api/v1/imports/{job_id}/cancel"),
        beta.post(
            f"/api/v1/imports/{job_id}/rollback", {"force": True}, content_type="application/json"
        ),
    ]
    assert [a.status_code for a in answers] == [404] * 6
    assert {error_of(a)["message"] for a in answers} == {f"No import with id {job_id}."}
    assert ImportJob.objects.get(pk=job_id).status == ImportStatus.FINISHED
    assert Contact.objects.get().email == "secret@acme-mail.com"
    with in_schema(other_tenant):
        assert Contact.objects.count() == 0
        assert ImportJob.objects.count() == 0


def test_import_api_key_of_tenant_on_other_tenant_host_is_401(
    tenant, other_tenant, dns_server, media
):
    _row, alpha_key = create_api_key(name="alpha")
    job_id = post_file(client_with_key(tenant, alpha_key), "email\nx@acme-mail.com\n").json()["id"]
    intruder = client_with_key(other_tenant, alpha_key)

    answers = [
        intruder.get("/api/v1/imports"),
        intruder.get(f"/api/v1/imports/{job_id}"),
        post_file(intruder, "email\ny@acme-mail.com\n"),
        intruder.post(f"/api/v1/imports/{job_id}/start"),
    ]

    assert [a.status_code for a in answers] == [401] * 4
    assert {error_of(a)["code"] for a in answers} == {"invalid_api_key"}
    assert ImportJob.objects.get().status == ImportStatus.READY
    assert len(stored_files(media)) == 1
    with in_schema(other_tenant):
        assert ImportJob.objects.count() == 0
    assert not ImportRowError.objects.exists()
