"""A big CSV or XLSX file read by two processes (imports.staging.load_stage): the import's own
process reads the first half and a helper (python -m imports.stage_part) the second, from a
record boundary (a row's start tag in a worksheet's XML). The staged rows, their line numbers
and every refusal are those of one reader; a helper that fails costs time, never rows. These
tests commit (the helper has a connection of its own), so they clean up."""

from __future__ import annotations

import io
import logging
import sys
import zipfile
from datetime import datetime

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from contacts.models import Contact
from imports import services, staging
from imports.models import ImportJob, ImportStatus
from tests.conftest import in_schema, wipe_imports
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.workbooks import with_part, xlsx_bytes

pytestmark = pytest.mark.django_db(transaction=True)
SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture
def committed(tenant, other_tenant):
    yield
    wipe_imports(tenant, other_tenant)


def _rows(n: int, *, start: int = 0) -> list[str]:
    return [f"p{i}@acme-mail.com,P{i},\"Co {i % 5}, Ltd\",{i}" for i in range(start, start + n)]


def _file(first_half: list[str], second_half: list[str], *, bom: bool = False) -> bytes:
    text = "email,first_name,company,seats\r\n" + "\r\n".join(first_half + second_half) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def _analyse(data: bytes, name: str = "big.csv") -> ImportJob:
    job = services.create_import(fileobj=ContentFile(data, name=name), filename=name, user=None)
    job = services.configure_import(job=job, strategy="update")
    return services.analyse_import(job=job, inline=True)


def _staged(job: ImportJob) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {staging.stage_table(job)} ORDER BY line")
        return cursor.fetchall()


def _both_ways(settings, caplog, data: bytes, name: str = "big.csv"
               ) -> tuple[ImportJob, ImportJob]:
    """The same file read by one process, then by two (the helper's log line proves it)."""
    settings.IMPORT_SPLIT_MIN_BYTES = 10**12
    one = _analyse(data, name)
    settings.IMPORT_SPLIT_MIN_BYTES = 1
    with caplog.at_level(logging.INFO, logger="imports.staging"):
        two = _analyse(data, name)
    return one, two


def _helper_ran(caplog) -> bool:
    return any("staging helper read" in r.getMessage() for r in caplog.records)


def test_two_readers_stage_exactly_what_one_reader_stages(
    settings, caplog, tenant, other_tenant, dns_server, committed
):
    # A quoted value spanning lines in the first half shifts the second half's numbers; blank
    # lines, a BOM, refused rows and quoted delimiters on both sides.
    first = _rows(300) + ['q@acme-mail.com,"Multi\r\nline\r\nname",X,1', "", "not-an-email,X,Y,1"]
    second = _rows(300, start=300) + ["", "bad@,Z,Z,1", 'r@acme-mail.com,"two\nlines",Y,2']
    one, two = _both_ways(settings, caplog, _file(first, second, bom=True))
    assert _helper_ran(caplog)
    assert one.status == two.status == ImportStatus.READY
    assert _staged(two) == _staged(one)
    assert (two.total_rows, two.created, two.invalid) == (one.total_rows, one.created, 2)
    assert two.total_rows == 604
    assert list(two.row_errors.values_list("line", "reason")) == list(
        one.row_errors.values_list("line", "reason"))
    with in_schema(other_tenant):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                           "AND tablename LIKE 'imports_stage_%%'", [other_tenant.schema_name])
            assert cursor.fetchone() == (0,)  # the helper wrote in this tenant's schema only


def test_windows_1252_file_is_split_and_read_alike(settings, caplog, tenant, dns_server,
                                                   committed):
    lines = [f"p{i}@acme-mail.com,Zoë {i},Café {i % 3},{i}" for i in range(600)]
    data = ("email,first_name,company,seats\n" + "\n".join(lines) + "\n").encode("cp1252")
    one, two = _both_ways(settings, caplog, data)
    assert _helper_ran(caplog)
    assert one.read_settings["encoding"] == "cp1252"
    assert _staged(two) == _staged(one)
    assert ("Zoë 599", "Café 2") in {(row[4], row[6]) for row in _staged(two)}


@pytest.mark.parametrize("where", ["first", "second"])
def test_a_file_refused_in_either_half_gets_one_reader_s_message(
    settings, caplog, tenant, dns_server, committed, where
):
    broken = ['z@acme-mail.com,"never closed,X,1']
    first, second = _rows(300), _rows(300, start=300)
    if where == "first":
        first = first[:150] + ['z@acme-mail.com,"closed" then text,X,1'] + first[150:]
    else:
        second = second + broken
    one, two = _both_ways(settings, caplog, _file(first, second))
    assert one.status == two.status == ImportStatus.FAILED
    assert two.error == one.error
    assert one.error.startswith("Line 152:" if where == "first" else "Line 602:")
    assert Contact.objects.count() == 0


