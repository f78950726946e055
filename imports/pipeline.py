"""Phases 2-4 of an import, as SQL over the staging table (see imports/staging.py).

analyse: domain verdicts, then in one pass duplicates within the file, matches against the
         tenant's contacts and the outcome of every row under the chosen strategy (the counts
         the user confirms).
apply:   one transaction per chunk of lines: previous values of the contacts it will update,
         the update, the inserts, tags, history, counters and the resumption point together,
         so a killed worker leaves whole chunks only and a retry carries on where it stopped.
rollback: the inverse, from ImportChange.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.db import connection, transaction

from contacts.changes import contacts_changed
from contacts.services import purge_contacts
from imports.mapping import mapped_header
from imports.models import ImportJob, ImportRowError, Strategy
from imports.staging import STAGE_STORAGE, TEXT_TARGETS, analyze_stage, stage_table
from mailcheck.checks import check_domains

logger = logging.getLogger(__name__)

# Outcomes of a staged row; ok rows get one of the first four.
CREATE, UPDATE, UNCHANGED, SKIP = "create", "update", "unchanged", "skip"
WRITE_OUTCOMES = (CREATE, UPDATE)


def _run(sql: str, params: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.rowcount


def _rows(sql: str, params: dict | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.fetchall()


# --- analyse ------------------------------------------------------------------------------------


def verdict_table(job: ImportJob) -> str:
    return f"imports_verdicts_{int(job.pk)}"


def column_header(job: ImportJob, *targets: str) -> str:
    """The file's header of the column mapped to the first of `targets` that is mapped: row
    errors name the column as the user's file does ("E-mail Address", not "email"). The
    target's own name when its header is blank, the last target's when none is mapped."""
    for target in targets:
        header = mapped_header(job.mapping, job.headers, target)
        if header is not None:
            return header or target
    return targets[-1]


def check_staged_domains(job: ImportJob, *, checked: dict | None = None) -> None:
    """Check each distinct domain of the staged rows once (cached, concurrent) and keep the
    verdicts in a small per-job table that later steps join. `checked`: verdicts found while
    the file was read (mailcheck.checks.DomainChecksAhead); only domains it lacks are checked."""
    t, v = stage_table(job), verdict_table(job)
    domains = [d for (d,) in _rows(f"SELECT DISTINCT domain FROM {t} WHERE domain IS NOT NULL")]
    verdicts = dict(checked or {})
    verdicts.update(check_domains([d for d in domains if d not in verdicts]))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {v}")
        cursor.execute(f"CREATE UNLOGGED TABLE {v} (domain text PRIMARY KEY, status text "
                       "NOT NULL, reason text NOT NULL)")
        with cursor.cursor.copy(f"COPY {v} FROM STDIN") as copy:
            for domain, verdict in verdicts.items():
                copy.write_row((domain, verdict.status, verdict.reason))
        cursor.execute(f"ANALYZE {v}")


def _changes_condition(strategy: str) -> str:
    """SQL true when staged row s (with domain verdict vd) would change contact c."""
    status, reason = "coalesce(vd.status, 'unknown')", "coalesce(vd.reason, '')"
    if strategy == Strategy.FILL:
        parts = [f"(c.{f} = '' AND s.{f} <> '')" for f in TEXT_TARGETS]
        parts.append("NOT (c.custom_fields ?& ARRAY(SELECT jsonb_object_keys(s.custom)))")
        parts.append(f"(c.validation_status = 'unknown' AND {status} <> 'unknown')")
    else:
        parts = [f"(s.{f} <> '' AND s.{f} <> c.{f})" for f in TEXT_TARGETS]
        parts.append("NOT (c.custom_fields @> s.custom)")
        parts.append(f"({status}, {reason}) <> (c.validation_status, c.validation_reason)")
    parts.append(
        """EXISTS (SELECT 1 FROM unnest(s.tags) tn WHERE NOT EXISTS (
               SELECT 1 FROM contacts_contacttag ct JOIN contacts_tag tg ON tg.id = ct.tag_id
               WHERE ct.contact_id = c.id AND lower(tg.name) = lower(tn)))"""
    )
    return " OR ".join(parts)


_UNDELIVERABLE_REASON = """'Skipped: ' || CASE WHEN vd.reason = 'disposable'
    THEN 'a disposable email domain.'
    ELSE 'the domain cannot receive mail (' || coalesce(vd.reason, '') || ').' END"""


# One statement over the whole file may use this much memory for each of its hash tables (the
# file's emails, the tenant's contacts) rather than spilling them to disk, and its joins may
# run in the server's parallel workers (one per core): a CREATE TABLE AS may run in parallel
# where an UPDATE may not, but at the default cost of passing each row up from a worker the
# planner keeps a million rows in one process. For a million rows: 6.1 -> 3.8 s. (A small
# file stays below the size at which a parallel plan is considered at all.)
_WHOLE_FILE_SETTINGS = {"work_mem": "256MB", "parallel_tuple_cost": "0"}


def _whole_file_settings(cursor) -> None:
    for name, value in _WHOLE_FILE_SETTINGS.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def decide_outcomes(job: ImportJob) -> None:
    """In one pass over the staged rows: later rows with an email seen earlier in the file
    become duplicates of the first, the others are matched to existing contacts, get their
    domain's verdict and the outcome of the row under the strategy. The staging table is
    rewritten (CREATE TABLE AS, then renamed) rather than updated in place. Idempotent: run
    again before the writes when the contacts changed since the analysis."""
    t, v = stage_table(job), verdict_table(job)
    if job.strategy in (Strategy.SKIP, Strategy.CREATE):
        existing = f"'{SKIP}'"
    else:
        existing = (f"CASE WHEN {_changes_condition(job.strategy)} THEN '{UPDATE}' "
                    f"ELSE '{UNCHANGED}' END")
    undeliverable = "(%(skip_bad)s AND (vd.status = 'invalid' OR vd.reason = 'disposable'))"
    dup = "(d.first_line <> s.line)"
    # Rows other than 'invalid' ones (refused while read) are decided afresh: 'ok',
    # 'undeliverable' or 'duplicate'. Duplicates keep no match, verdict or outcome.
    ok = f"(s.status <> 'invalid' AND NOT {dup})"
    texts = ", ".join(f"s.{f}" for f in TEXT_TARGETS)
    select = f"""
        SELECT s.line, s.email, s.email_norm, s.domain, {texts}, s.custom, s.tags,
            CASE WHEN s.status = 'invalid' THEN s.status WHEN {dup} THEN 'duplicate'
                 WHEN {undeliverable} THEN 'undeliverable' ELSE 'ok' END AS status,
            CASE WHEN s.status = 'invalid' THEN s.error_column WHEN {dup} THEN %(email_header)s
                 WHEN {undeliverable} THEN %(email_header)s END AS error_column,
            CASE WHEN s.status = 'invalid' THEN s.error_value WHEN {dup} THEN s.email
                 WHEN {undeliverable} THEN s.email END AS error_value,
            CASE WHEN s.status = 'invalid' THEN s.error_reason
                 WHEN {dup} THEN 'Same email as line ' || d.first_line
                      || '; only the first is imported.'
                 WHEN {undeliverable} THEN {_UNDELIVERABLE_REASON} END AS error_reason,
            CASE WHEN s.status <> 'invalid' AND {dup} THEN d.first_line END AS dup_of,
            CASE WHEN {ok} THEN coalesce(vd.status, 'unknown') ELSE 'unknown' END
                AS validation_status,
            CASE WHEN {ok} THEN coalesce(vd.reason, '') ELSE '' END AS validation_reason,
            CASE WHEN {ok} THEN c.id END AS contact_id,
            CASE WHEN NOT {ok} OR {undeliverable} THEN NULL WHEN c.id IS NULL THEN '{CREATE}'
                 ELSE {existing} END AS outcome
        FROM {t} s
        LEFT JOIN (SELECT email_norm, min(line) AS first_line FROM {t}
                   WHERE status <> 'invalid' GROUP BY email_norm) d
               ON d.email_norm = s.email_norm
        LEFT JOIN contacts_contact c ON c.email_normalized = s.email_norm
        LEFT JOIN {v} vd ON vd.domain = s.domain"""
    with transaction.atomic(), connection.cursor() as cursor:
        _whole_file_settings(cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {t}_next")
        cursor.execute(f"CREATE UNLOGGED TABLE {t}_next WITH ({STAGE_STORAGE}) AS {select}",
                       {"skip_bad": job.skip_undeliverable,
                        "email_header": column_header(job, "email")})
        cursor.execute(f"DROP TABLE {t}")
        cursor.execute(f"ALTER TABLE {t}_next RENAME TO {t}")
        cursor.execute(f"ALTER TABLE {t} ADD PRIMARY KEY (line)")
        # The new table's statistics: without them the steps below are planned blind (the
        # possible duplicates took 1.5 s or 3.5 s by the plan chosen).
        analyze_stage(job)
        _mark_possible_duplicates(job, cursor)


def _mark_possible_duplicates(job: ImportJob, cursor) -> None:
    """New rows whose name and company match an existing contact: flagged; skipped under the
    'skip' strategy, created under the others (their email differs, so nothing is merged).

    The matches are found first, by a CREATE TABLE AS: the search reads every contact (no index
    is on the lower-cased names), and unlike an UPDATE a CREATE TABLE AS may read them in the
    server's parallel workers. With the cost of passing a row up from a worker back at the
    server's default (decide_outcomes sets it to 0), the workers also lower-case and compare
    the names rather than hand every contact to one process that does (1M contacts: a 100k-row
    file 0.73-0.85 -> 0.47-0.51 s, a 1M-row file 1.0 -> 0.85 s). Only rows of a name and
    company found there are then updated; usually there are none. The table lives for the
    caller's transaction (or until the next call in it: tests run in one)."""
    t = stage_table(job)
    cursor.execute("SET LOCAL parallel_tuple_cost TO DEFAULT")
    cursor.execute("DROP TABLE IF EXISTS pg_temp.possible_duplicates")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE possible_duplicates ON COMMIT DROP AS
            SELECT k.f, k.l, k.co, min(c.email_normalized) AS email
            FROM (SELECT DISTINCT lower(first_name) f, lower(last_name) l, lower(company) co
                  FROM {t} WHERE outcome = '{CREATE}' AND first_name <> ''
                        AND last_name <> '' AND company <> '') k
            JOIN contacts_contact c ON lower(c.first_name) = k.f
                 AND lower(c.last_name) = k.l AND lower(c.company) = k.co
            GROUP BY k.f, k.l, k.co""")
    if not cursor.rowcount:
        return
    cursor.execute(
        f"""UPDATE {t} s SET error_column = %(name_header)s,
                error_value = s.first_name || ' ' ||
                s.last_name || ' / ' || s.company,
                error_reason = 'Possible duplicate of ' || m.email ||
                    ' (same name and company, other email).',
                outcome = CASE WHEN %(skip)s THEN '{SKIP}' ELSE s.outcome END
            FROM possible_duplicates m
            WHERE s.outcome = '{CREATE}' AND lower(s.first_name) = m.f
              AND lower(s.last_name) = m.l AND lower(s.company) = m.co""",
        {"skip": job.strategy == Strategy.SKIP,
         "name_header": column_header(job, "first_name", "full_name")},
    )


def preview_counts(job: ImportJob) -> dict[str, int]:
    """Counts of outcomes as the staging table stands (before or after the run)."""
    t = stage_table(job)
    (row,) = _rows(
        f"""SELECT count(*),
                count(*) FILTER (WHERE outcome = '{CREATE}'),
                count(*) FILTER (WHERE outcome = '{UPDATE}'),
                count(*) FILTER (WHERE outcome = '{UNCHANGED}'),
                count(*) FILTER (WHERE outcome = '{SKIP}' OR status = 'undeliverable'),
                count(*) FILTER (WHERE status = 'invalid'),
                count(*) FILTER (WHERE status = 'duplicate'),
                count(*) FILTER (WHERE status = 'ok' AND error_reason IS NOT NULL),
                count(*) FILTER (WHERE outcome IN ('{CREATE}', '{UPDATE}')
                                 AND validation_status IN ('risky', 'invalid'))
            FROM {t}"""
    )
    names = ("total_rows", "created", "updated", "unchanged", "skipped", "invalid",
             "duplicates_in_file", "possible_duplicates", "flagged")
    return dict(zip(names, row, strict=True))


def rows_joining_list(job: ImportJob) -> int:
    """Before the run: the staged rows that will join the import's list (those written or
    matching an existing contact, as _add_to_list adds them; not refused, repeated or
    skipped-as-undeliverable rows)."""
    return _rows(f"SELECT count(*) FROM {stage_table(job)} WHERE status = 'ok'")[0][0]


def record_row_errors(job: ImportJob) -> None:
    """Refused, duplicate, skipped and flagged rows → ImportRowError (replacing earlier ones)."""
    ImportRowError.objects.filter(job=job).delete()
    t = stage_table(job)
    _run(
        f"""INSERT INTO imports_importrowerror (job_id, line, "column", value, reason)
            SELECT %(job)s, line, coalesce(error_column, ''), coalesce(error_value, ''),
                   CASE WHEN outcome = '{SKIP}' AND error_reason IS NULL AND %(create)s
                        THEN 'A contact with this email already exists; it is not created twice.'
                        ELSE error_reason END
            FROM {t}
            WHERE error_reason IS NOT NULL OR (outcome = '{SKIP}' AND %(create)s)
            ORDER BY line""",
        {"job": job.pk, "create": job.strategy == Strategy.CREATE},
    )


# --- apply ----------------------------------------------------------------------------------


def chunk_bounds(job: ImportJob, chunk_rows: int, *, done: list | None = None
                 ) -> list[tuple[int, int]]:
    """[low, high) line ranges of at most `chunk_rows` lines each covering the staged lines
    not in the ranges `done` (chunks already written)."""
    (low, high) = _rows(f"SELECT min(line), max(line) FROM {stage_table(job)}")[0]
    if low is None:
        return []
    bounds, begin = [], low
    for done_low, done_high in sorted([*(done or []), [high + 1, high + 1]]):
        while begin < min(done_low, high + 1):  # the gap before this written range
            end = min(begin + chunk_rows, done_low, high + 1)
            bounds.append((begin, end))
            begin = end
        begin = max(begin, done_high)
    return bounds


def _set_fields_sql(strategy: str) -> str:
    if strategy == Strategy.FILL:
        texts = [f"{f} = CASE WHEN c.{f} = '' THEN s.{f} ELSE c.{f} END" for f in TEXT_TARGETS]
        rest = [
            "custom_fields = s.custom || c.custom_fields",
            "validation_status = CASE WHEN c.validation_status = 'unknown' "
            "THEN s.validation_status ELSE c.validation_status END",
            "validation_reason = CASE WHEN c.validation_status = 'unknown' "
            "THEN s.validation_reason ELSE c.validation_reason END",
        ]
    else:
        texts = [f"{f} = CASE WHEN s.{f} <> '' THEN s.{f} ELSE c.{f} END" for f in TEXT_TARGETS]
        rest = [
            "custom_fields = c.custom_fields || s.custom",
            "validation_status = s.validation_status",
            "validation_reason = s.validation_reason",
        ]
    return ", ".join(texts + rest)


_RESTORABLE = (*TEXT_TARGETS, "custom_fields", "validation_status", "validation_reason",
               "updated_at", "updated_by_id")
# Read from o, the contact as it was before the update (the UPDATE's FROM reads the table as
# of the statement's start, and RETURNING may name it beside the updated row c).
_PREVIOUS = "jsonb_build_object({})".format(", ".join(f"'{f}', o.{f}" for f in _RESTORABLE))
_DIFF = "jsonb_strip_nulls(jsonb_build_object({}))".format(
    ", ".join(
        f"'{f}', CASE WHEN o.{f} IS DISTINCT FROM c.{f} THEN jsonb_build_array(o.{f}, c.{f}) END"
        for f in (*TEXT_TARGETS, "custom_fields")
    )
)


def apply_chunk(job: ImportJob, low: int, high: int, *, user_id: int | None) -> dict[str, int]:
    """Write staged lines [low, high) to the contacts (caller holds the transaction)."""
    t = stage_table(job)
    p = {"job": job.pk, "low": low, "high": high, "user": user_id, "source": job.source}
    in_chunk = "s.line >= %(low)s AND s.line < %(high)s"
    updated = 0
    if job.strategy in (Strategy.UPDATE, Strategy.FILL):
        updated = _update_existing(t, p, in_chunk, job.strategy)
    created = _insert_new(t, p, in_chunk)
    skipped = _report_lost_races(t, {**p, "email_header": column_header(job, "email")},
                                 in_chunk)
    if adds_tags(job):
        _add_tags(t, p, in_chunk)
    if job.target_list_id:
        _add_to_list(job, t, p, in_chunk)
    _notify_changed(t, p, in_chunk)
    return {"created": created, "updated": updated, "skipped": skipped}


def _notify_changed(t: str, p: dict, in_chunk: str) -> None:
    """contacts.changes: the chunk's written or matched contacts (segments follow them)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.contact_id FROM {t} s WHERE {in_chunk} AND s.status = 'ok' "
                       "AND s.contact_id IS NOT NULL", p)
        contacts_changed(contact_ids=[row[0] for row in cursor.fetchall()])


