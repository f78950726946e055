"""Workbooks built for tests: with openpyxl, or by rewriting a part of one (a sheet's raw XML,
a shared strings part)."""

from __future__ import annotations

import io
import zipfile

import openpyxl

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_bytes(sheets: dict[str, list[list]], formats: dict[str, str] | None = None) -> bytes:
    """A workbook written by openpyxl; `formats` gives number formats by cell ("B2")."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for ref, number_format in (formats or {}).items():
            sheet[ref].number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_part(workbook: bytes, name: str, content: bytes) -> bytes:
    """`workbook` with the zip member `name` replaced by (or added as) `content`."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info.filename))
        target.writestr(name, content)
    return out.getvalue()


def sheet_xml(rows_xml: str, dimension: str = "A1:B3", doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<worksheet xmlns="{SHEET_NS}">'
        f'<dimension ref="{dimension}"/><sheetData>{rows_xml}</sheetData></worksheet>'
    ).encode()


def text_cell(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def raw_sheet(rows_xml: str, **kwargs) -> bytes:
    base = xlsx_bytes({"Sheet1": [["x"]]})
    return with_part(base, "xl/worksheets/sheet1.xml", sheet_xml(rows_xml, **kwargs))


def with_shared_strings(rows_xml: str, strings_xml: str) -> bytes:
    """A workbook whose sheet uses a shared strings part, as Excel writes them."""
    data = raw_sheet(rows_xml)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        types = archive.read("[Content_Types].xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    types = types.replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    rels = rels.replace(
        b"</Relationships>",
        b'<Relationship Id="rId99" Target="sharedStrings.xml" Type="http://schemas.'
        b'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>',
    )
    data = with_part(data, "[Content_Types].xml", types)
    data = with_part(data, "xl/_rels/workbook.xml.rels", rels)
    strings = f'<?xml version="1.0"?><sst xmlns="{SHEET_NS}">{strings_xml}</sst>'
    return with_part(data, "xl/sharedStrings.xml", strings.encode())
