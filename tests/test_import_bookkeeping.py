"""An import's bookkeeping around its writes. Statistics after an import or a rollback: a
follow-up job samples the big tables again only when the writes touched a tenth of their rows
or more (autovacuum's rule), so a small import into a big workspace does not cost an ANALYZE;
the decision reads each workspace's own tables. The import's record (ImportChange) goes with its
job although the database does not enforce it."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from contacts.models import Contact
from imports import pipeline
from imports import services as imports
from tests.conftest import in_schema, table_stat
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)


def _contacts(count: int) -> None:
    Contact.objects.bulk_create(
        Contact(email=f"c{i}@stats.example.com", email_normalized=f"c{i}@stats.example.com")
        for i in range(count))
    with connection.cursor() as cursor:
        for table in pipeline.STATISTICS_TABLES:
            cursor.execute(f"ANALYZE {table}")


def _analyze_count(table: str) -> int:
    return table_stat(table, "analyze_count")


def _import(rows: int, prefix: str):
    text = "email\n" + "".join(f"{prefix}{i}@example.com\n" for i in range(rows))
    job = imports.create_import(fileobj=ContentFile(text.encode(), name="f.csv"),
                                filename="f.csv", user=None)
    job = imports.configure_import(job=job, strategy="update")
    job = imports.analyse_import(job=job, inline=True)
    return imports.start_import(job=job, user=None, inline=True)


def test_without_counts_every_table_is_analysed(tenant):
    assert pipeline.tables_to_analyze(None) == list(pipeline.STATISTICS_TABLES)


def test_a_tenth_of_the_rows_plus_fifty_is_the_line(tenant, other_tenant):
    with in_schema(other_tenant):
        _contacts(1000)
    connection.set_tenant(tenant)
    _contacts(200)  # this workspace: 200 contacts, the other 1,000
    assert "contacts_contact" not in pipeline.tables_to_analyze({"contacts_contact": 69})
    assert "contacts_contact" in pipeline.tables_to_analyze({"contacts_contact": 70})
    with in_schema(other_tenant):  # its own size decides there
        assert "contacts_contact" not in pipeline.tables_to_analyze({"contacts_contact": 70})
        assert "contacts_contact" in pipeline.tables_to_analyze({"contacts_contact": 150})
    connection.set_tenant(tenant)


def _queued_statistics() -> list[tuple]:
    """The arguments of the statistics refreshes queued so far (and clears the queue)."""
    from django_q.models import OrmQ

    queued = [task.task["args"] for task in OrmQ.objects.all()
              if task.task["func"] == "imports.tasks.refresh_statistics_task"]
    OrmQ.objects.all().delete()
    return queued


def test_statistics_are_a_follow_up_job_that_skips_small_changes(
        tenant, dns_server, django_capture_on_commit_callbacks):
    from imports.tasks import refresh_statistics_task

    _contacts(600)
    _queued_statistics()
    before = _analyze_count("contacts_contact")
    with django_capture_on_commit_callbacks(execute=True):
        small = _import(5, "small")
    assert small.created == 5 and small.status == "finished"
    (args,) = _queued_statistics()
    assert args[0] == tenant.schema_name
    assert refresh_statistics_task(*args) == {"vacuumed": [], "analysed": []}  # 5 < 50 + 60
    assert _analyze_count("contacts_contact") == before

    with django_capture_on_commit_callbacks(execute=True):
        big = _import(200, "big")
    assert big.created == 200
    assert _analyze_count("contacts_contact") == before  # not while the import ran
    (args,) = _queued_statistics()
    assert "contacts_contact" in refresh_statistics_task(*args)["analysed"]  # 200 ≥ 50 + 60.5
    assert _analyze_count("contacts_contact") == before + 1

    record_before = _analyze_count("imports_importchange")
    with django_capture_on_commit_callbacks(execute=True):
        imports.rollback_import(job=big, user=None, inline=True)
    assert Contact.objects.filter(email_normalized__startswith="big").count() == 0
    # Before the rollback, only the import's record is analysed (the rollback's plans need
    # its size); after it, a follow-up job (195 deleted and 5 restored ≥ 50 + 10% of 800).
    assert _analyze_count("imports_importchange") == record_before + 1
    assert _analyze_count("contacts_contact") == before + 1
    (args,) = _queued_statistics()
    assert args[2] == {"contacts_contact": 200, "contacts_contacttag": 0}  # rows left dead
    # Inside this test's transaction VACUUM cannot run: it is left to autovacuum.
    assert refresh_statistics_task(*args) == {"vacuumed": [], "analysed": [
        "contacts_contact", "contacts_contactchange"]}
    assert _analyze_count("contacts_contact") == before + 2


def test_statistics_task_refuses_to_run_without_a_tenant_schema():
    from imports.tasks import refresh_statistics_task

    with pytest.raises(ValueError, match="needs the schema of a tenant"):
        refresh_statistics_task("public", {"contacts_contact": 1})


def test_never_analysed_table_is_analysed(tenant, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE stats_probe (id int)")  # reltuples -1: never counted
    monkeypatch.setattr(pipeline, "STATISTICS_TABLES", ("stats_probe",))
    assert pipeline.tables_to_analyze({"stats_probe": 0}) == ["stats_probe"]
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO stats_probe SELECT generate_series(1, 1000)")
        cursor.execute("ANALYZE stats_probe")
    assert pipeline.tables_to_analyze({"stats_probe": 149}) == []
    assert pipeline.tables_to_analyze({"stats_probe": 150}) == ["stats_probe"]


def test_deleting_an_import_deletes_its_record_in_its_own_tenant_only(tenant, other_tenant,
                                                                      dns_server):
    """ImportChange has no database constraint to its job (a check per written row): Django's
    cascade still deletes a job's record with the job, and nothing of another workspace."""
    from imports.models import ImportChange, ImportJob

    with in_schema(other_tenant):
        theirs = _import(3, "theirs")
        their_changes = ImportChange.objects.filter(job=theirs).count()
    connection.set_tenant(tenant)
    job = _import(4, "ours")
    assert ImportChange.objects.filter(job=job).count() == 4
    ImportJob.objects.filter(pk=job.pk).delete()
    assert not ImportChange.objects.filter(job_id=job.pk).exists()
    with in_schema(other_tenant):
        assert ImportChange.objects.filter(job_id=theirs.pk).count() == their_changes == 3
    connection.set_tenant(tenant)