def _add_to_list(job: ImportJob, t: str, p: dict, in_chunk: str) -> None:
    """The chunk's rows that were written or matched an existing contact (not refused,
    duplicate or skipped-as-undeliverable rows) join the import's list; re-running a chunk
    adds nothing twice."""
    from segments.models import StaticList
    from segments.services import ListGone, add_contacts_to_list

    try:
        add_contacts_to_list(
            # By id only: the list may have been deleted since the job was read (ListGone).
            static_list=StaticList(pk=job.target_list_id), source="import", source_ref=job.pk,
            ids_sql=f"SELECT s.contact_id AS id FROM {t} s WHERE {in_chunk} "
            "AND s.status = 'ok' AND s.contact_id IS NOT NULL",
            params=p, actor=job.created_by,
        )
    except ListGone:  # deleted while the import ran: the contacts are imported all the same
        pass


def _update_existing(t: str, p: dict, in_chunk: str, strategy: str) -> int:
    """One statement: update, keeping the previous values (for rollback) and recording history.
    The UPDATE joins each contact to itself as it was (o): RETURNING gives both versions, so
    the previous values and the changes come out of the update itself."""
    return _rows(
        f"""WITH upd AS (
                UPDATE contacts_contact c SET {_set_fields_sql(strategy)},
                    updated_at = now(), updated_by_id = %(user)s
                FROM {t} s JOIN contacts_contact o ON o.id = s.contact_id
                WHERE c.id = o.id AND {in_chunk} AND s.outcome = '{UPDATE}'
                RETURNING c.id, c.email, {_PREVIOUS} AS previous, {_DIFF} AS changes
            ), changes AS (
                INSERT INTO imports_importchange
                    (job_id, contact_id, action, previous, added_tag_ids, applied_at)
                SELECT %(job)s, id, 'updated', previous, '[]', now() FROM upd
            ), history AS (
                INSERT INTO contacts_contactchange
                    (contact_id, contact_email, action, changes, actor_id, source, created_at)
                SELECT id, email, 'updated', changes, %(user)s, %(source)s, now() FROM upd
            )
            SELECT count(*) FROM upd""", p,
    )[0][0]


