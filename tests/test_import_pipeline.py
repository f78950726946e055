"""The import pipeline end to end through its services: analysis counts, strategies, row
errors, history, rollback, isolation, and resuming after a killed worker."""

from __future__ import annotations

import io
import time

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction

from contacts.models import Contact, ContactChange, ContactTag
from contacts.services import update_contact
from imports import pipeline, services
from imports.mapping import MappingError
from imports.models import ImportChange, ImportJob, ImportRowError, ImportStatus
from imports.readers import FileRejected
from imports.staging import create_stage, stage_table
from tests.conftest import in_schema, kill_worker_when, start_worker
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory, TagFactory

HEADER = "Email,First Name,Last Name,Company,Tags\n"
ROWS = (
    "a@acme-mail.com,,,New Co,vip\n"            # line 2: existing contact, gets company + tag
    "B@Acme-Mail.com,Bo,Berg,,\n"               # line 3: new
    "not-an-email,Al,Alt,X,\n"                  # line 4: refused
    "b@acme-mail.com,Bob,Berg,,\n"              # line 5: duplicate of line 3
    "c@nullmx-corp.com,Cy,Cole,Null Inc,\n"     # line 6: new, flagged invalid (null MX)
    "d@example.com,Di,Dee,Co,x,extra\n"         # line 7: ragged, refused
)


def upload(text: str, name: str = "leads.csv", **options) -> ImportJob:
    job = services.create_import(fileobj=ContentFile(text.encode(), name=name), filename=name,
                                 user=None)
    if options:
        job = services.configure_import(job=job, **options)
    return services.analyse_import(job=job)


@pytest.fixture
def existing(tenant):
    contact = ContactFactory(email="a@acme-mail.com", first_name="Ann", last_name="Abel",
                             company="Old Co")
    return contact


def test_import_analysis_counts_what_will_happen(tenant, dns_server, existing):
    job = upload(HEADER + ROWS)
    assert job.status == ImportStatus.READY
    assert job.mapping == {"0": "email", "1": "first_name", "2": "last_name", "3": "company",
                           "4": "tags"}
    counts = {k: getattr(job, k) for k in services.PROGRESS_FIELDS}
    assert counts == {
        "total_rows": 6, "processed_rows": 0, "created": 2, "updated": 1, "unchanged": 0,
        "skipped": 0, "invalid": 2, "duplicates_in_file": 1, "possible_duplicates": 0,
        "flagged": 1,
    }
    assert Contact.objects.count() == 1  # analysis writes no contact


def test_import_update_strategy_writes_contacts_history_and_errors(tenant, dns_server, existing):
    job = services.start_import(job=upload(HEADER + ROWS), user=None)
    assert (job.status, job.created, job.updated) == (ImportStatus.FINISHED, 2, 1)
    a = Contact.objects.get(email_normalized="a@acme-mail.com")
    assert (a.first_name, a.company, a.validation_status) == ("Ann", "New Co", "valid")
    assert list(a.tags.values_list("name", flat=True)) == ["vip"]
    b = Contact.objects.get(email_normalized="b@acme-mail.com")
    assert (b.email, b.first_name, b.source) == ("B@acme-mail.com", "Bo", job.source)
    c = Contact.objects.get(email_normalized="c@nullmx-corp.com")
    assert (c.validation_status, c.validation_reason) == ("invalid", "null_mx")
    history = ContactChange.objects.get(contact=a, source=job.source)
    assert history.changes == {"company": ["Old Co", "New Co"]}
    errors = list(ImportRowError.objects.filter(job=job).values_list("line", "column", "reason"))
    assert errors[0][:2] == (4, "Email")
    assert errors[1] == (5, "Email", "Same email as line 3; only the first is imported.")
    assert errors[2] == (7, "", "This row has 6 values but the header has 5 columns.")
    assert len(errors) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [stage_table(job)])
        assert cursor.fetchone()[0] is None  # staging dropped once finished


