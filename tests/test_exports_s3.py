"""Exports stored in S3 (django-storages) against a real S3-compatible server on loopback
(moto in server mode): the file goes to the bucket under the tenant's schema, and the download
is a short-lived signed URL made at click time, which works and then expires."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from django.core.files.storage import default_storage
from moto.server import ThreadedMotoServer

from imports.exports import services
from tests.conftest import client_for, make_user
from tests.factories import ContactFactory

BUCKET = "penguinleads-exports"
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "test-access-key", "aws_secret_access_key": "test-secret-key"}


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, settings, tmp_path):
    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION, **KEYS)
    client.create_bucket(Bucket=BUCKET)
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3_server, "region_name": REGION,
                    "access_key": KEYS["aws_access_key_id"],
                    "secret_key": KEYS["aws_secret_access_key"], "file_overwrite": False,
                    # Signature V4 (what AWS requires): its URLs carry their own lifetime.
                    "default_acl": None, "signature_version": "s3v4"},
    }}
    assert default_storage.bucket_name == BUCKET
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    assert list(tmp_path.iterdir()) == []  # nothing went to the local disk


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_export_in_s3_downloads_through_a_signed_url(tenant, s3, marketer):
    ContactFactory(email="ann@acme-mail.com")
    job = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=marketer)

    [item] = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert item["Key"] == job.file and job.file.startswith(f"exports/{tenant.schema_name}/")
    response = client_for(tenant, marketer).get(f"/imports/exports/{job.pk}/download")

    assert response.status_code == 302
    url = response["Location"]
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == [
        f'attachment; filename="{services.file_name(job)}"']
    assert fetch(url) == (200, b"\xef\xbb\xbfemail\nann@acme-mail.com\n")


def test_signed_url_lifetime_is_the_download_setting(tenant, s3, marketer, monkeypatch):
    """The URL is signed when asked, for DOWNLOAD_URL_SECONDS. (moto checks neither signatures
    nor expiry, so refusing an expired URL is S3's part; the signed lifetime is ours.)"""
    ContactFactory(email="ann@acme-mail.com")
    job = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=marketer)
    monkeypatch.setattr(services, "DOWNLOAD_URL_SECONDS", 60)

    kind, url = services.download_target(job)

    query = parse_qs(urlparse(url).query)
    assert (kind, query["X-Amz-Expires"]) == ("url", ["60"])
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert fetch(url)[0] == 200


def test_other_tenant_gets_no_signed_url(tenant, other_tenant, s3, marketer):
    ContactFactory(email="ann@acme-mail.com")
    job = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=marketer)
    outsider = client_for(other_tenant, make_user(other_tenant, "owner"))

    response = outsider.get(f"/imports/exports/{job.pk}/download")

    assert response.status_code == 404 and "Location" not in response