# A new contact's copy of its tag ids (Contact.tag_ids), written with the row: the database,
# finding it right when _add_tags links the tags, then leaves the row alone instead of
# rewriting every tagged new contact. (A tag deleted meanwhile is missing here and the
# database puts it in.)
_NEW_TAG_IDS = """CASE WHEN cardinality(s.tags) > 0 THEN (
    SELECT array_agg(DISTINCT tg.id ORDER BY tg.id) FROM unnest(s.tags) tn
    JOIN contacts_tag tg ON lower(tg.name) = lower(tn)) END"""


def _insert_new(t: str, p: dict, in_chunk: str) -> int:
    columns = ", ".join(TEXT_TARGETS)
    values = ", ".join(f"s.{f}" for f in TEXT_TARGETS)
    rows = _rows(
        f"""WITH ins AS (
                INSERT INTO contacts_contact (email, email_normalized, {columns}, custom_fields,
                    status, validation_status, validation_reason, source, created_at,
                    updated_at, created_by_id, updated_by_id, tag_ids)
                SELECT s.email, s.email_norm, {values}, s.custom, 'active', s.validation_status,
                       s.validation_reason, %(source)s, now(), now(), %(user)s, %(user)s,
                       {_NEW_TAG_IDS}
                FROM {t} s WHERE {in_chunk} AND s.outcome = '{CREATE}'
                ORDER BY s.line
                ON CONFLICT (email_normalized) DO NOTHING
                RETURNING id, email, email_normalized
            ), changes AS (
                INSERT INTO imports_importchange
                    (job_id, contact_id, action, previous, added_tag_ids, applied_at)
                SELECT %(job)s, id, 'created', NULL, '[]', now() FROM ins
            ), history AS (
                INSERT INTO contacts_contactchange
                    (contact_id, contact_email, action, changes, actor_id, source, created_at)
                SELECT id, email, 'created', '{{}}', %(user)s, %(source)s, now() FROM ins
            ), linked AS (
                UPDATE {t} s SET contact_id = ins.id FROM ins
                WHERE s.email_norm = ins.email_normalized AND {in_chunk}
            )
            SELECT count(*) FROM ins""", p,
    )
    return rows[0][0]