@pytest.mark.parametrize(
    ("strategy", "company", "first_name", "created", "updated", "skipped"),
    [
        ("skip", "Old Co", "Ann", 2, 0, 1),
        ("fill", "Old Co", "Ann", 2, 1, 0),
        ("update", "New Co", "Ann", 2, 1, 0),
        ("create", "Old Co", "Ann", 2, 0, 1),
    ],
)
def test_import_strategies(tenant, dns_server, strategy, company, first_name, created, updated,
                           skipped):
    ContactFactory(email="a@acme-mail.com", first_name="Ann", last_name="", company="Old Co")
    job = services.start_import(job=upload(HEADER + ROWS, strategy=strategy), user=None)
    a = Contact.objects.get(email_normalized="a@acme-mail.com")
    assert (a.company, a.first_name) == (company, first_name)
    assert (job.created, job.updated, job.skipped) == (created, updated, skipped)
    if strategy == "fill":
        assert a.last_name == ""  # the file had no last name for a@ either
    if strategy == "create":
        reasons = ImportRowError.objects.filter(job=job, line=2).values_list("reason", flat=True)
        assert list(reasons) == ["A contact with this email already exists; it is not created "
                                 "twice."]


def test_import_fill_only_fills_empty_fields(tenant, dns_server):
    ContactFactory(email="a@acme-mail.com", first_name="", last_name="Keep", company="")
    csv_text = "email,first_name,last_name,company\na@acme-mail.com,Ann,Other,Acme\n"
    job = services.start_import(job=upload(csv_text, strategy="fill"), user=None)
    a = Contact.objects.get(email_normalized="a@acme-mail.com")
    assert (a.first_name, a.last_name, a.company, job.updated) == ("Ann", "Keep", "Acme", 1)


def test_import_skip_undeliverable_rows_are_reported_not_imported(tenant, dns_server):
    csv_text = ("email\nok@acme-mail.com\nx@nullmx-corp.com\ny@mailinator.com\n"
                "z@no-such-domain-corp.com\n")
    job = services.start_import(job=upload(csv_text, skip_undeliverable=True), user=None)
    assert sorted(Contact.objects.values_list("email_normalized", flat=True)) == [
        "ok@acme-mail.com"]
    assert job.skipped == 3
    reasons = list(ImportRowError.objects.filter(job=job).values_list("line", "reason"))
    assert reasons == [
        (3, "Skipped: the domain cannot receive mail (null_mx)."),
        (4, "Skipped: a disposable email domain."),
        (5, "Skipped: the domain cannot receive mail (no_such_domain)."),
    ]


def _stage(job: ImportJob) -> tuple[list[str], list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {stage_table(job)} ORDER BY line")
        return [column.name for column in cursor.description], cursor.fetchall()


def test_deciding_again_rewrites_the_stage_to_the_same_rows(tenant, other_tenant, dns_server,
                                                             existing):
    """decide_outcomes rewrites the staging table (CREATE TABLE AS): run again, as a start
    after the contacts changed does, it gives the same rows, columns and table settings."""
    ContactFactory(email="other@acme-mail.com", first_name="Sam", last_name="Same",
                   company="Twin Co")
    job = upload(HEADER + ROWS + "x@mailinator.com,,,,\nsam2@acme-mail.com,sam,SAME,twin co,\n"
                 "x@mailinator.com,,,,\n", skip_undeliverable=True)
    columns, rows = _stage(job)
    by_line = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    pick = ("status", "dup_of", "contact_id", "outcome", "validation_status", "error_reason")
    assert [tuple(by_line[line][k] for k in pick) for line in (2, 3, 5, 6, 8, 9, 10)] == [
        ("ok", None, existing.pk, "update", "valid", None),
        ("ok", None, None, "create", "valid", None),
        ("duplicate", 3, None, None, "unknown",
         "Same email as line 3; only the first is imported."),
        ("undeliverable", None, None, None, "invalid",
         "Skipped: the domain cannot receive mail (null_mx)."),
        ("undeliverable", None, None, None, "risky", "Skipped: a disposable email domain."),
        ("ok", None, None, "create", "valid",
         "Possible duplicate of other@acme-mail.com (same name and company, other email)."),
        ("duplicate", 8, None, None, "unknown",
         "Same email as line 8; only the first is imported."),
    ]
    assert by_line[4]["status"] == "invalid" and by_line[4]["error_column"] == "Email"

    pipeline.decide_outcomes(job)
    assert _stage(job) == (columns, rows)
    create_stage(ImportJob(pk=job.pk + 1000))  # a freshly created staging table
    assert _stage(ImportJob(pk=job.pk + 1000))[0] == columns
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass",
                       [stage_table(job)])
        assert cursor.fetchone()[0] == ["fillfactor=50", "autovacuum_enabled=false"]
        cursor.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass "
                       "AND indisprimary", [stage_table(job)])
        assert cursor.fetchone()[0] == 1
        cursor.execute(f"DROP TABLE {stage_table(ImportJob(pk=job.pk + 1000))}")
    with in_schema(other_tenant), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [stage_table(job)])
        assert cursor.fetchone()[0] is None


