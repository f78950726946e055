"""Contact imports: the steps a user (or ops, or the API) takes, as services.

create_import → configure_import → analyse_import → start_import → (cancel_import)
→ rollback_import. Big files run their analysis, write and rollback as django-q2 jobs (see
imports/tasks.py); small ones run inline. The heavy lifting is in staging.py and pipeline.py.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django_tenants.utils import schema_context

from contacts.models import CustomField
from contacts.services import clean_tag_names
from imports import pipeline
from imports.exports.safety import neutralise
from imports.mapping import (
    MappingError,
    auto_map,
    clean_mapping,
    find_preset,
    mapping_from_preset,
    new_field_key,
    save_preset,
)
from imports.models import ImportJob, ImportRowError, ImportStatus, Strategy
from imports.readers import FileRejected, ReadSettings, iter_rows, sniff
from imports.staging import (
    create_stage,
    drop_stage,
    load_stage,
    plan_columns,
    stage_table,
)
from mailcheck.checks import DomainChecksAhead
from webhooks import payloads as webhook_payloads
from webhooks.services import emit

logger = logging.getLogger(__name__)

__all__ = ["FileRejected", "ImportStateError", "MappingError"]
CONFIGURABLE = {ImportStatus.UPLOADED, ImportStatus.READY, ImportStatus.FAILED}
UNCHANGED: Any = object()  # configure_import: leave this option as it is


class ImportStateError(Exception):
    """The import is not in a state that allows this step; str() is for the user."""


def _require(job: ImportJob, allowed: set[str], message: str) -> None:
    if job.status not in allowed:
        raise ImportStateError(message)


# --- upload and set-up --------------------------------------------------------------------------


def _read_settings(job: ImportJob) -> ReadSettings:
    names = {f.name for f in dataclasses.fields(ReadSettings)}
    return ReadSettings.from_dict({k: v for k, v in job.read_settings.items() if k in names})


def _store_sniff(job: ImportJob, result) -> None:
    job.file_format = result.settings.file_format
    job.read_settings = {
        **result.settings.as_dict(), "warnings": result.warnings, "sheets": result.sheets,
    }
    # PostgreSQL's JSON cannot hold a NUL character: shown as \0, as in the row errors (the
    # rows holding one are refused when the file is staged).
    job.headers = [_shown(name) for name in result.headers]
    job.preview_rows = [[_shown(cell) for cell in row] for row in result.preview]


def _shown(cell: str) -> str:
    return cell.replace("\x00", "\\0") if "\x00" in cell else cell


def create_import(*, fileobj, filename: str, user) -> ImportJob:
    """Store an uploaded file, sniff it and propose a mapping.

    Side effects: writes the file to the default storage under imports/<schema>/…, creates an
    ImportJob (status uploaded). Raises FileRejected (nothing kept) for unusable files."""
    size = getattr(fileobj, "size", None)
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if size is not None and size > limit:
        raise FileRejected(
            f"The file is {size / 1048576:,.1f} MB; the limit is {limit / 1048576:,.0f} MB."
        )
    if size == 0:
        raise FileRejected("The file is empty.")
    name = get_valid_filename(filename)[-120:] or "upload"
    path = default_storage.save(f"imports/{connection.schema_name}/{uuid.uuid4().hex}/{name}",
                                fileobj)
    try:
        with default_storage.open(path, "rb") as stored:
            result = sniff(stored, filename=filename)
    except FileRejected:
        default_storage.delete(path)
        raise
    job = ImportJob(file=path, original_name=filename[:255], size=default_storage.size(path),
                    created_by=user)
    _store_sniff(job, result)
    _propose_mapping(job)
    job.save()
    return job


def _propose_mapping(job: ImportJob) -> None:
    preset = find_preset(job.headers)
    job.preset = preset
    if preset is not None:
        job.mapping = mapping_from_preset(preset, job.headers)
    else:
        job.mapping = auto_map(
            job.headers, job.preview_rows, custom_fields=list(CustomField.objects.all())
        )


def configure_import(
    *,
    job: ImportJob,
    read_settings: dict | None = None,
    mapping: dict | None = None,
    strategy: str | None = None,
    tags: list[str] | None = None,
    skip_undeliverable: bool | None = None,
    preset_name: str = "",
    user=None,
    target_list: Any = UNCHANGED,
    new_list_name: str = "",
) -> ImportJob:
    """Change how the file is read, the mapping and the options; the import then needs a new
    analysis. `target_list`: a segments StaticList the written and matched rows join, or None
    for no list; `new_list_name` names one to find or create instead. Side effects: updates the ImportJob (and may save a MappingPreset). Raises
    FileRejected, MappingError, ImportStateError or ValueError (bad strategy)."""
    _require(job, CONFIGURABLE, "This import has already started; its settings are fixed.")
    if read_settings is not None:
        merged = {**_read_settings(job).as_dict(), **read_settings}
        with default_storage.open(job.file, "rb") as stored:
            result = sniff(stored, filename=job.original_name,
                           settings=ReadSettings.from_dict(merged))
        headers_changed = result.headers != job.headers
        _store_sniff(job, result)
        if headers_changed and mapping is None:
            _propose_mapping(job)
    if mapping is not None:
        job.mapping = clean_mapping(
            mapping, job.headers, custom_fields=list(CustomField.objects.all())
        )
    if strategy is not None:
        if strategy not in Strategy.values:
            raise ValueError(f"Unknown strategy {strategy!r}; use one of {Strategy.values}.")
        job.strategy = strategy
    if tags is not None:
        job.tags = clean_tag_names(tags)
    if skip_undeliverable is not None:
        job.skip_undeliverable = skip_undeliverable
    if new_list_name.strip():
        from segments.services import get_or_create_list

        target_list = get_or_create_list(name=new_list_name, actor=user)
    if target_list is not UNCHANGED:
        job.target_list = target_list
    if preset_name.strip():
        job.preset = save_preset(
            name=preset_name.strip(), headers=job.headers, mapping=job.mapping, user=user
        )
    job.status, job.error = ImportStatus.UPLOADED, ""
    job.save()
    return job


# --- analysis -----------------------------------------------------------------------------------


def _looks_small(job: ImportJob) -> bool:
    """Whether the file has at most IMPORT_INLINE_MAX_ROWS rows, without parsing it."""
    limit = settings.IMPORT_INLINE_MAX_ROWS
    if job.file_format != "csv" or job.size > limit * 4096:
        return job.size <= 64 * 1024
    lines = 0
    with default_storage.open(job.file, "rb") as stored:
        while block := stored.read(1 << 20):
            lines += block.count(b"\n")
            if lines > limit + 1:
                return False
    return True


def analyse_import(*, job: ImportJob, inline: bool = False) -> ImportJob:
    """Read and check the whole file and work out what importing it would do (the counts the
    user confirms). Inline for small files (or when `inline`, as ops commands ask), else a
    background job. Side effects: staging
    table, ImportRowError rows, counts and status on the ImportJob."""
    _require(job, CONFIGURABLE, "This import has already started.")
    clean_mapping(job.mapping, job.headers, custom_fields=list(CustomField.objects.all()))
    job.status, job.error, job.processed_rows = ImportStatus.ANALYSING, "", 0
    job.cancel_requested = False
    job.heartbeat_at = timezone.now()
    job.save()
    if inline or _looks_small(job):
        run_analysis(job)
        job.refresh_from_db()
    else:
        _enqueue("imports.tasks.analyse_import_task", job.pk)
    return job


def run_analysis(job: ImportJob) -> None:
    """The analysis itself (inline or in the worker). Failures end in status failed with the
    reason for the user; nothing is written to the contacts."""
    try:
        plan = plan_columns(job, {f.key: f for f in CustomField.objects.all()})
        create_stage(job)
        # Domains are checked (DNS) by a child process while the file is still being read.
        with DomainChecksAhead() as ahead:
            with pipeline.timed_step(job, "load_stage"):
                total = load_stage(job, plan, on_domain=ahead.add,
                                   progress=lambda n: _touch(job, processed_rows=n))
            if total == 0:
                raise FileRejected("The file has no data rows.")
            with pipeline.timed_step(job, "check_staged_domains"):
                pipeline.check_staged_domains(job, checked=ahead.results())
        for step in (pipeline.decide_outcomes, pipeline.record_row_errors):
            with pipeline.timed_step(job, step.__name__):
                step(job)
        counts = pipeline.preview_counts(job)
    except (FileRejected, MappingError) as exc:
        _fail(job, str(exc))
        return
    # Only if still analysing: a cancel during the analysis wins over its result.
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.ANALYSING).update(
        status=ImportStatus.READY, processed_rows=0,
        analysed_snapshot=pipeline.contacts_snapshot(), **counts,
    )
    job.refresh_from_db()


def _touch(job: ImportJob, **fields: Any) -> None:
    _update(job, heartbeat_at=timezone.now(), **fields)


def _update(job: ImportJob, **fields: Any) -> None:
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(job, name, value)


def _fail(job: ImportJob, message: str) -> None:
    drop_stage(job)
    # A rollback that stopped keeps the import's own finish time.
    _update(job, status=ImportStatus.FAILED, error=message,
            finished_at=job.finished_at or timezone.now())


def _enqueue(task: str, *args) -> None:
    from django_q.tasks import async_task

    schema = connection.schema_name
    transaction.on_commit(lambda: async_task(task, schema, *args, group=f"imports:{schema}"))


# --- run ----------------------------------------------------------------------------------------


def start_import(*, job: ImportJob, user, inline: bool = False) -> ImportJob:
    """Write the analysed file to the contacts: inline for small files, else a background job.
    Side effects: creates custom fields the mapping asks for, then see run_import."""
    _require(job, {ImportStatus.READY}, "Only an analysed import that has not run can start.")
    _create_new_custom_fields(job)
    user_id = getattr(user, "pk", None)
    if inline or job.total_rows <= settings.IMPORT_INLINE_MAX_ROWS:
        _update(job, status=ImportStatus.QUEUED)
        run_import(job, user_id=user_id)
        job.refresh_from_db()
    else:
        _update(job, status=ImportStatus.QUEUED, heartbeat_at=timezone.now())
        _enqueue("imports.tasks.run_import_task", job.pk, user_id)
    return job


def _create_new_custom_fields(job: ImportJob) -> None:
    """Turn "new:<type>:<label>" targets into CustomField rows and "custom:<key>" targets."""
    from contacts.fields import create_custom_field

    mapping = dict(job.mapping)
    for column, target in job.mapping.items():
        if not target.startswith("new:"):
            continue
        _, field_type, label = target.split(":", 2)
        key = new_field_key(label)
        field = CustomField.objects.filter(key=key).first()
        if field is None:
            field = create_custom_field(key=key, label=label, field_type=field_type)
        elif field.field_type != field_type:
            raise ImportStateError(
                f"A custom field “{field.label}” ({key}) already exists as "
                f"{field.get_field_type_display()}; map the column to it or rename the new one."
            )
        mapping[column] = f"custom:{field.key}"
    if mapping != job.mapping:
        _update(job, mapping=mapping)


def run_import(job: ImportJob, *, user_id: int | None) -> None:
    """Apply the staged rows chunk by chunk, on up to IMPORT_WRITERS connections at once.
    Re-running after a crash writes the chunks not yet committed: each chunk and its
    bookkeeping (counters, the range it wrote) commit together."""
    job.refresh_from_db()
    if job.status in (ImportStatus.FINISHED, ImportStatus.CANCELLED, ImportStatus.ROLLED_BACK):
        return
    if job.cancel_requested:
        _update(job, status=ImportStatus.CANCELLED, finished_at=timezone.now())
        return
    if not job.applied_ranges:
        counts = {}  # unchanged contacts: the analysis's counts stand
        if pipeline.contacts_snapshot() != job.analysed_snapshot:
            pipeline.decide_outcomes(job)  # contacts changed since the analysis
            pipeline.record_row_errors(job)
            counts = pipeline.preview_counts(job)
        _update(job, **{**counts, "created": 0, "updated": 0}, processed_rows=0)
    _update(job, status=ImportStatus.RUNNING, started_at=job.started_at or timezone.now(),
            heartbeat_at=timezone.now())
    pipeline.create_tags(job)
    bounds = pipeline.chunk_bounds(job, settings.IMPORT_CHUNK_ROWS, done=job.applied_ranges)
    with pipeline.timed_step(job, f"writing {len(bounds)} chunks"):
        finished = _write_chunks(job, bounds, user_id)
    if not finished:
        _update(job, status=ImportStatus.CANCELLED, finished_at=timezone.now())
        return
    _update(job, status=ImportStatus.FINISHED, finished_at=timezone.now(),
            processed_rows=job.total_rows)
    emit(kind="import.finished", payload=webhook_payloads.import_finished(job))
    drop_stage(job)
    job.refresh_from_db(fields=["created", "updated", "skipped", "unchanged"])
    written = job.created + job.updated
    _refresh_statistics_later(job, {
        "contacts_contact": written, "contacts_contactchange": written,
        # created, updated, and a 'tagged' record per matched contact that got tags
        "imports_importchange": written + job.updated + job.skipped + job.unchanged,
    }, dead={"contacts_contact": job.updated})


def _refresh_statistics_later(job: ImportJob, changed: dict[str, int],
                              dead: dict[str, int]) -> None:
    """Housekeeping after the import or rollback is done and shown as such: a follow-up job
    merges the search index's pending list, vacuums the tables it left many dead rows in and
    analyses the tables it grew (seconds after a million rows, which the user no longer waits
    for). Until it runs, searches read the pending list and autovacuum may get there first;
    both give the same answers. `changed`, `dead`: see pipeline.refresh_statistics."""
    logger.info("import %s: statistics refresh queued for %s (dead rows: %s)", job.pk, changed,
                dead)
    _enqueue("imports.tasks.refresh_statistics_task", changed, dead)


def _write_chunks(job: ImportJob, bounds: list[tuple[int, int]], user_id) -> bool:
    """Write every chunk of `bounds`; False when the user cancelled first."""
    return _in_chunks(job, bounds, lambda low, high: _apply_one_chunk(job, low, high, user_id),
                      cancellable=True)


def _in_chunks(job: ImportJob, bounds: list[tuple[int, int]], work, *, cancellable: bool) -> bool:
    """Call work(low, high) for every range of `bounds`, each in its own transaction, on up to
    IMPORT_WRITERS connections at once (threads) unless this connection is inside a
    transaction: its uncommitted rows, the staging table among them, are invisible to others.
    False when the user cancelled first (only when `cancellable`)."""
    def cancelled_now() -> bool:
        return cancellable and _cancel_requested(job)

    writers = min(settings.IMPORT_WRITERS, len(bounds))
    if writers <= 1 or connection.in_atomic_block:
        for low, high in bounds:
            if cancelled_now():
                return False
            work(low, high)
        return True
    schema, pending, lock = connection.schema_name, iter(bounds), threading.Lock()
    stop = threading.Event()  # set by a writer that saw a cancel or failed
    cancelled = threading.Event()  # a writer left a chunk undone because of a cancel

    def writer() -> None:
        try:
            with schema_context(schema):
                while not stop.is_set():
                    with lock:
                        low, high = next(pending, (None, None))
                    if low is None:
                        return
                    if cancelled_now():
                        cancelled.set()
                        stop.set()
                        return
                    work(low, high)
        except BaseException:
            stop.set()  # the others finish their current chunk and stop
            raise
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix=f"import-{job.pk}") as pool:
        futures = [pool.submit(writer) for _ in range(writers)]
    for future in futures:
        future.result()  # re-raises a writer's error
    return not cancelled.is_set()


def _cancel_requested(job: ImportJob) -> bool:
    return ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists()


def _apply_one_chunk(job: ImportJob, low: int, high: int, user_id) -> None:
    with pipeline.timed_step(job, f"chunk {low}-{high}"), transaction.atomic():
        written = pipeline.apply_chunk(job, low, high, user_id=user_id)
        rows = pipeline.rows_between(job, low, high)
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE imports_importjob SET created = created + %s, updated = updated + %s,
                       skipped = skipped + %s, chunks_done = chunks_done + 1,
                       processed_rows = processed_rows + %s, heartbeat_at = now(),
                       applied_ranges = applied_ranges || jsonb_build_array(
                           jsonb_build_array(%s, %s))
                   WHERE id = %s""",
                [written["created"], written["updated"], written["skipped"], rows, low, high,
                 job.pk],
            )