def _add_tags(t: str, p: dict, in_chunk: str) -> None:
    written = f"{in_chunk} AND s.outcome IN ('{CREATE}', '{UPDATE}') AND s.contact_id IS NOT NULL"
    _insert_tags(t, written, p)  # again: a tag deleted while the import ran comes back
    _run(
        f"""WITH added AS (
                INSERT INTO contacts_contacttag (contact_id, tag_id, added_at)
                SELECT s.contact_id, tg.id, now()
                FROM {t} s CROSS JOIN LATERAL unnest(s.tags) tn
                JOIN contacts_tag tg ON lower(tg.name) = lower(tn)
                WHERE {written}
                ON CONFLICT DO NOTHING
                RETURNING contact_id, tag_id
            )
            INSERT INTO imports_importchange
                (job_id, contact_id, action, previous, added_tag_ids, applied_at)
            SELECT %(job)s, a.contact_id, 'tagged', NULL, jsonb_agg(a.tag_id), now()
            FROM added a JOIN {t} s ON s.contact_id = a.contact_id AND {in_chunk}
                 AND s.outcome = '{UPDATE}'
            GROUP BY a.contact_id""", p,
    )


# --- rollback -----------------------------------------------------------------------------------


def rollback_conflicts(job: ImportJob, *, limit: int = 20,
                       ranges: list[tuple[int, int]] | None = None) -> tuple[int, list[str]]:
    """Contacts this import touched that changed again after it: (count, sample emails); only
    those with ids in the [low, high) `ranges` when given."""
    sql = """FROM imports_importchange ch JOIN contacts_contact c ON c.id = ch.contact_id
             WHERE ch.job_id = %(job)s AND ch.action IN ('created', 'updated')
               AND c.updated_at > ch.applied_at"""
    if ranges is not None:
        if not ranges:
            return 0, []
        sql += " AND ({})".format(" OR ".join(
            f"(ch.contact_id >= {int(low)} AND ch.contact_id < {int(high)})"
            for low, high in ranges))
    (count,) = _rows(f"SELECT count(DISTINCT c.id) {sql}", {"job": job.pk})[0]
    if not count:  # the usual case: no second pass over the import's record
        return 0, []
    sample = [e for (e,) in _rows(f"SELECT DISTINCT c.email {sql} LIMIT {int(limit)}",
                                   {"job": job.pk})]
    return count, sample