@pytest.mark.parametrize("strategy", ["skip", "update", "create"])
def test_possible_duplicates_are_found_by_name_and_company_in_this_workspace_only(
        tenant, other_tenant, dns_server, strategy):
    """A new row whose name and company (in any case) are those of an existing contact with
    another email is a possible duplicate: skipped under 'skip', created (and reported) under
    the others. A contact of that name in another workspace makes nothing a duplicate here."""
    ContactFactory(email="sam@acme-mail.com", first_name="Sam", last_name="Same",
                   company="Twin Co")
    with in_schema(other_tenant):
        ContactFactory(email="zed@acme-mail.com", first_name="Zed", last_name="Zane",
                       company="Other Co")
    job = upload("Email,First Name,Last Name,Company\n"
                 "sam.s@acme-mail.com,SAM,same,twin co\n"    # line 2: possible duplicate
                 "zed.z@acme-mail.com,Zed,Zane,Other Co\n"   # line 3: only in the other tenant
                 "sue@acme-mail.com,Sam,Same,\n",            # line 4: no company: not compared
                 strategy=strategy)
    assert (job.possible_duplicates, job.created) == ((1, 2) if strategy == "skip" else (1, 3))
    job = services.start_import(job=job, user=None)
    expected = {"zed.z@acme-mail.com", "sue@acme-mail.com", "sam@acme-mail.com"}
    if strategy != "skip":
        expected.add("sam.s@acme-mail.com")
    assert set(Contact.objects.values_list("email_normalized", flat=True)) == expected
    assert list(ImportRowError.objects.filter(job=job).values_list(
        "line", "column", "value", "reason")) == [
        (2, "First Name", "SAM same / twin co",
         "Possible duplicate of sam@acme-mail.com (same name and company, other email).")]
    with in_schema(other_tenant):
        assert list(Contact.objects.values_list("email_normalized", flat=True)) == [
            "zed@acme-mail.com"]
        assert not ImportRowError.objects.exists()


def test_contacts_changed_after_the_analysis_are_decided_again_with_new_counts(
        tenant, other_tenant, dns_server):
    """Between the analysis and the start, someone adds a contact the file also holds, with
    the same values: the start decides again, and its counts say the row is unchanged."""
    job = upload("email,first_name\nnew@acme-mail.com,Nia\nalso@acme-mail.com,Al\n")
    assert (job.created, job.unchanged) == (2, 0)
    ContactFactory(email="new@acme-mail.com", first_name="Nia", last_name="", company="",
                   validation_status="valid")
    with in_schema(other_tenant):  # a change in another tenant is not a change here
        ContactFactory(email="also@acme-mail.com", first_name="Al")
    job = services.start_import(job=job, user=None)
    assert (job.status, job.created, job.updated, job.unchanged) == (
        ImportStatus.FINISHED, 1, 0, 1)
    assert Contact.objects.filter(email_normalized="new@acme-mail.com").count() == 1


def test_import_flags_disposable_and_unknown_without_refusing(tenant, dns_server):
    csv_text = "email\ny@mailinator.com\nq@slow-dns-corp.com\n"
    services.start_import(job=upload(csv_text), user=None)
    verdicts = dict(Contact.objects.values_list("email_normalized", "validation_reason"))
    assert verdicts == {"y@mailinator.com": "disposable", "q@slow-dns-corp.com": "dns_timeout"}
    statuses = set(Contact.objects.values_list("validation_status", flat=True))
    assert statuses == {"risky", "unknown"}


def test_import_adds_options_tags_and_new_custom_field(tenant, dns_server):
    csv_text = "Email,Plan seats\nn@acme-mail.com,12\nm@acme-mail.com,lots\n"
    job = upload(csv_text, mapping={"0": "email", "1": "new:number:Plan seats"},
                 tags=["Fair 2026"])
    assert (job.invalid, job.created) == (1, 1)
    job = services.start_import(job=job, user=None)
    contact = Contact.objects.get(email_normalized="n@acme-mail.com")
    assert contact.custom_fields == {"plan_seats": 12}
    assert list(contact.tags.values_list("name", flat=True)) == ["Fair 2026"]
    error = ImportRowError.objects.get(job=job)
    assert (error.line, error.column, error.value) == (3, "Plan seats", "lots")


