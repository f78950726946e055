"""Phase 1 of an import: read the whole file into a per-job staging table.

Rows are read as a stream, normalised and checked in Python (one pass, memory flat) and COPYed
into an UNLOGGED table `imports_stage_<job id>` in the tenant's schema. Everything after this
(duplicates, domain checks, counts, the write itself) is SQL over that table. Nothing touches
the contacts before the whole file has been staged, so a file that turns out to be unreadable
half-way is refused with nothing written.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import connection

from contacts.emails import InvalidEmail, normalize_email
from contacts.models import Contact, CustomField
from contacts.services import MAX_TAG_LENGTH, coerce_custom_value
from imports.exports.safety import QUOTE, unprotect
from imports.mapping import new_field_key
from imports.models import ImportJob
from imports.readers import ReadSettings, iter_rows

# Mapping targets that are plain text columns of Contact.
TEXT_TARGETS = (
    "first_name", "last_name", "company", "job_title", "phone", "website", "city", "country",
)
STAGE_COLUMNS = (  # keep "domain" fourth: load_stage reads row[3]
    "line", "email", "email_norm", "domain", *TEXT_TARGETS, "custom", "tags", "status",
    "error_column", "error_value", "error_reason",
)
_LIMITS = {name: Contact._meta.get_field(name).max_length for name in TEXT_TARGETS}


def stage_table(job: ImportJob) -> str:
    return f"imports_stage_{int(job.pk)}"


def create_stage(job: ImportJob) -> None:
    """(Re)create the job's empty staging table."""
    table = stage_table(job)
    text_columns = ", ".join(f"{name} text NOT NULL DEFAULT ''" for name in TEXT_TARGETS)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            f"""CREATE UNLOGGED TABLE {table} (
                line integer PRIMARY KEY, email text, email_norm text, domain text,
                {text_columns}, custom jsonb NOT NULL DEFAULT '{{}}', tags text[] NOT NULL
                DEFAULT '{{}}', status text NOT NULL, error_column text, error_value text,
                error_reason text, dup_of integer, validation_status text NOT NULL DEFAULT
                'unknown', validation_reason text NOT NULL DEFAULT '', contact_id bigint,
                outcome text) WITH (fillfactor = 50)"""
        )


def drop_stage(job: ImportJob) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage_table(job)}")
        cursor.execute(f"DROP TABLE IF EXISTS imports_verdicts_{int(job.pk)}")


@dataclass
class ColumnPlan:
    """How to turn a row's cells into a staged row, prepared once per import."""

    email: int
    full_name: int | None
    texts: list[tuple[int, str]]  # (column index, field)
    custom: list[tuple[int, str, str]]  # (column index, key, type)
    tags: list[int]
    headers: list[str]
    job_tags: list[str]


def plan_columns(job: ImportJob, custom_fields: dict[str, CustomField]) -> ColumnPlan:
    plan = ColumnPlan(-1, None, [], [], [], list(job.headers), list(job.tags or []))
    for index_text, target in (job.mapping or {}).items():
        index = int(index_text)
        if target == "email":
            plan.email = index
        elif target == "full_name":
            plan.full_name = index
        elif target in TEXT_TARGETS:
            plan.texts.append((index, target))
        elif target == "tags":
            plan.tags.append(index)
        elif target.startswith("custom:"):
            key = target.split(":", 1)[1]
            plan.custom.append((index, key, custom_fields[key].field_type))
        elif target.startswith("new:"):
            _, field_type, label = target.split(":", 2)
            plan.custom.append((index, new_field_key(label), field_type))
    return plan



def _unquoted(value: str) -> str:
    """The cell without the quote our exports put before a formula-like value (see
    imports.exports.safety), so that re-importing an export gives back the same values."""
    return unprotect(value) if value[:1] == QUOTE else value


def _split_full_name(value: str) -> tuple[str, str]:
    first, _, last = value.strip().partition(" ")
    return first, last.strip()