@contextmanager
def timed_step(job: ImportJob, name: str):
    """Log how long one step of an import or its rollback took (bench/import_bench.py prints
    these lines)."""
    started = time.perf_counter()
    yield
    logger.info("import %s: %s took %.2f s", job.pk, name, time.perf_counter() - started)


def rollback_bounds(job: ImportJob, chunk_records: int, *, done: list | None = None
                    ) -> list[tuple[int, int]]:
    """[low, high) ranges of contact ids, each holding about `chunk_records` of the import's
    records (all the records of one contact fall in one range), less the ranges `done`."""
    (last,) = _rows("SELECT max(contact_id) FROM imports_importchange WHERE job_id = %s",
                    [job.pk])[0]
    if last is None:
        return []
    starts = sorted({contact_id for (contact_id,) in _rows(
        """SELECT contact_id FROM (
               SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS n
               FROM imports_importchange WHERE job_id = %(job)s) numbered
           WHERE mod(n - 1, %(every)s) = 0""", {"job": job.pk, "every": max(1, chunk_records)})})
    return _without(list(zip(starts, [*starts[1:], last + 1], strict=True)), done or [])


def _without(ranges: list[tuple[int, int]], done: list) -> list[tuple[int, int]]:
    """The parts of the [low, high) `ranges` that no range of `done` covers."""
    left = []
    for low, high in ranges:
        for done_low, done_high in sorted(done):
            if done_high <= low or done_low >= high:
                continue
            if done_low > low:
                left.append((low, done_low))
            low = max(low, done_high)
        if low < high:
            left.append((low, high))
    return left