def test_import_keeps_custom_value_types_tags_and_refuses_nul_bytes(tenant, other_tenant,
                                                                    dns_server):
    csv_text = (
        "Email,First Name,Plan,Seats,Paid,Since,Tags,Notes\n"
        'n1@acme-mail.com,Zoë,Pro ✓ "x",12,yes,2024-03-01,"vip; VIP ,new   customer",\n'
        "n2@acme-mail.com,Bo,,2.5,no,,,\n"
        "n3@acme-mail.com,Al,Team,3,yes,,,a\0b\n"
    )
    mapping = {"0": "email", "1": "first_name", "2": "new:text:Plan", "3": "new:number:Seats",
               "4": "new:boolean:Paid", "5": "new:date:Since", "6": "tags", "7": "ignore"}
    job = services.start_import(job=upload(csv_text, mapping=mapping, tags=["Fair"]), user=None)
    assert (job.created, job.invalid) == (2, 1)
    assert job.preview_rows[2][7] == "a\\0b"  # (JSON cannot hold a NUL: the upload failed)
    one = Contact.objects.get(email_normalized="n1@acme-mail.com")
    assert one.custom_fields == {"plan": 'Pro ✓ "x"', "seats": 12, "paid": True,
                                 "since": "2024-03-01"}
    assert type(one.custom_fields["seats"]) is int  # 12, not 12.0
    assert sorted(one.tags.values_list("name", flat=True)) == ["Fair", "new customer", "vip"]
    two = Contact.objects.get(email_normalized="n2@acme-mail.com")
    assert two.custom_fields == {"seats": 2.5, "paid": False}
    assert list(two.tags.values_list("name", flat=True)) == ["Fair"]
    error = ImportRowError.objects.get(job=job)
    assert (error.line, error.column, error.value, error.reason) == (
        4, "Notes", "a\\0b", "Contains a NUL character.")
    with in_schema(other_tenant):
        assert not Contact.objects.exists()


