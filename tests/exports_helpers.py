"""Data and helpers shared by the tests/test_exports_*.py files."""

from __future__ import annotations

import io

import openpyxl

from contacts.models import Contact, ContactTag, Tag
from imports.exports.services import write_export
from tests.factories import ContactFactory, CustomFieldFactory

# One payload per trigger character, as OWASP lists them.
FORMULAS = ["=1+1", "+SUM(A1:A2)", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "\nLF",
            '=HYPERLINK("http://evil.example","x")']


def tag(contact: Contact, *names: str) -> None:
    for name in names:
        found = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
        ContactTag.objects.create(contact=contact, tag=found)


def make_fields():
    return {
        "plan": CustomFieldFactory(key="plan", label="Plan", field_type="text", position=1),
        "seats": CustomFieldFactory(key="seats", label="Seats", field_type="number", position=2),
        "renewal": CustomFieldFactory(key="renewal", label="Renewal", field_type="date",
                                      position=3),
        "vip": CustomFieldFactory(key="vip", label="VIP", field_type="boolean", position=4),
    }


def make_people() -> tuple[Contact, Contact]:
    """Two contacts with unicode, custom fields and tags; ann has the smaller id."""
    ann = ContactFactory(
        email="ann@acme-mail.com", first_name="Ann", last_name="Ångström", company="Acme, Inc.",
        job_title='CEO "boss"', phone="+33 1 23 45 67 89", website="https://acme.example",
        city="Zürich", country="Schweiz", status="active",
        custom_fields={"plan": "Gold", "seats": 12, "renewal": "2025-03-01", "vip": True},
    )
    bo = ContactFactory(
        email="bo@acme-mail.com", first_name="Bo", last_name="李", company="", job_title="",
        phone="-12.5", website="", city="", country="", status="unsubscribed",
        custom_fields={"seats": -3.5},
    )
    tag(ann, "vip", "Customer")
    return ann, bo


def export_bytes(columns: list[str], file_format: str, source: dict | None = None) -> bytes:
    out = io.BytesIO()
    write_export(out=out, source=source or {"kind": "all"}, columns=columns,
                 file_format=file_format)
    return out.getvalue()


def xlsx_rows(content: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [[cell.value for cell in row] for row in book.active.iter_rows()]


def xlsx_cells(content: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [cell for row in book.active.iter_rows() for cell in row]
