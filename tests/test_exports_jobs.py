"""The export job: inline for small sources, a django-q2 job for big ones (progress, stored
file, notification), expiry and clean-up."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf

from contacts.models import Contact
from imports.exports import services, tasks
from imports.models import ExportJob, ExportStatus
from tests.conftest import in_schema


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def add_contacts(count: int, prefix: str = "p") -> None:
    Contact.objects.bulk_create(
        Contact(email=f"{prefix}{i}@acme-mail.com", email_normalized=f"{prefix}{i}@acme-mail.com",
                first_name=f"N{i}")
        for i in range(count)
    )


def read(job: ExportJob) -> str:
    with default_storage.open(job.file, "rb") as stored:
        return stored.read().decode("utf-8-sig")


def test_small_export_runs_inline_and_is_stored(tenant, marketer):
    add_contacts(3)

    job = services.start_export(source={"kind": "all"}, columns=["email", "first_name"],
                                file_format="csv", user=marketer)

    assert (job.status, job.written_rows, job.total_rows) == (ExportStatus.FINISHED, 3, 3)
    assert job.created_by == marketer and job.label == "All contacts"
    assert job.file.startswith(f"exports/{tenant.schema_name}/")
    assert job.file.endswith(f"/contacts-{job.created_at:%Y%m%d-%H%M}-{job.pk}.csv")
    assert read(job) == ("email,first_name\n" + "".join(
        f"p{i}@acme-mail.com,N{i}\n" for i in range(3)))
    assert job.size == default_storage.size(job.file)
    assert job.expires_at - job.finished_at == dt.timedelta(days=7)


def test_big_export_runs_in_the_background_and_notifies(
    tenant, marketer, monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    add_contacts(12)
    monkeypatch.setattr(services, "INLINE_MAX_ROWS", 5)
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 runs the task in this process

    with django_capture_on_commit_callbacks(execute=True):
        job = services.start_export(source={"kind": "all"}, columns=["email"],
                                    file_format="jsonl", user=marketer)
        assert job.status == ExportStatus.QUEUED  # the answer comes before the work

    job.refresh_from_db()
    assert (job.status, job.written_rows, job.total_rows) == (ExportStatus.FINISHED, 12, 12)
    assert read(job).splitlines() == [f'{{"email":"p{i}@acme-mail.com"}}' for i in range(12)]
    [mail] = mailoutbox
    assert mail.to == [marketer.email]
    assert mail.subject == "Your export is ready: All contacts"
    assert f"https://alpha.localhost/imports/exports/{job.pk}/" in mail.body  # DEBUG is off


def test_export_task_refuses_public_schema_and_ignores_finished_jobs(tenant):
    add_contacts(1)
    job = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=None)
    with pytest.raises(ValueError, match="needs the schema of a tenant"):
        tasks.run_export_task("public", job.pk)

    tasks.run_export_task(tenant.schema_name, job.pk)  # already finished: nothing happens

    assert ExportJob.objects.get(pk=job.pk).file == job.file


def test_export_of_a_deleted_list_fails_with_a_reason(tenant):
    from segments.services import get_or_create_list

    static_list = get_or_create_list(name="Leads")
    add_contacts(2)
    job = ExportJob.objects.create(source={"kind": "list", "list_id": static_list.pk},
                                   file_format="csv", columns=["email"])
    list_id = static_list.pk
    static_list.delete()

    tasks.run_export_task(tenant.schema_name, job.pk)

    job.refresh_from_db()
    assert (job.status, job.error) == (ExportStatus.FAILED, f"There is no list with id {list_id}.")
    assert job.file == ""


def test_expired_exports_lose_their_file_and_keep_their_history(tenant, other_tenant):
    add_contacts(2)
    old = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                user=None)
    fresh = services.start_export(source={"kind": "all"}, columns=["email"], file_format="csv",
                                  user=None)
    ExportJob.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    with in_schema(other_tenant):
        add_contacts(1, prefix="beta")
        theirs = services.start_export(source={"kind": "all"}, columns=["email"],
                                       file_format="csv", user=None)
        ExportJob.objects.filter(pk=theirs.pk).update(
            expires_at=timezone.now() - dt.timedelta(hours=1))

    assert tasks.delete_expired_exports() == 2

    connection.set_tenant(tenant)  # the schedule leaves the connection on the public schema
    assert not default_storage.exists(old.file) and default_storage.exists(fresh.file)
    assert not default_storage.exists(theirs.file)
    assert ExportJob.objects.get(pk=old.pk).file == ""
    assert ExportJob.objects.count() == 2


def test_other_tenants_export_has_none_of_our_contacts(tenant, other_tenant):
    add_contacts(3, prefix="alpha")
    with in_schema(other_tenant):
        add_contacts(2, prefix="beta")
        job = services.start_export(source={"kind": "all"}, columns=["email"],
                                    file_format="csv", user=None)
        assert read(job) == "email\nbeta0@acme-mail.com\nbeta1@acme-mail.com\n"
        assert job.file.startswith(f"exports/{other_tenant.schema_name}/")
    assert not ExportJob.objects.filter(pk=job.pk, file=job.file).exists()