def cancel_import(*, job: ImportJob) -> ImportJob:
    """Ask a queued or running import to stop after its current chunk (what is written stays
    and can be rolled back). Side effects: sets cancel_requested (status for queued ones)."""
    _require(job, {ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.ANALYSING},
             "Only an import that is queued or running can be cancelled.")
    _update(job, cancel_requested=True)
    if job.status == ImportStatus.ANALYSING:
        _update(job, status=ImportStatus.UPLOADED)
    return job


# --- rollback -----------------------------------------------------------------------------------


def rollback_import(
    *, job: ImportJob, user, force: bool = False, inline: bool = False
) -> ImportJob:
    """Undo a finished (or cancelled) import: delete the contacts it created, restore the
    previous values of those it updated, remove the tags and list memberships it added.
    Contacts changed after the import are left alone (and named in job.rollback_report) unless
    `force`. Big ones run in the background; the rollback is recorded on the job and in each
    contact's history. A rollback that stopped on an error can be started again: it undoes
    what is left."""
    if job.status == ImportStatus.FAILED and job.rollback_started:
        report = {**job.rollback_report, "forced": force}  # carry on: keep the counts so far
    else:
        _require(job, {ImportStatus.FINISHED, ImportStatus.CANCELLED},
                 "Only a finished or cancelled import can be rolled back.")
        report = {"forced": force}
    user_id = getattr(user, "pk", None)
    _update(job, status=ImportStatus.ROLLING_BACK, heartbeat_at=timezone.now(), error="",
            rollback_report=report, rolled_back_by_id=user_id)
    if inline or job.created + job.updated <= settings.IMPORT_INLINE_MAX_ROWS:
        run_rollback(job, user_id=user_id, force=force)
        job.refresh_from_db()
    else:
        _enqueue("imports.tasks.rollback_import_task", job.pk, user_id, force)
    return job


