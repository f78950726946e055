"""Rollback in chunks of contact ids on several connections (settings.IMPORT_WRITERS): the
tenant ends exactly as before the import, the same as one connection in one chunk; a rollback
that stops (an error, a killed worker) keeps what it undid and a retry undoes the rest, without
taking the contacts it restored itself for contacts changed since the import. These tests
commit (the writers' connections cannot see a test's transaction), so they clean up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from contacts.models import Contact, ContactChange, Tag
from imports import pipeline, services
from imports.models import ImportChange, ImportJob, ImportStatus
from tests.conftest import (
    client_for,
    in_schema,
    kill_worker_when,
    make_half_existing,
    make_user,
    start_worker,
    table_stat,
    wipe_imports,
)
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 1000


@pytest.fixture
def committed(tenant, other_tenant):
    yield
    wipe_imports(tenant, other_tenant)
    for schema in (tenant, other_tenant):
        with in_schema(schema):
            get_user_model().objects.all().delete()


@pytest.fixture
def existing(tenant, other_tenant, committed):
    """Every other row of the file is already a contact (with a tag of its own); the other
    workspace has the same emails, which no rollback here may touch."""
    make_half_existing(ROWS, other_tenant, tag=Tag.objects.create(name="kept"))


def _imported(user=None) -> ImportJob:
    lines = [f"p{i}@acme-mail.com,P{i},Co{i % 5},{'VIP' if i % 3 == 0 else ''}"
             for i in range(ROWS)]
    job = services.create_import(
        fileobj=ContentFile(("email,first_name,company,tags\n" + "\n".join(lines)).encode(),
                            name="p.csv"),
        filename="p.csv", user=user)
    job = services.configure_import(job=job, strategy="update", tags=["batch"])
    job = services.analyse_import(job=job, inline=True)
    job = services.start_import(job=job, user=user, inline=True)
    assert (job.status, job.created, job.updated) == (ImportStatus.FINISHED, 500, 500)
    return job


def _tenant_state() -> list[tuple]:
    return sorted(
        (c.email, c.first_name, c.company, c.validation_status,
         tuple(sorted(t.name for t in c.tags.all())))
        for c in Contact.objects.prefetch_related("tags"))


def _rollback_history(job: ImportJob) -> list[tuple[str, str]]:
    return sorted(ContactChange.objects.filter(source=f"rollback:{job.pk}")
                  .values_list("contact_email", "action"))


def _other_tenant_untouched(other_tenant) -> None:
    with in_schema(other_tenant):
        assert set(Contact.objects.values_list("first_name", "company")) == {("Theirs", "Beta")}
        assert Contact.objects.count() == ROWS // 2
        assert not ContactChange.objects.filter(source__startswith="rollback:").exists()


def _contiguous(ranges: list) -> bool:
    ranges = sorted(ranges)
    return all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_rollback_in_chunks_on_two_connections_ends_like_one(
    settings, tenant, other_tenant, dns_server, existing
):
    before = _tenant_state()
    settings.IMPORT_WRITERS = 1
    job = _imported()
    settings.IMPORT_CHUNK_ROWS = 100_000  # the whole record in one chunk, on one connection
    job = services.rollback_import(job=job, user=None, inline=True)
    assert (job.status, job.rollback_chunks, len(job.rollback_ranges)) == (
        ImportStatus.ROLLED_BACK, 1, 1)
    one_chunk_report, one_chunk_history = job.rollback_report, _rollback_history(job)
    assert one_chunk_report["deleted"] == one_chunk_report["restored"] == 500
    assert _tenant_state() == before

    settings.IMPORT_WRITERS = 2
    settings.IMPORT_CHUNK_ROWS = 97
    job = _imported()
    records = ImportChange.objects.filter(job=job).count()
    job = services.rollback_import(job=job, user=None, inline=True)
    assert job.status == ImportStatus.ROLLED_BACK
    assert job.rollback_chunks == len(job.rollback_ranges) >= records // 97 - 1
    assert _contiguous(job.rollback_ranges)  # no gap, no overlap
    assert services.import_progress(job)["status"] == "rolled_back"
    assert job.rollback_report == one_chunk_report  # counts: deleted, restored, untagged, ...
    assert _tenant_state() == before  # values, validation and tags as before the import
    # One record per undone contact: 'deleted' for the created, 'updated' for the restored.
    assert _rollback_history(job) == one_chunk_history
    assert Tag.objects.filter(name="kept").exists()
    _other_tenant_untouched(other_tenant)


def test_rollback_that_stops_on_an_error_carries_on_where_it_stopped(
    settings, monkeypatch, tenant, other_tenant, dns_server, existing
):
    from imports.tasks import rollback_import_task

    before = _tenant_state()
    settings.IMPORT_WRITERS = 2
    settings.IMPORT_CHUNK_ROWS = 97
    job = _imported()
    finished_at = job.finished_at
    bounds = pipeline.rollback_bounds(job, 97)
    broken_from = bounds[4][0]
    undo_chunk = pipeline.undo_chunk

    def failing(job, low, high, **kwargs):
        if low >= broken_from:
            raise RuntimeError("the database went away")
        return undo_chunk(job, low, high, **kwargs)

    monkeypatch.setattr(pipeline, "undo_chunk", failing)
    services._update(job, status=ImportStatus.ROLLING_BACK, rollback_report={"forced": False})
    with pytest.raises(RuntimeError):
        rollback_import_task(tenant.schema_name, job.pk, None, False)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "The rollback stopped" in job.error and "roll back again" in job.error
    assert job.finished_at == finished_at  # the import's own finish time is kept
    assert 1 <= len(job.rollback_ranges) <= 4 < job.rollback_chunks
    assert all(low < broken_from for low, _high in job.rollback_ranges)  # no failed chunk
    # Whole chunks only, and the counts say exactly what is undone.
    report = job.rollback_report
    assert ContactChange.objects.filter(source=f"rollback:{job.pk}").count() == (
        report["deleted"] + report["restored"])
    assert Contact.objects.count() == ROWS - report["deleted"]
    assert 0 < report["deleted"] + report["restored"] < 1000
    # Nothing it restored counts as changed since the import.
    assert services.rollback_preview(job) == {"conflicts": 0, "sample": []}

    monkeypatch.setattr(pipeline, "undo_chunk", undo_chunk)
    job = services.rollback_import(job=job, user=None, inline=True)  # again: the rest
    assert job.status == ImportStatus.ROLLED_BACK and job.error == ""
    assert job.rollback_report == {"deleted": 500, "restored": 500, "untagged": 500 + 167,
                                   "conflicts": 0, "forced": False}
    assert _contiguous(job.rollback_ranges) and len(job.rollback_ranges) == job.rollback_chunks
    assert _tenant_state() == before
    history = _rollback_history(job)
    assert len(history) == len(set(history)) == 1000  # each contact undone once
    _other_tenant_untouched(other_tenant)


def test_failed_rollback_page_offers_to_finish_it_and_other_tenant_sees_nothing(
    settings, tenant, other_tenant, dns_server, existing
):
    settings.IMPORT_CHUNK_ROWS = 97
    admin = make_user(tenant, "admin", email="owner@example.com")
    job = _imported(user=admin)
    services._update(job, status=ImportStatus.FAILED, rollback_chunks=11,
                     rollback_ranges=[[0, 1]], error="The rollback stopped because of an "
                     "internal error (OperationalError). What it undid so far stays undone; "
                     "roll back again to undo the rest.",
                     rollback_report={"forced": False, "deleted": 0, "restored": 3})
    page = client_for(tenant, admin).get(f"/imports/{job.pk}/").content.decode()
    assert "Rollback incomplete.</strong> The rollback stopped because" in page
    assert "roll back again to undo the rest" in page
    assert "Undone so far: 0 created contacts deleted, 3 updated contacts restored." in page
    assert "Finish the rollback" in page and "Roll back the rest" in page
    response = client_for(tenant, admin).post(f"/imports/{job.pk}/rollback/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.ROLLED_BACK
    assert job.rollback_report["restored"] == 3 + 500 and job.rollback_report["deleted"] == 500

    other_admin = make_user(other_tenant, "admin", email="owner@other.example")
    assert client_for(other_tenant, other_admin).get(f"/imports/{job.pk}/").status_code == 404
    assert client_for(other_tenant, other_admin).post(
        f"/imports/{job.pk}/rollback/").status_code == 404
    _other_tenant_untouched(other_tenant)


def test_rollback_of_a_finished_job_cannot_start_twice(tenant, other_tenant, dns_server, existing):
    job = services.rollback_import(job=_imported(), user=None, inline=True)
    with pytest.raises(services.ImportStateError):
        services.rollback_import(job=job, user=None, inline=True)
    failed_import = ImportJob.objects.create(file="x.csv", original_name="x.csv",
                                             status=ImportStatus.FAILED)
    with pytest.raises(services.ImportStateError):  # an import that failed: nothing to undo
        services.rollback_import(job=failed_import, user=None, inline=True)


def test_killed_rollback_worker_then_resume_ends_like_one_clean_run(
    settings, tenant, other_tenant, dns_server, existing
):
    from django_q.models import OrmQ

    from imports.tasks import resume_stalled_imports, rollback_import_task

    before = _tenant_state()
    admin = make_user(tenant, "admin", email="owner@example.com")
    job = _imported(user=admin)
    settings.IMPORT_INLINE_MAX_ROWS = 100
    job = services.rollback_import(job=job, user=admin)  # > 100 contacts: queued
    assert job.status == ImportStatus.ROLLING_BACK
    worker = start_worker(f"from imports.tasks import rollback_import_task; "
                          f"rollback_import_task({tenant.schema_name!r}, {job.pk}, {admin.pk}, "
                          "False)", IMPORT_CHUNK_ROWS="8", IMPORT_WRITERS="2")
    kill_worker_when(worker, job, lambda job: len(job.rollback_ranges) >= 5)
    assert job.status == ImportStatus.ROLLING_BACK
    done = len(job.rollback_ranges)
    assert 5 <= done < job.rollback_chunks, "the worker was killed mid-rollback"
    progress = services.import_progress(job)
    assert progress["percent"] == round(100 * done / job.rollback_chunks)
    page = client_for(tenant, admin).get(f"/imports/{job.pk}/").content.decode()
    assert f'aria-valuenow="{progress["percent"]}"' in page and "% undone" in page
    undone = job.rollback_report["deleted"] + job.rollback_report["restored"]
    assert ContactChange.objects.filter(source=f"rollback:{job.pk}").count() == undone

    # The schedule finds the job without a heartbeat and queues it again, for the same user.
    services._update(job, heartbeat_at=timezone.now() - timedelta(minutes=10))
    OrmQ.objects.all().delete()
    assert resume_stalled_imports() == 1
    connection.set_tenant(tenant)
    (queued,) = [task.task["args"] for task in OrmQ.objects.all()]
    assert queued == (tenant.schema_name, job.pk, admin.pk, False)
    rollback_import_task(*queued)  # the retry
    job.refresh_from_db()
    assert (job.status, job.rolled_back_by_id) == (ImportStatus.ROLLED_BACK, admin.pk)
    assert job.rollback_report == {"deleted": 500, "restored": 500, "untagged": 500 + 167,
                                   "conflicts": 0, "forced": False}
    assert _contiguous(job.rollback_ranges)
    assert _tenant_state() == before
    history = _rollback_history(job)
    assert len(history) == len(set(history)) == 1000
    _other_tenant_untouched(other_tenant)


def _vacuum_count(table: str) -> int:
    return table_stat(table, "vacuum_count")


def test_follow_up_job_vacuums_what_the_rollback_left_dead_in_its_own_workspace_only(
        tenant, other_tenant, dns_server, existing):
    """A rollback updates or deletes every contact of its import: its follow-up job vacuums
    the contacts there and then (outside any transaction, as a worker runs it) rather than
    leaving them to autovacuum during the next import. A small one leaves it to autovacuum."""
    from django_q.models import OrmQ

    from imports.tasks import refresh_statistics_task

    def queued_refresh() -> tuple:
        (args,) = [queued.task["args"] for queued in OrmQ.objects.all()
                   if queued.task["func"] == "imports.tasks.refresh_statistics_task"]
        OrmQ.objects.all().delete()
        return args

    OrmQ.objects.all().delete()
    job = _imported()
    imported = queued_refresh()
    assert imported[2] == {"contacts_contact": 500}  # the updated contacts' old versions
    services.rollback_import(job=job, user=None, inline=True)
    args = queued_refresh()
    assert args[0] == tenant.schema_name
    assert args[2]["contacts_contact"] == 1000  # 500 deleted + 500 restored
    with in_schema(other_tenant):
        theirs = _vacuum_count("contacts_contact")
    ours = _vacuum_count("contacts_contact")

    assert not connection.in_atomic_block
    done = refresh_statistics_task(*args)
    assert "contacts_contact" in done["vacuumed"]
    assert "contacts_contact" in done["analysed"]
    assert _vacuum_count("contacts_contact") == ours + 1
    with in_schema(other_tenant):
        assert _vacuum_count("contacts_contact") == theirs

    # Few dead rows for the table's size (50 + a fifth of ~500 contacts): no VACUUM.
    assert refresh_statistics_task(tenant.schema_name, {}, {"contacts_contact": 140}) == {
        "vacuumed": [], "analysed": []}
    assert refresh_statistics_task(tenant.schema_name, {}, {"contacts_contact": 160})[
        "vacuumed"] == ["contacts_contact"]
    assert _vacuum_count("contacts_contact") == ours + 2