def test_a_helper_that_fails_costs_time_not_rows(settings, monkeypatch, tenant, dns_server,
                                                  committed):
    data = _file(_rows(300), _rows(300, start=300))
    settings.IMPORT_SPLIT_MIN_BYTES = 10**12
    one = _analyse(data)
    settings.IMPORT_SPLIT_MIN_BYTES = 1
    started = []

    def failing_helper(job, split):
        import subprocess

        started.append(split)
        # Stages a row of its own into the table (as a helper that died half-way would
        # leave), then fails.
        code = ("import os, sys, psycopg; c = psycopg.connect(os.environ['URL'], autocommit=True);"
                f"c.execute('SET search_path TO {connection.schema_name}');"
                f"c.execute(\"INSERT INTO {staging.stage_table(job)} (line, status) "
                f"VALUES ({split.first_line}, 'ok')\"); sys.exit(1)")
        url = staging._database_url()
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                env={"URL": url, "PATH": "/usr/bin:/bin"})

    monkeypatch.setattr(staging, "_start_helper", failing_helper)
    two = _analyse(data)
    assert started and started[0].offset > len(data) // 2 - 100
    assert two.status == ImportStatus.READY
    assert _staged(two) == _staged(one)  # read again by one process, nothing doubled


def test_split_point_is_a_record_boundary_or_none(settings, tenant, dns_server, committed):
    settings.IMPORT_SPLIT_MIN_BYTES = 1
    data = _file(_rows(100), ['q@acme-mail.com,"a\r\nb",X,1'] + _rows(100, start=100))
    job = services.create_import(fileobj=ContentFile(data, name="s.csv"), filename="s.csv",
                                 user=None)
    split = staging._split_point(job)
    assert data[split.offset - 1:split.offset] == b"\n"
    assert data[:split.offset].count(b'"') % 2 == 0
    assert split.first_line == data[:split.offset].count(b"\n") + 1
    # A quote opened before the middle and never closed: no boundary, one reader.
    open_quote = _file(_rows(100) + ['q@acme-mail.com,"open'], _rows(100, start=100))
    job = services.create_import(fileobj=ContentFile(open_quote, name="o.csv"), filename="o.csv",
                                 user=None)
    assert staging._split_point(job) is None
    settings.IMPORT_SPLIT_MIN_BYTES = 10**12  # small files: one reader
    assert staging._split_point(job) is None


# --- a big XLSX file ------------------------------------------------------------------------------


def _workbook(rows: int = 600, *, broken_at: int | None = None, moved_row: int | None = None
              ) -> bytes:
    """A workbook as Excel writes it (shared strings, a date, numbers) with refused rows and a
    repeated email in both halves; optionally damaged XML at row `broken_at`, or row 20
    numbered `moved_row` (out of order)."""
    table: list[list] = [["email", "first_name", "company", "seats", "joined"]]
    for i in range(rows):
        email = "not-an-email" if i % 97 == 3 else f"p{i % 450}@acme-mail.com"
        table.append([email, f"Zoë {i}", f"Co {i % 5}", i, datetime(2024, 1, 1 + i % 28)])
    data = xlsx_bytes({"Sheet1": table})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read(SHEET)
    if broken_at is not None:
        sheet = sheet.replace(f'<row r="{broken_at}"'.encode(), f'<row r="{broken_at}"><c><bad'
                              .encode(), 1)
    if moved_row is not None:
        sheet = sheet.replace(b'<row r="20"', f'<row r="{moved_row}"'.encode(), 1)
    return with_part(data, SHEET, sheet)


def test_two_readers_stage_a_workbook_exactly_as_one_reader(
    settings, caplog, tenant, other_tenant, dns_server, committed
):
    one, two = _both_ways(settings, caplog, _workbook(), name="big.xlsx")
    assert _helper_ran(caplog)
    assert two.read_settings["file_format"] == "xlsx"
    assert one.status == two.status == ImportStatus.READY
    assert _staged(two) == _staged(one)
    assert (two.total_rows, two.invalid, two.duplicates_in_file) == (600, 7, 146)
    assert (two.invalid, two.duplicates_in_file) == (one.invalid, one.duplicates_in_file)
    assert list(two.row_errors.values_list("line", "reason")) == list(
        one.row_errors.values_list("line", "reason"))
    assert any(line > 301 for line, _reason in two.row_errors.values_list("line", "reason"))
    with in_schema(other_tenant):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                           "AND tablename LIKE 'imports_stage_%%'", [other_tenant.schema_name])
            assert cursor.fetchone() == (0,)


@pytest.mark.parametrize("where", ["first", "second"])
def test_a_workbook_damaged_in_either_half_gets_one_reader_s_message(
    settings, caplog, tenant, dns_server, committed, where
):
    one, two = _both_ways(settings, caplog, _workbook(broken_at=150 if where == "first" else 550),
                          name="big.xlsx")
    assert one.status == two.status == ImportStatus.FAILED
    assert two.error == one.error
    assert one.error.startswith("Row 150:" if where == "first" else "Row 550:")
    assert Contact.objects.count() == 0


def test_a_workbook_whose_rows_go_back_is_read_by_one_process(settings, caplog, tenant,
                                                             dns_server, committed):
    """Row 20 numbered 1000: one reader numbers the rows after it 1001, 1002 …, which the
    helper cannot know; its rows are thrown away and the file read again by one process."""
    one, two = _both_ways(settings, caplog, _workbook(moved_row=1000), name="big.xlsx")
    assert not _helper_ran(caplog)
    assert _staged(two) == _staged(one)
    assert max(row[0] for row in _staged(two)) == 1000 + 601 - 20