def undo_chunk(job: ImportJob, low: int, high: int, *, force: bool, user_id: int | None
               ) -> dict:
    """Undo what `job` did to the contacts with ids in [low, high) (caller holds the
    transaction): remove the tags it added, give the contacts it updated their previous values
    back, delete those it created. Contacts changed after the import are left alone unless
    `force`. Returns the counts and up to 20 emails of contacts left alone."""
    p = {"job": job.pk, "user": user_id, "source": f"rollback:{job.pk}", "force": force,
         "low": low, "high": high}
    mine = "ch.job_id = %(job)s AND ch.contact_id >= %(low)s AND ch.contact_id < %(high)s"
    untouched = "(%(force)s OR c.updated_at <= ch.applied_at)"
    conflicts, sample = rollback_conflicts(job, ranges=[(low, high)])  # before any undo
    untagged = _run(
        f"""DELETE FROM contacts_contacttag ct USING imports_importchange ch,
                   jsonb_array_elements_text(ch.added_tag_ids) AS added(tag_id)
            WHERE {mine} AND ch.action = 'tagged'
              AND ct.contact_id = ch.contact_id AND ct.tag_id = added.tag_id::bigint""", p,
    )
    restored = _restore_updated(p, f"{mine} AND {untouched}")
    deleted = purge_contacts(
        ids_sql=f"""SELECT c.id FROM imports_importchange ch
                    JOIN contacts_contact c ON c.id = ch.contact_id
                    WHERE {mine} AND ch.action = 'created' AND {untouched}""",
        params=p, actor_id=user_id, source=p["source"],
    )
    return {"deleted": deleted, "restored": restored, "untagged": untagged,
            "conflicts": conflicts, "sample": [] if force else sample}