ROLLBACK_COUNTS = ("deleted", "restored", "untagged", "conflicts")


def run_rollback(job: ImportJob, *, user_id: int | None, force: bool) -> None:
    """The rollback itself, in chunks of contact ids on up to IMPORT_WRITERS connections. Each
    chunk commits with its counts and its id range on the job, so a retry after a crash undoes
    only the chunks still to do (a contact an earlier chunk restored is not taken for one
    changed since the import)."""
    job.refresh_from_db()
    if job.status == ImportStatus.ROLLED_BACK:
        return
    if not job.rollback_started:
        with pipeline.timed_step(job, "rollback: statistics before"):
            # The planner must know how big this import's record is (the import itself analysed
            # the contacts if it changed a tenth of them).
            pipeline.refresh_statistics(tables=("imports_importchange",))
        bounds = _start_rollback(job, user_id=user_id)
    else:
        bounds = pipeline.rollback_bounds(job, settings.IMPORT_CHUNK_ROWS,
                                          done=job.rollback_ranges)
    with pipeline.timed_step(job, f"rollback: {len(bounds)} chunks"):
        _in_chunks(job, bounds, lambda low, high: _undo_one_chunk(
            job, low, high, user_id=user_id, force=force), cancellable=False)
    job.refresh_from_db(fields=["rollback_report"])
    report = {**dict.fromkeys(ROLLBACK_COUNTS, 0), **job.rollback_report, "forced": force}
    if not report["conflicts"] or force:
        report.pop("left_alone_sample", None)
    _update(job, status=ImportStatus.ROLLED_BACK, rolled_back_at=timezone.now(),
            rolled_back_by_id=user_id, rollback_report=report, heartbeat_at=timezone.now())
    undone = report["deleted"] + report["restored"]  # each also gets a history record
    _refresh_statistics_later(job, {"contacts_contact": undone,
                                    "contacts_contactchange": undone},
                              dead={"contacts_contact": undone,
                                    "contacts_contacttag": report["untagged"]})


