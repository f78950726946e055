"""Imports whose files live in S3 (django-storages), against a real S3-compatible server on
loopback: moto in server mode. Upload → analyse → start → error report → rollback, with the
object keys carrying the tenant's schema."""

from __future__ import annotations

import csv
import io

import boto3
import openpyxl
import pytest
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

from contacts.models import Contact
from imports import services
from imports.models import ImportJob, ImportStatus
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.test_api_keys import error_of, key_client

BUCKET = "penguinleads-imports"
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "test-access-key", "aws_secret_access_key": "test-secret-key"}
CSV_TEXT = "email,first_name\nann@acme-mail.com,Ann\nnot-an-email,Bad\nbo@acme-mail.com,Bo\n"


@pytest.fixture(scope="module")
def s3_endpoint():
    """One moto S3 server for this module, on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Bucket:
    def __init__(self, endpoint: str):
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **KEYS)

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def empty(self) -> None:
        for key in self.keys():
            self.client.delete_object(Bucket=BUCKET, Key=key)


@pytest.fixture
def bucket(s3_endpoint, settings, tmp_path):
    """The default storage is S3 (the options settings.py gives it when S3_BUCKET is set),
    in an empty bucket; local media points at an empty folder that must stay empty."""
    bucket = Bucket(s3_endpoint)
    bucket.client.create_bucket(Bucket=BUCKET)
    settings.MEDIA_ROOT = tmp_path
    # Changing STORAGES makes Django drop its storage instances (django.test.signals
    # storages_changed): `storages` and the `default_storage` the services use are rebuilt.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": REGION,
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    assert isinstance(storages["default"], S3Storage)
    assert default_storage.bucket_name == BUCKET
    yield bucket
    bucket.empty()
    assert list(tmp_path.iterdir()) == []  # nothing went to the local disk


@pytest.fixture
def api(tenant):
    client, _api_key = key_client(tenant)
    return client


def test_import_with_file_in_s3_runs_end_to_end(tenant, api, bucket, dns_server):
    uploaded = api.post(
        "/api/v1/imports", {"file": SimpleUploadedFile("leads.csv", CSV_TEXT.encode())}
    )

    assert uploaded.status_code == 201, uploaded.content
    job = ImportJob.objects.get(pk=uploaded.json()["id"])
    [key] = bucket.keys()
    assert key == job.file
    assert key.startswith(f"imports/{tenant.schema_name}/") and key.endswith("/leads.csv")
    assert bucket.read(key) == CSV_TEXT.encode()
    assert (job.status, job.created, job.invalid) == (ImportStatus.READY, 2, 1)

    started = api.post(f"/api/v1/imports/{job.pk}/start")

    assert (started.json()["status"], started.json()["created"]) == ("finished", 2)
    assert sorted(Contact.objects.values_list("email", "first_name")) == [
        ("ann@acme-mail.com", "Ann"),
        ("bo@acme-mail.com", "Bo"),
    ]

    report = api.get(f"/api/v1/imports/{job.pk}/errors.csv")

    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows == [
        ["email", "first_name", "error"],
        ["not-an-email", "Bad", "An email address must have an @-sign."],
    ]

    rolled = api.post(f"/api/v1/imports/{job.pk}/rollback", {}, content_type="application/json")

    assert rolled.json()["status"] == "rolled_back"
    assert Contact.objects.count() == 0
    assert bucket.keys() == [key]  # the file stays, for the history and the report


def test_import_of_spreadsheet_in_s3(tenant, bucket, dns_server):
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["Email", "Seats"], ["xl@acme-mail.com", 3], ["yl@acme-mail.com", 5]):
        sheet.append(row)
    content = io.BytesIO()
    book.save(content)
    upload = SimpleUploadedFile("leads.xlsx", content.getvalue())

    job = services.create_import(fileobj=upload, filename="leads.xlsx", user=None)
    job = services.start_import(job=services.analyse_import(job=job), user=None)

    assert (job.file_format, job.status, job.created) == ("xlsx", ImportStatus.FINISHED, 2)
    assert bucket.keys(f"imports/{tenant.schema_name}/") == [job.file]


def test_refused_upload_leaves_nothing_in_s3(tenant, api, bucket):
    binary = api.post(
        "/api/v1/imports", {"file": SimpleUploadedFile("x.csv", bytes(range(256)) * 8)}
    )
    no_email = api.post("/api/v1/imports", {"file": SimpleUploadedFile("y.csv", b"name\nAnn\n")})

    assert [error_of(binary)["code"], error_of(no_email)["code"]] == [
        "file_rejected",
        "invalid_mapping",
    ]
    assert bucket.keys() == []
    assert ImportJob.objects.count() == 0


def test_s3_keys_carry_the_tenant_schema(tenant, other_tenant, bucket, dns_server):
    alpha = services.create_import(
        fileobj=SimpleUploadedFile("same.csv", b"email\na@b.com\n"), filename="same.csv", user=None
    )
    with in_schema(other_tenant):
        beta = services.create_import(
            fileobj=SimpleUploadedFile("same.csv", b"email\nsecret@beta.com\n"),
            filename="same.csv",
            user=None,
        )
        assert ImportJob.objects.get().file == beta.file

    assert bucket.keys(f"imports/{tenant.schema_name}/") == [alpha.file]
    assert bucket.keys(f"imports/{other_tenant.schema_name}/") == [beta.file]
    assert bucket.read(alpha.file) == b"email\na@b.com\n"
    assert not ImportJob.objects.filter(file=beta.file).exists()