def _restore_updated(p: dict, where: str) -> int:
    fields = ", ".join(f"{f} = ch.previous->>'{f}'" for f in TEXT_TARGETS)
    restored = _rows(
        f"""WITH restored AS (
                UPDATE contacts_contact c SET {fields},
                    custom_fields = ch.previous->'custom_fields',
                    validation_status = ch.previous->>'validation_status',
                    validation_reason = ch.previous->>'validation_reason',
                    updated_at = now(), updated_by_id = %(user)s
                FROM imports_importchange ch
                WHERE {where} AND ch.action = 'updated' AND c.id = ch.contact_id
                RETURNING c.id, c.email
            ), history AS (
                INSERT INTO contacts_contactchange
                    (contact_id, contact_email, action, changes, actor_id, source, created_at)
                SELECT id, email, 'updated', '{{}}', %(user)s, %(source)s, now() FROM restored
            )
            SELECT count(*) FROM restored""", p,
    )
    return restored[0][0]


def rows_between(job: ImportJob, low: int, high: int) -> int:
    """How many staged rows lines [low, high) hold (progress after a chunk)."""
    return _rows(f"SELECT count(*) FROM {stage_table(job)} WHERE line >= %s AND line < %s",
                 [low, high])[0][0]


def adds_tags(job: ImportJob) -> bool:
    """Whether any row can carry tags: the options add some or a column is mapped to tags.
    Without, the tag statements are skipped (each scans its rows: ~1 s for a million)."""
    return bool(job.tags) or "tags" in (job.mapping or {}).values()


def create_tags(job: ImportJob) -> None:
    """Every tag the import will add, created before the chunks are written (idempotent): chunks
    written at once then never wait on each other's new tags."""
    if not adds_tags(job):
        return
    _insert_tags(stage_table(job), f"s.outcome IN ('{CREATE}', '{UPDATE}')", {})


def _insert_tags(t: str, where: str, params: dict) -> None:
    """The tags of the staged rows matching `where` that do not exist yet, each spelt as on
    its first line, inserted in name order (two connections doing this at once cannot
    deadlock)."""
    _run(
        f"""INSERT INTO contacts_tag (name, created_at)
            SELECT DISTINCT ON (lower(tn)) tn, now()
            FROM {t} s CROSS JOIN LATERAL unnest(s.tags) tn WHERE {where}
            ORDER BY lower(tn), s.line
            ON CONFLICT DO NOTHING""", params,
    )


STATISTICS_TABLES = ("contacts_contact", "imports_importchange", "contacts_contactchange")
# Tables whose rows an import or rollback updates or deletes, leaving dead row versions.
VACUUM_TABLES = ("contacts_contact", "contacts_contacttag")