def _start_rollback(job: ImportJob, *, user_id: int | None) -> list[tuple[int, int]]:
    """First step, in one transaction with its bookkeeping: take away the list memberships the
    import added and plan the chunks (rollback_chunks > 0 marks it done). Returns them."""
    from segments.services import remove_import_memberships

    with pipeline.timed_step(job, "rollback: lists and plan"), transaction.atomic():
        unlisted = remove_import_memberships(import_id=job.pk, actor_id=user_id)
        bounds = pipeline.rollback_bounds(job, settings.IMPORT_CHUNK_ROWS)
        report = {**job.rollback_report, **({"unlisted": unlisted} if unlisted else {})}
        _update(job, rollback_chunks=max(1, len(bounds)), rollback_ranges=[],
                rollback_report=report)
    return bounds


def _undo_one_chunk(job: ImportJob, low: int, high: int, *, user_id: int | None,
                    force: bool) -> None:
    with pipeline.timed_step(job, f"rollback chunk {low}-{high}"), transaction.atomic():
        undone = pipeline.undo_chunk(job, low, high, force=force, user_id=user_id)
        # The job's row is locked only now, for the bookkeeping: writers undo chunks at once.
        locked = ImportJob.objects.select_for_update().only(
            "rollback_report", "rollback_ranges").get(pk=job.pk)
        report = dict(locked.rollback_report)
        for key in ROLLBACK_COUNTS:
            report[key] = report.get(key, 0) + undone[key]
        if undone["sample"]:
            report["left_alone_sample"] = [
                *report.get("left_alone_sample", []), *undone["sample"]][:20]
        ImportJob.objects.filter(pk=job.pk).update(
            rollback_report=report, rollback_ranges=[*locked.rollback_ranges, [low, high]],
            heartbeat_at=timezone.now())