def test_import_error_report_has_original_rows_and_reasons(tenant, dns_server, existing):
    job = services.start_import(job=upload(HEADER + ROWS), user=None)
    out = io.StringIO()
    services.write_error_report(job=job, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Email,First Name,Last Name,Company,Tags,error"
    assert lines[2] == "b@acme-mail.com,Bob,Berg,,,Same email as line 3; only the first is imported."
    assert lines[3].startswith("d@example.com,Di,Dee,Co,x,extra,This row has 6 values")
    assert len(lines) == 4


def test_rollback_restores_the_tenant_exactly(tenant, dns_server, existing):
    TagFactory(name="keep")
    existing.tags.add(*[t for t in existing.tags.model.objects.filter(name="keep")])
    before = sorted(Contact.objects.values_list("email_normalized", "company", "first_name"))
    job = services.start_import(job=upload(HEADER + ROWS), user=None)
    assert Contact.objects.count() == 3
    job = services.rollback_import(job=job, user=None)
    assert job.status == ImportStatus.ROLLED_BACK
    assert job.rollback_report == {"deleted": 2, "restored": 1, "untagged": 1, "forced": False,
                                   "conflicts": 0}
    after = sorted(Contact.objects.values_list("email_normalized", "company", "first_name"))
    assert after == before
    a = Contact.objects.get(email_normalized="a@acme-mail.com")
    assert list(a.tags.values_list("name", flat=True)) == ["keep"]
    assert a.validation_status == "unknown"
    with pytest.raises(services.ImportStateError):
        services.rollback_import(job=job, user=None)


def _import_then_edit_b():
    job = services.start_import(job=upload(HEADER + ROWS), user=None)
    b = Contact.objects.get(email_normalized="b@acme-mail.com")
    time.sleep(0.01)
    update_contact(contact=b, data={"company": "Edited later"}, source="ui")
    return job


def test_rollback_leaves_contacts_changed_since_alone(tenant, dns_server, existing):
    job = _import_then_edit_b()
    assert services.rollback_preview(job) == {"conflicts": 1, "sample": ["B@acme-mail.com"]}
    job = services.rollback_import(job=job, user=None)
    assert job.status == ImportStatus.ROLLED_BACK
    assert job.rollback_report == {"deleted": 1, "restored": 1, "untagged": 1, "forced": False,
                                   "conflicts": 1, "left_alone_sample": ["B@acme-mail.com"]}
    remaining = dict(Contact.objects.values_list("email_normalized", "company"))
    assert remaining == {"a@acme-mail.com": "Old Co", "b@acme-mail.com": "Edited later"}


def test_rollback_forced_undoes_contacts_changed_since(tenant, dns_server, existing):
    job = services.rollback_import(job=_import_then_edit_b(), user=None, force=True)
    assert (job.status, job.rollback_report["deleted"]) == (ImportStatus.ROLLED_BACK, 2)
    assert sorted(Contact.objects.values_list("email_normalized", flat=True)) == [
        "a@acme-mail.com"]


def test_rollback_without_force_skips_nothing_when_no_conflicts(tenant, dns_server):
    job = services.start_import(job=upload("email\nx@acme-mail.com\n"), user=None)
    job = services.rollback_import(job=job, user=None)
    assert (job.status, Contact.objects.count()) == (ImportStatus.ROLLED_BACK, 0)
    deleted = ContactChange.objects.filter(action="deleted", source=f"rollback:{job.pk}")
    assert list(deleted.values_list("contact_email", flat=True)) == ["x@acme-mail.com"]


def test_import_is_invisible_to_other_tenant(tenant, other_tenant, dns_server):
    job = services.start_import(job=upload("email,company\nsecret@acme-mail.com,Alpha\n"),
                                user=None)
    assert job.file.startswith(f"imports/{tenant.schema_name}/")
    with in_schema(other_tenant):
        assert Contact.objects.count() == 0
        assert ImportJob.objects.count() == 0
        assert ImportChange.objects.count() == 0
        assert not ImportJob.objects.filter(pk=job.pk).exists()


# --- bad files: a clear message and nothing written ---------------------------------------------


def test_import_without_email_column_is_refused(tenant, dns_server):
    job = services.create_import(fileobj=ContentFile(b"name,company\nAnn,Acme\n", name="x.csv"),
                                 filename="x.csv", user=None)
    with pytest.raises(MappingError):
        services.analyse_import(job=job)
    assert Contact.objects.count() == 0


def test_import_of_empty_file_is_refused(tenant, dns_server):
    with pytest.raises(FileRejected, match="The file is empty."):
        services.create_import(fileobj=ContentFile(b"", name="e.csv"), filename="e.csv",
                               user=None)
    assert ImportJob.objects.count() == 0


def test_import_over_the_size_limit_is_refused(tenant, dns_server, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024 * 1024
    big = ContentFile(b"email\n" + b"x@acme-mail.com\n" * 70_000, name="big.csv")
    with pytest.raises(FileRejected, match=r"The file is 1\.1 MB; the limit is 1 MB\."):
        services.create_import(fileobj=big, filename="big.csv", user=None)


def test_import_that_breaks_midway_writes_nothing(tenant, dns_server):
    rows = "".join(f"p{i}@acme-mail.com,P{i}\n" for i in range(3000))
    job = services.create_import(
        fileobj=ContentFile(("email,name\n" + rows + 'q@acme-mail.com,"never closed\n').encode(),
                            name="broken.csv"),
        filename="broken.csv", user=None,
    )
    job = services.analyse_import(job=job, inline=True)
    assert job.status == ImportStatus.FAILED
    assert "never closed" in job.error
    assert Contact.objects.count() == 0


# --- a worker killed mid-import ------------------------------------------------------------------

@pytest.fixture
def committed_cleanup(tenant):
    """Transactional tests commit: remove what they wrote in the tenant, pass or fail."""
    yield
    with in_schema(tenant):
        ContactTag.objects.all().delete()
        ContactChange.objects.all().delete()
        Contact.objects.all().delete()
        ImportJob.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_killed_worker_then_retry_ends_like_one_clean_run(tenant, dns_server, committed_cleanup):
    rows = "".join(f"k{i}@acme-mail.com,K{i},Co{i % 7}\n" for i in range(4000))
    job = services.create_import(
        fileobj=ContentFile(("email,first_name,company\n" + rows).encode(), name="k.csv"),
        filename="k.csv", user=None,
    )
    job = services.analyse_import(job=job, inline=True)
    assert (job.status, job.created) == (ImportStatus.READY, 4000)
    job = services.start_import(job=job, user=None)  # > 1,000 rows: queued for the worker
    assert job.status == ImportStatus.QUEUED
    worker = start_worker(f"from imports.tasks import run_import_task; "
                          f"run_import_task({tenant.schema_name!r}, {job.pk}, None)",
                          IMPORT_CHUNK_ROWS="100")
    kill_worker_when(worker, job, lambda job: job.chunks_done >= 5)
    assert job.status == ImportStatus.RUNNING
    assert 5 <= job.chunks_done < 40, "the worker was killed mid-import"
    assert Contact.objects.count() == job.created  # whole chunks only

    from imports.tasks import run_import_task

    run_import_task(tenant.schema_name, job.pk, None)  # the retry
    job.refresh_from_db()
    assert (job.status, job.created, job.updated) == (ImportStatus.FINISHED, 4000, 0)
    assert Contact.objects.count() == 4000
    assert ImportChange.objects.filter(job=job, action="created").count() == 4000
    assert ContactChange.objects.filter(source=job.source).count() == 4000
    assert ContactTag.objects.count() == 0
    services.rollback_import(job=job, user=None, inline=True)  # still undone as a whole
    assert Contact.objects.count() == 0


def test_stalled_jobs_are_resumed_by_the_schedule(tenant, dns_server):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ, Schedule

    from imports.tasks import resume_stalled_imports

    job = upload("email\nr@acme-mail.com\n")
    services._update(job, status=ImportStatus.RUNNING,
                     heartbeat_at=timezone.now() - timedelta(minutes=10))
    fresh = upload("email\ns@acme-mail.com\n")
    services._update(fresh, status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    OrmQ.objects.all().delete()
    assert resume_stalled_imports() == 1
    connection.set_tenant(tenant)
    queued = [task.task["args"] for task in OrmQ.objects.all()]
    assert queued == [(tenant.schema_name, job.pk, None)]
    assert Schedule.objects.filter(func="imports.tasks.resume_stalled_imports",
                                   schedule_type=Schedule.MINUTES, minutes=1).exists()


def test_import_task_refuses_to_run_without_a_tenant_schema():
    from imports.tasks import run_import_task

    with pytest.raises(ValueError, match="needs the schema of a tenant"):
        run_import_task("public", 1, None)
    with pytest.raises(ValueError, match="needs the schema of a tenant"):
        run_import_task("", 1, None)


def test_import_without_tags_skips_the_tag_steps_and_keeps_existing_tags(tenant, other_tenant,
                                                                         dns_server, existing):
    ContactTag.objects.create(contact=existing, tag=TagFactory(name="kept"))
    job = upload("Email,Company\na@acme-mail.com,Newer Co\nz@acme-mail.com,Zed\n")
    assert not pipeline.adds_tags(job)
    assert pipeline.adds_tags(ImportJob(tags=["Fair"], mapping={"0": "email"}))
    assert pipeline.adds_tags(ImportJob(tags=[], mapping={"0": "email", "1": "tags"}))
    job = services.start_import(job=job, user=None)
    assert (job.created, job.updated) == (1, 1)
    existing.refresh_from_db()
    assert (existing.company, list(existing.tags.values_list("name", flat=True))) == (
        "Newer Co", ["kept"])
    assert not Contact.objects.get(email_normalized="z@acme-mail.com").tags.exists()
    with in_schema(other_tenant):
        assert not Contact.objects.exists() and not ContactTag.objects.exists()


def test_row_errors_name_the_files_own_column_headers(tenant, dns_server, other_tenant):
    ContactFactory(email="old@acme-mail.com", first_name="Ann", last_name="Abel",
                   company="Acme")
    csv_text = ("E-mail Address,Given Name,Family Name,Organization\n"
                "not-an-email,X,Y,Z\n"                       # line 2: refused
                "new@acme-mail.com,Ann,Abel,Acme\n"          # line 3: possible duplicate
                "NEW@acme-mail.com,Bo,Berg,\n"               # line 4: repeated email
                "y@mailinator.com,Cy,Cole,\n"                # line 5: disposable, skipped
                "late@acme-mail.com,Di,Dee,\n")              # line 6: created by someone else
    job = upload(csv_text, skip_undeliverable=True)
    ContactFactory(email="late@acme-mail.com")  # after the analysis: a lost race
    with transaction.atomic():
        low, high = pipeline.chunk_bounds(job, 100)[0]
        pipeline.apply_chunk(job, low, high, user_id=None)
    columns = dict(ImportRowError.objects.filter(job=job).values_list("line", "column"))
    assert columns == {2: "E-mail Address", 3: "Given Name", 4: "E-mail Address",
                       5: "E-mail Address", 6: "E-mail Address"}
    assert pipeline.column_header(job, "city") == "city"  # no column mapped to it
    with in_schema(other_tenant):
        assert not ImportRowError.objects.exists()
        assert not Contact.objects.exists()