def refresh_statistics(*, changed: dict[str, int] | None = None,
                       dead: dict[str, int] | None = None,
                       tables: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """After bulk writes: merge the search index's pending list (searches scan it until then),
    VACUUM the tables the writes left many dead rows in, and ANALYZE the tables an import grows
    (a sample: cheap), so later plans fit their size.

    `changed`: how many rows of each table the writes touched, at most. A table is analysed
    only when that is a tenth of its rows or more (autovacuum's own rule; below it the
    statistics still describe the table): a 500-row import into a workspace of a million
    contacts then does not wait ~2 s for samples of its biggest tables. None: all of them.
    `dead`: how many rows of each table the writes updated or deleted. A table is vacuumed when
    that is a fifth of its rows or more (autovacuum's rule again): done here, at once and
    unthrottled, rather than by autovacuum in the middle of the next import (in the benchmark,
    the 100,000-row import after the rollback of a million-row one: 9.7 s in one run before,
    8.3-8.7 s in three runs after). VACUUM cannot run inside a transaction: there, it is left
    to autovacuum.
    `tables`: the ones to consider for ANALYZE (default: all of STATISTICS_TABLES).
    Returns {"vacuumed": [...], "analysed": [...]} (a vacuumed table is analysed with it)."""
    _run("SELECT gin_clean_pending_list('contact_search_idx'::regclass)")
    analysed = tables_to_analyze(changed, tables=tables)
    vacuumed = [] if connection.in_atomic_block else tables_to_vacuum(dead or {})
    for table in vacuumed:
        _run(f"VACUUM (ANALYZE) {table}")
    for table in analysed:
        if table not in vacuumed:
            _run(f"ANALYZE {table}")
    return {"vacuumed": vacuumed,
            "analysed": [*analysed, *(table for table in vacuumed if table not in analysed)]}


def _sizes(tables) -> dict[str, float]:
    return dict(_rows(
        "SELECT t.name, c.reltuples FROM unnest(%(names)s::text[]) AS t(name) "
        "JOIN pg_class c ON c.oid = t.name::regclass", {"names": list(tables)},
    ))


def tables_to_analyze(changed: dict[str, int] | None, *,
                      tables: tuple[str, ...] | None = None) -> list[str]:
    """The tables of `tables` (default STATISTICS_TABLES) whose statistics `changed` rows may
    have made stale: all of them when `changed` is None; else those never analysed or with
    changed ≥ 50 + 10% of their rows as last counted (pg_class.reltuples)."""
    tables = STATISTICS_TABLES if tables is None else tables
    if changed is None:
        return list(tables)
    sizes = _sizes(tables)
    return [table for table in tables
            if sizes[table] < 0 or changed.get(table, 0) >= 50 + 0.1 * sizes[table]]


def tables_to_vacuum(dead: dict[str, int]) -> list[str]:
    """The tables of VACUUM_TABLES in which `dead` rows are ≥ 50 + 20% of their rows as last
    counted (a table never counted: 50 dead rows)."""
    if not any(dead.get(table) for table in VACUUM_TABLES):
        return []
    sizes = _sizes(VACUUM_TABLES)
    return [table for table in VACUUM_TABLES
            if dead.get(table, 0) >= 50 + 0.2 * max(sizes[table], 0)]


def _report_lost_races(t: str, p: dict, in_chunk: str) -> int:
    """Rows to create whose email was created by someone else since the analysis: reported
    (and counted as skipped), not silently lost and not overwritten."""
    reason = "A contact with this email was created while the import ran; it was left as is."
    return _rows(
        f"""WITH lost AS (
                UPDATE {t} s SET outcome = '{SKIP}', error_column = %(email_header)s,
                    error_value = s.email, error_reason = %(reason)s
                WHERE {in_chunk} AND s.outcome = '{CREATE}' AND s.contact_id IS NULL
                RETURNING s.line, s.email
            ), reported AS (
                INSERT INTO imports_importrowerror (job_id, line, "column", value, reason)
                SELECT %(job)s, line, %(email_header)s, email, %(reason)s FROM lost
            )
            SELECT count(*) FROM lost""", {**p, "reason": reason},
    )[0][0]


def contacts_snapshot() -> dict:
    """A cheap fingerprint of the contact table: any insert, update or delete changes it."""
    count, max_id, last = _rows(
        "SELECT count(*), coalesce(max(id), 0), max(updated_at) FROM contacts_contact"
    )[0]
    return {"count": count, "max_id": max_id, "last_update": last.isoformat() if last else None}