def stage_row(plan: ColumnPlan, line: int, cells: list[str]) -> tuple:
    """One staged row for `cells`: status 'ok' or 'invalid' with the column, value and reason."""

    def refuse(column: int | None, value: str, reason: str) -> tuple:
        name = plan.headers[column] if column is not None and column < len(plan.headers) else ""
        return (line, None, None, None, *([""] * len(TEXT_TARGETS)), "{}", [], "invalid",
                name, value[:1000], reason)

    if len(cells) != len(plan.headers):
        return refuse(None, "", f"This row has {len(cells)} values but the header has "
                      f"{len(plan.headers)} columns.")
    raw_email = _unquoted(cells[plan.email])
    try:
        email = normalize_email(raw_email)
    except InvalidEmail as exc:
        return refuse(plan.email, raw_email, str(exc))
    texts = dict.fromkeys(TEXT_TARGETS, "")
    if plan.full_name is not None:
        texts["first_name"], texts["last_name"] = _split_full_name(
            _unquoted(cells[plan.full_name])
        )
    for index, name in plan.texts:
        value = cells[index].strip()
        if value[:1] == QUOTE:
            value = unprotect(value)
        if len(value) > _LIMITS[name]:
            return refuse(index, value, f"Too long: {len(value):,} characters (at most "
                          f"{_LIMITS[name]}).")
        if value:
            texts[name] = value
    custom = {}
    for index, key, field_type in plan.custom:
        try:
            value = coerce_custom_value(field_type, _unquoted(cells[index]))
        except ValueError as exc:
            return refuse(index, cells[index], str(exc))
        if value is not None:
            custom[key] = value
    tags = list(plan.job_tags)
    for index in plan.tags:
        cell = _unquoted(cells[index])
        tags.extend(t.strip() for t in cell.replace(";", ",").split(",") if t.strip())
    if any(len(t) > MAX_TAG_LENGTH for t in tags):
        return refuse(plan.tags[0] if plan.tags else None, ",".join(tags),
                      f"A tag is longer than {MAX_TAG_LENGTH} characters.")
    for index, value in enumerate(cells):
        if "\x00" in value:
            return refuse(index, value.replace("\x00", "\\0"), "Contains a NUL character.")
    return (line, email.display, email.normalized, email.normalized.rpartition("@")[2],
            *texts.values(), json.dumps(custom), _dedupe_tags(tags), "ok", None, None, None)


def _dedupe_tags(tags: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(" ".join(tag.split()).lower(), " ".join(tag.split()))
    return list(seen.values())


def open_job_file(job: ImportJob):
    return default_storage.open(job.file, "rb")


def staged_rows(job: ImportJob, plan: ColumnPlan) -> Iterator[tuple]:
    settings = ReadSettings.from_dict(job.read_settings)
    with open_job_file(job) as fileobj:
        for line, cells in iter_rows(fileobj, settings):
            yield stage_row(plan, line, cells)


def load_stage(
    job: ImportJob, plan: ColumnPlan, *, progress: Callable[[int], None] | None = None,
    on_domain: Callable[[str], None] | None = None, batch: int = 50_000,
) -> int:
    """COPY every row of the file into the staging table, a batch at a time (between batches
    the connection is free to record progress); return the number of data rows. `on_domain`
    hears each distinct domain of the valid rows as soon as it is read."""
    buffer: list[tuple] = []
    count = 0
    domains: set[str] = set()
    with _collector_paused():
        for row in staged_rows(job, plan):
            buffer.append(row)
            if on_domain is not None and row[3] is not None and row[3] not in domains:
                domains.add(row[3])
                on_domain(row[3])
            if len(buffer) >= batch:
                count += _copy(job, buffer)
                buffer = []
                if progress:
                    progress(count)
    if buffer:
        count += _copy(job, buffer)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {stage_table(job)}")  # the set-based steps need its size
    return count


@contextmanager
def _collector_paused():
    """No cyclic garbage collection while rows are staged: each row allocates a few container
    objects and none makes a cycle, yet they trigger a collection every few hundred rows
    (1.4 s of 8 for a million rows). Collected at the end, as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _copy(job: ImportJob, rows: list[tuple]) -> int:
    columns = ", ".join(STAGE_COLUMNS)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {stage_table(job)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)
