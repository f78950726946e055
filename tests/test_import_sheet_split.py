"""imports.readers.sheet_split: a big XLSX worksheet read in two parts (by two processes, see
imports.staging.load_stage). The two parts together must give exactly the rows one reader
gives, with the same numbers and width; where that cannot be proven from the XML, there is no
split, or the first part refuses to read (and the import reads the file with one process)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest

from imports.readers import (
    FileRejected,
    ReadSettings,
    iter_rows,
    iter_sheet_part,
    sheet_split,
    sniff,
)
from tests.workbooks import SHEET_NS, raw_sheet, text_cell, with_part, xlsx_bytes

SHEET = "xl/worksheets/sheet1.xml"


def _read_both_ways(data: bytes, **split_options):
    """(one reader's rows, the first part's, the second part's, the parts, the first part's
    report); the parts are None when there is no split."""
    settings = sniff(io.BytesIO(data), filename="book.xlsx").settings
    one = list(iter_rows(io.BytesIO(data), settings))
    parts = sheet_split(io.BytesIO(data), settings, min_bytes=split_options.get("min_bytes", 1))
    if parts is None:
        return one, None, None, None, None
    report: dict = {}
    first = list(iter_sheet_part(io.BytesIO(data), settings, parts[0], report=report))
    second = list(iter_sheet_part(io.BytesIO(data), settings, parts[1], width=report["width"]))
    return one, first, second, parts, report


def _sheet_of(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(SHEET)


def _row_after_middle(xml: bytes) -> int:
    return xml.index(b"<row", len(xml) // 2)


def _excel_book(rows: int = 400) -> bytes:
    """A workbook as openpyxl (like Excel) writes it: shared strings, a date style, numbers,
    booleans, empty cells, and rows left out (row numbers jump)."""
    table: list[list] = [["Email", "Name", "Joined", "Seats", "Paid"]]
    for i in range(rows):
        if i % 37 == 5:
            table.append([])  # a blank row: no <row> element at all
            continue
        table.append([f"p{i}@acme-mail.com", f"Name {i % 7}" if i % 11 else None,
                      datetime(2024, 1, 1 + i % 28), i if i % 13 else 2.5 * i, i % 2 == 0])
    return xlsx_bytes({"Sheet1": table})


def test_the_two_parts_read_exactly_the_rows_of_one_reader():
    data = _excel_book()
    one, first, second, parts, report = _read_both_ways(data)
    assert first and second
    assert first + second == one
    assert one[-1][1] == ["p399@acme-mail.com", "Name 0", "2024-01-08", "399", "FALSE"]
    xml = _sheet_of(data)
    assert parts[0].end == parts[1].start == _row_after_middle(xml)
    assert xml[parts[1].prologue:].startswith(b"<row")
    assert report == {"width": 5, "next_row": parts[1].first_row}
    assert second[0][0] == parts[1].first_row  # numbered as the sheet numbers them


def test_prefixed_markup_and_inline_strings_split_alike():
    rows = "".join(
        f'<x:row r="{r}"><x:c r="A{r}" t="inlineStr"><x:is><x:t>p{r}@x.com</x:t></x:is></x:c>'
        f'<x:c r="C{r}"><x:v>{r}</x:v></x:c></x:row>'
        for r in range(2, 300)
    )
    sheet = (f'<?xml version="1.0"?><x:worksheet xmlns:x="{SHEET_NS}"><x:sheetData>'
             '<x:row r="1"><x:c t="inlineStr"><x:is><x:t>Email</x:t></x:is></x:c>'
             '<x:c t="inlineStr"><x:is><x:t>Name</x:t></x:is></x:c>'
             '<x:c t="inlineStr"><x:is><x:t>Seats</x:t></x:is></x:c></x:row>'
             f"{rows}</x:sheetData></x:worksheet>").encode()
    data = with_part(xlsx_bytes({"Sheet1": [["x"]]}), SHEET, sheet)
    one, first, second, parts, _report = _read_both_ways(data)
    assert parts[0].closing == b"</x:sheetData></x:worksheet>"
    assert first + second == one
    assert second[-1] == (299, ["p299@x.com", "", "299"])


def _header_and_rows(count: int, *, numbered: bool = True) -> str:
    head = '<row r="1">' + text_cell("A1", "Email") + "</row>"
    return head + "".join(
        (f'<row r="{r}">' if numbered else "<row>") + text_cell(f"A{r}", f"p{r}@x.com") + "</row>"
        for r in range(2, count + 2)
    )


@pytest.mark.parametrize("case", ["small", "unnumbered rows", "utf-16", "row tag in a comment "
                                  "before the rows", "row tag in a comment in sheetData",
                                  "rows outside sheetData", "no header row known",
                                  "header after it"])
def test_no_split_where_one_cannot_be_proven_safe(case):
    settings = None
    if case == "unnumbered rows":  # the second reader could not number its rows
        data = raw_sheet(_header_and_rows(300, numbered=False))
    elif case == "utf-16":
        xml = (f'<?xml version="1.0" encoding="UTF-16"?><worksheet xmlns="{SHEET_NS}">'
               f"<sheetData>{_header_and_rows(300)}</sheetData></worksheet>")
        data = with_part(raw_sheet(""), SHEET, xml.encode("utf-16"))
    elif case.startswith("row tag in a comment") or case == "rows outside sheetData":
        xml = {
            "row tag in a comment before the rows": '<!-- <row r="2"> --><sheetData>{}'
                                                    "</sheetData>",
            "row tag in a comment in sheetData": '<sheetData><!-- <row r="2"> -->{}</sheetData>',
            "rows outside sheetData": "<extLst>{}</extLst>",
        }[case].format(_header_and_rows(300))
        xml = f'<worksheet xmlns="{SHEET_NS}">{xml}</worksheet>'
        data = with_part(raw_sheet(""), SHEET, xml.encode())
    else:
        data = raw_sheet(_header_and_rows(300))
        settings = sniff(io.BytesIO(data), filename="book.xlsx").settings
        if case == "no header row known":
            settings = ReadSettings("xlsx", sheet="Sheet1", header_row=None)
        elif case == "header after it":
            settings = ReadSettings("xlsx", sheet="Sheet1", header_row=250)
    settings = settings or sniff(io.BytesIO(data), filename="book.xlsx").settings
    if settings.header_row is not None:  # (stored settings always have one)
        assert len(list(iter_rows(io.BytesIO(data), settings))) > 50  # one reader reads it
    min_bytes = 10**9 if case == "small" else 1
    assert sheet_split(io.BytesIO(data), settings, min_bytes=min_bytes) is None


@pytest.mark.parametrize("trap", [b"<!-- <row r=\"7\"> -->",
                                  b'<row r="151"><c r="A151" t="inlineStr"><is><t><![CDATA['
                                  b'<row r="7">]]></t></is></c></row>'])
def test_a_split_inside_a_comment_or_cdata_is_refused_by_the_first_part(trap):
    """A "<row" that is not a tag (in a comment, in CDATA) can be taken for the split: the
    first part's closing tags then do not parse, and it refuses to read."""
    base = raw_sheet(_header_and_rows(300))
    xml = _sheet_of(base)
    at = _row_after_middle(xml)
    if b"CDATA" in trap:
        at = xml.index(b">", at) + 1  # inside a row, a cell before the split's "<row"
        trap = trap[trap.index(b"<c "):trap.index(b"</row>")]
    data = with_part(base, SHEET, xml[:at] + trap + xml[at:])
    settings = sniff(io.BytesIO(data), filename="book.xlsx").settings
    one = list(iter_rows(io.BytesIO(data), settings))
    assert len(one) == 300
    parts = sheet_split(io.BytesIO(data), settings, min_bytes=1)
    assert parts is not None and parts[1].first_row == 7  # taken in by the fake tag
    with pytest.raises(FileRejected):
        list(iter_sheet_part(io.BytesIO(data), settings, parts[0]))


def test_rows_out_of_order_before_the_split_show_in_the_report():
    """One reader renumbers a row whose number goes back; the report's next row then passes
    the split's first row, which tells imports.staging to read with one process."""
    xml = _sheet_of(raw_sheet(_header_and_rows(300)))
    early = xml.index(b'<row r="20">')
    late = xml.replace(b'<row r="20">', b'<row r="900">', 1)
    data = with_part(raw_sheet(""), SHEET, late)
    one, first, second, parts, report = _read_both_ways(data)
    assert early < parts[0].end  # the row moved is in the first part
    assert report["next_row"] > parts[1].first_row
    assert first + second != one  # what staging must not accept
