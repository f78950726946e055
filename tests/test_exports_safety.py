"""Spreadsheet safety (OWASP CSV injection): formula-like cells are neutralised in CSV and XLSX,
plain numbers stay numbers, and re-importing an export gives back the same contacts."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from contacts.models import Contact
from imports import services as import_services
from imports.exports.columns import default_column_keys
from imports.exports.safety import needs_protection, neutralise, neutralise_sql, unprotect
from imports.models import ImportStatus
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.exports_helpers import (
    FORMULAS,
    export_bytes,
    make_fields,
    tag,
    xlsx_cells,
    xlsx_rows,
)
from tests.factories import ContactFactory

TEXT_FIELDS = ["first_name", "last_name", "company", "job_title", "phone", "website", "city",
               "country"]
NUMBERS = ["-12.5", "+42", "-0", ".5", "1e5", "-1.5E-3", "12"]
QUOTED = {payload: "'" + payload for payload in FORMULAS}


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        *((payload, "'" + payload) for payload in FORMULAS),
        *((number, number) for number in NUMBERS),
        ("+33 1 23 45 67 89", "'+33 1 23 45 67 89"),  # a spreadsheet would compute it
        ("+1-555-0100", "'+1-555-0100"),
        ("-", "'-"),
        ("'=already quoted", "''=already quoted"),  # one more quote, so the import strips one
        ("''+x", "'''+x"),
        ("'plain", "'plain"),  # a quote before ordinary text is data, left alone
        ("plain = text", "plain = text"),
        ("", ""),
        ("Ångström", "Ångström"),
    ],
)
def test_neutralise_and_unprotect_are_inverses(tenant, value, written):
    assert neutralise(value) == written
    assert unprotect(written) == value
    with connection.cursor() as cursor:  # the SQL that COPY uses says the same
        cursor.execute(f"SELECT {neutralise_sql('v.x')} FROM (SELECT %s::text AS x) v", [value])
        assert cursor.fetchone()[0] == written


def test_unprotect_leaves_values_that_no_export_would_write_alone():
    assert unprotect("'plain") == "'plain"
    assert unprotect("'-12") == "'-12"
    assert unprotect("'") == "'"
    assert not needs_protection("12.5")


# --- in the files -----------------------------------------------------------------------------


@pytest.fixture
def hostile(tenant):
    """One contact whose every text field holds a formula payload; a second with numbers."""
    fields = make_fields()
    values = dict(zip(TEXT_FIELDS, FORMULAS, strict=False))
    hostile = ContactFactory(
        email="=eq@acme-mail.com", **values, source="=src",
        custom_fields={"plan": "=cmd|' /C calc'!A0", "seats": 3},
    )
    tag(hostile, "=evil", "vip")
    numbers = ContactFactory(
        email="+plus@acme-mail.com", first_name="-12.5", last_name="+42", company="1e5",
        phone="+33123456789", custom_fields={"plan": "-3", "seats": -7.25},
    )
    return hostile, numbers, fields


COLUMNS = ["email", *TEXT_FIELDS, "tags", "source", "validation_reason", "custom.plan",
           "custom.seats"]


def test_formula_payloads_are_neutralised_in_csv(hostile):
    rows = list(csv.reader(io.StringIO(export_bytes(COLUMNS, "csv").decode("utf-8-sig"))))

    assert rows[1] == [
        "'=eq@acme-mail.com", *(QUOTED[p] for p in FORMULAS), "'=evil, vip", "'=src", "",
        "'=cmd|' /C calc'!A0", "3",
    ]
    # Plain numbers stay numbers; a phone number without spaces is one too.
    assert rows[2] == ["'+plus@acme-mail.com", "-12.5", "+42", "1e5", "", "+33123456789", "",
                       "", "", "", "test", "", "-3", "-7.25"]
    for row in rows:
        for cell in row:
            assert not cell or cell[0] not in "=+@\t\r\n" or cell in ("+42", "+33123456789")


def test_formula_payloads_are_neutralised_in_xlsx_and_no_cell_is_a_formula(hostile):
    content = export_bytes(COLUMNS, "xlsx")
    rows = xlsx_rows(content)

    assert rows[1] == [
        "'=eq@acme-mail.com", *(QUOTED[p] for p in FORMULAS), "'=evil, vip", "'=src", None,
        "'=cmd|' /C calc'!A0", 3,
    ]
    assert rows[2] == ["'+plus@acme-mail.com", "-12.5", "+42", "1e5", None, "+33123456789",
                       None, None, None, None, "test", None, "-3", -7.25]
    cells = xlsx_cells(content)
    assert {cell.data_type for cell in cells} <= {"s", "n", "b"}  # never "f" (formula)
    assert b"<f>" not in content and b"<f " not in content


def test_error_report_neutralises_formula_cells(tenant, dns_server):
    text = "email,first_name\nnot-an-email,=1+1\n@bad,+SUM(A1)\n"
    job = import_services.create_import(
        fileobj=ContentFile(text.encode(), name="x.csv"), filename="x.csv", user=None
    )
    job = import_services.analyse_import(job=job)
    out = io.StringIO()

    import_services.write_error_report(job=job, out=out)

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [row[:2] for row in rows] == [
        ["email", "first_name"], ["not-an-email", "'=1+1"], ["'@bad", "'+SUM(A1)"],
    ]


# --- round trip -------------------------------------------------------------------------------


def snapshot() -> list[tuple]:
    return sorted(
        (c.email, *(getattr(c, f) for f in TEXT_FIELDS), c.custom_fields,
         sorted(t.name for t in c.tags.all()))
        for c in Contact.objects.prefetch_related("tags")
    )


def reimport(content: bytes, name: str):
    job = import_services.create_import(fileobj=ContentFile(content, name=name), filename=name,
                                        user=None)
    job = import_services.analyse_import(job=job)
    return import_services.start_import(job=job, user=None)


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_reimporting_an_export_gives_back_the_same_contacts(hostile, dns_server, file_format):
    before = snapshot()
    content = export_bytes(default_column_keys(), file_format)
    Contact.objects.all().delete()

    job = reimport(content, f"export.{file_format}")

    assert (job.status, job.created, job.invalid) == (ImportStatus.FINISHED, 2, 0)
    assert snapshot() == before
    assert Contact.objects.get(email="=eq@acme-mail.com").custom_fields == {
        "plan": "=cmd|' /C calc'!A0", "seats": 3,
    }
