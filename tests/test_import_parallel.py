"""Imports written by several connections at once (settings.IMPORT_WRITERS): the same end state
as one connection, whole chunks only when a writer fails or the user cancels, and a retry that
writes exactly the chunks still missing. These tests commit (the writers' connections cannot
see a test's transaction), so they clean up after themselves."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from contacts.models import Contact, ContactChange, Tag
from imports import pipeline, services
from imports.models import ImportChange, ImportJob, ImportStatus
from tests.conftest import in_schema, make_half_existing, wipe_imports
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 1000


@pytest.fixture
def committed(tenant, other_tenant):
    yield
    wipe_imports(tenant, other_tenant)


@pytest.fixture
def existing(tenant, other_tenant, committed):
    """Every other row of the file is already a contact; the other workspace has the same
    emails, which no import here may touch."""
    make_half_existing(ROWS, other_tenant)


def _file() -> str:
    lines = [f"p{i}@acme-mail.com,P{i},Co{i % 5},{'VIP' if i % 3 == 0 else ''}"
             for i in range(ROWS)]
    lines.insert(500, "not-an-email,X,Y,")  # refused, in the middle of a chunk
    return "email,first_name,company,tags\n" + "\n".join(lines) + "\n"


def _analysed() -> ImportJob:
    job = services.create_import(fileobj=ContentFile(_file().encode(), name="p.csv"),
                                 filename="p.csv", user=None)
    job = services.configure_import(job=job, strategy="update", tags=["batch"])
    return services.analyse_import(job=job, inline=True)


def _state(job: ImportJob) -> dict:
    """The contacts (with their tags), and what the import recorded for its rollback and in
    the contacts' history, by email (ids differ from one run to the next)."""
    contacts = sorted(
        (c.email, c.first_name, c.company, tuple(sorted(t.name for t in c.tags.all())))
        for c in Contact.objects.prefetch_related("tags"))
    emails = dict(Contact.objects.values_list("pk", "email"))
    record = sorted((emails[pk], action) for pk, action in
                    ImportChange.objects.filter(job=job).values_list("contact_id", "action"))
    history = sorted(ContactChange.objects.filter(source=job.source)
                     .values_list("contact_email", "action"))
    return {"contacts": contacts, "record": record, "history": history}


def _other_tenant_untouched(other_tenant) -> None:
    with in_schema(other_tenant):
        assert set(Contact.objects.values_list("first_name", "company")) == {("Theirs", "Beta")}
        assert Contact.objects.count() == ROWS // 2


def _covered(job: ImportJob) -> list[list[int]]:
    return sorted(job.applied_ranges)


def test_parallel_writers_end_like_one_connection(settings, tenant, other_tenant, dns_server,
                                                  existing):
    settings.IMPORT_CHUNK_ROWS = 97
    settings.IMPORT_WRITERS = 1
    job = services.start_import(job=_analysed(), user=None, inline=True)
    assert (job.status, job.created, job.updated) == (ImportStatus.FINISHED, 500, 500)
    one_connection = _state(job)
    services.rollback_import(job=job, user=None, inline=True)

    settings.IMPORT_WRITERS = 2
    job = services.start_import(job=_analysed(), user=None, inline=True)
    assert (job.status, job.created, job.updated, job.invalid) == (
        ImportStatus.FINISHED, 500, 500, 1)
    assert job.processed_rows == job.total_rows
    ranges = _covered(job)
    assert job.chunks_done == len(ranges) == 11  # lines 2..1002 in chunks of 97 lines
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # no gap, no overlap
    assert _state(job) == one_connection
    assert Tag.objects.filter(name__iexact="vip").count() == 1
    _other_tenant_untouched(other_tenant)

    services.rollback_import(job=job, user=None, inline=True)  # still undone as a whole
    assert set(Contact.objects.values_list("first_name", "company")) == {("Old", "Old Co")}


def test_a_failing_writer_stops_the_others_and_the_retry_writes_the_rest(
    settings, monkeypatch, tenant, other_tenant, dns_server, existing
):
    settings.IMPORT_CHUNK_ROWS = 97
    settings.IMPORT_WRITERS = 2
    job = _analysed()
    services._update(job, status=ImportStatus.QUEUED)
    apply_chunk = pipeline.apply_chunk

    def failing(job, low, high, **kwargs):
        if low >= 400:
            raise RuntimeError("the database went away")
        return apply_chunk(job, low, high, **kwargs)

    monkeypatch.setattr(pipeline, "apply_chunk", failing)
    with pytest.raises(RuntimeError):
        services.run_import(job, user_id=None)
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING and 1 <= job.chunks_done < 11
    assert all(low < 400 for low, _high in job.applied_ranges)  # nothing of a failed chunk
    written = Contact.objects.exclude(first_name="Old").count()
    assert written == job.created + job.updated  # whole chunks only

    monkeypatch.setattr(pipeline, "apply_chunk", apply_chunk)
    services.run_import(job, user_id=None)  # the retry
    job.refresh_from_db()
    assert (job.status, job.created, job.updated, job.chunks_done) == (
        ImportStatus.FINISHED, 500, 500, 11)
    assert ImportChange.objects.filter(job=job, action="created").count() == 500
    assert ImportChange.objects.filter(job=job, action="updated").count() == 500
    assert Contact.objects.filter(first_name="Old").count() == 0
    assert Contact.objects.count() == ROWS
    _other_tenant_untouched(other_tenant)


def test_cancel_stops_every_writer_after_its_chunk(settings, monkeypatch, tenant, dns_server,
                                                  existing):
    settings.IMPORT_CHUNK_ROWS = 97
    settings.IMPORT_WRITERS = 2
    job = _analysed()
    apply_one = services._apply_one_chunk

    def then_cancel(job, low, high, user_id):
        apply_one(job, low, high, user_id)
        ImportJob.objects.filter(pk=job.pk).update(cancel_requested=True)

    monkeypatch.setattr(services, "_apply_one_chunk", then_cancel)
    job = services.start_import(job=job, user=None, inline=True)
    assert job.status == ImportStatus.CANCELLED
    assert 1 <= job.chunks_done <= 2  # each writer finishes the chunk it had
    assert Contact.objects.exclude(first_name="Old").count() == job.created + job.updated
    services.rollback_import(job=job, user=None, inline=True)
    assert set(Contact.objects.values_list("first_name", "company")) == {("Old", "Old Co")}


def test_chunk_bounds_leave_out_the_written_ranges(settings, tenant, dns_server, committed):
    job = _analysed()  # lines 2..1002
    assert pipeline.chunk_bounds(job, 400) == [(2, 402), (402, 802), (802, 1003)]
    assert pipeline.chunk_bounds(job, 400, done=[[402, 802], [2, 100]]) == [
        (100, 402), (802, 1003)]
    assert pipeline.chunk_bounds(job, 400, done=[[2, 1003]]) == []
    assert pipeline.chunk_bounds(job, 1000, done=[[500, 600]]) == [(2, 500), (600, 1003)]