def rollback_preview(job: ImportJob) -> dict[str, Any]:
    """Before a rollback: how many contacts this import touched changed since (a rollback
    without force leaves them alone), with a sample of their emails."""
    left = None  # a rollback that stopped half-way: only what it has still to undo counts
    if job.rollback_started:
        left = pipeline.rollback_bounds(job, settings.IMPORT_CHUNK_ROWS, done=job.rollback_ranges)
    conflicts, sample = pipeline.rollback_conflicts(job, ranges=left)
    return {"conflicts": conflicts, "sample": sample}


# --- reading results ------------------------------------------------------------------------------

PROGRESS_FIELDS = ("total_rows", "processed_rows", "created", "updated", "unchanged", "skipped",
                   "invalid", "duplicates_in_file", "possible_duplicates", "flagged")


def import_progress(job: ImportJob) -> dict[str, Any]:
    """What the progress bar and counters show, as JSON-able values."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "percent": (job.rollback_percent if job.status == ImportStatus.ROLLING_BACK
                    else job.progress_percent),
        **{name: getattr(job, name) for name in PROGRESS_FIELDS},
        "error": job.error,
        "is_active": job.is_active,
        "cancel_requested": job.cancel_requested,
    }


def list_summary(job: ImportJob) -> dict[str, Any] | None:
    """The import's list and how many contacts join it (ready: as staged, to be written) or
    joined it (after the run: its memberships from this import). None without a list."""
    if not job.target_list_id:
        return None
    from segments.models import ListMembership, StaticList

    static_list = StaticList.objects.filter(pk=job.target_list_id).first()
    if static_list is None:
        return None
    if job.status == ImportStatus.READY:
        count = pipeline.rows_joining_list(job) if stage_exists(job) else 0
    else:
        count = ListMembership.objects.filter(
            static_list_id=static_list.pk, source="import", source_ref=job.pk).count()
    return {"list": static_list, "count": count}


def write_error_report(*, job: ImportJob, out: TextIO) -> None:
    """CSV of the refused and flagged rows as they were in the file, plus an "error" column,
    so the user can fix them and import the file again. Formula-like cells are neutralised
    (imports.exports.safety) and the quote is stripped again when the report is imported."""
    reasons: dict[int, list[str]] = {}
    for line, reason in ImportRowError.objects.filter(job=job).values_list("line", "reason"):
        reasons.setdefault(line, []).append(reason)
    writer = csv.writer(out)
    writer.writerow([neutralise(cell) for cell in [*job.headers, "error"]])
    if not reasons:
        return
    with default_storage.open(job.file, "rb") as stored:
        for line, cells in iter_rows(stored, _read_settings(job)):
            if line in reasons:
                writer.writerow([neutralise(cell) for cell in [*cells, " ".join(reasons[line])]])


def delete_import_file(job: ImportJob) -> None:
    default_storage.delete(job.file)


def stage_exists(job: ImportJob) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [stage_table(job)])
        return cursor.fetchone()[0]
