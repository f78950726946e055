"""imports.readers: sniffing and streaming CSV, XLSX and XLS files, hostile ones included.
Files are built inside each test (XLSX with openpyxl, or by rewriting a part of one); the one
.xls fixture is committed (tests/fixtures/imports/make_xls.py explains how it was made)."""

from __future__ import annotations

import codecs
import io
import struct
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from django.core.files import File
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from imports import readers
from imports.readers import FileRejected, ReadSettings, iter_rows, sniff
from tests.workbooks import (
    SHEET_NS,
    raw_sheet,
    sheet_xml,
    text_cell,
    with_part,
    with_shared_strings,
    xlsx_bytes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
NOT_A_TABLE = "This file is not a CSV or Excel file. Upload a .csv, .tsv, .txt, .xlsx or .xls file."


def read(data: bytes, filename: str = "contacts.csv", settings: ReadSettings | None = None):
    """(sniff result, every data row) of `data`."""
    result = sniff(io.BytesIO(data), filename=filename, settings=settings)
    return result, list(iter_rows(io.BytesIO(data), result.settings))


def rejected(data: bytes, filename: str = "contacts.csv", settings=None) -> str:
    with pytest.raises(FileRejected) as caught:
        read(data, filename, settings)
    return str(caught.value)


def csv_settings(**overrides) -> ReadSettings:
    return ReadSettings(file_format="csv", **overrides)


LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


# --- settings ---------------------------------------------------------------------------------


def test_read_settings_round_trip_through_dict():
    settings = ReadSettings("csv", "cp1252", ";", "'", 2, "")
    assert ReadSettings.from_dict(settings.as_dict()) == settings
    assert settings.as_dict() == {
        "file_format": "csv",
        "encoding": "cp1252",
        "delimiter": ";",
        "quotechar": "'",
        "header_row": 2,
        "sheet": "",
    }


def test_read_settings_from_dict_ignores_unknown_keys_and_coerces_header_row():
    settings = ReadSettings.from_dict({"file_format": "xlsx", "header_row": "3", "extra": 1})
    assert settings == ReadSettings("xlsx", header_row=3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"file_format": "pdf"}, 'Unknown file format "pdf".'),
        ({"file_format": "csv", "encoding": "klingon"}, 'Unknown encoding "klingon".'),
        ({"file_format": "csv", "encoding": "rot13"}, 'Unknown encoding "rot13".'),
        ({"file_format": "csv", "delimiter": ";;"}, "The delimiter must be a single character."),
        ({"file_format": "csv", "delimiter": "\n"}, "The delimiter must be a single character."),
        (
            {"file_format": "csv", "quotechar": ","},
            "The quote character must be a single character other than the delimiter.",
        ),
        (
            {"file_format": "csv", "header_row": -1},
            "The header row must be a row number, or 0 for none.",
        ),
        (
            {"file_format": "csv", "header_row": "two"},
            "The header row must be a row number, or 0 for none.",
        ),
    ],
)
def test_read_settings_from_dict_refuses_bad_values(data, message):
    with pytest.raises(FileRejected) as caught:
        ReadSettings.from_dict(data)
    assert str(caught.value) == message


# --- encodings ----------------------------------------------------------------------------------

CONTACTS = "Email,Name\nzoe@example.com,Zoë Ærø\nbob@example.com,Bob\n"
EXPECTED_ROWS = [(2, ["zoe@example.com", "Zoë Ærø"]), (3, ["bob@example.com", "Bob"])]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (CONTACTS.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + CONTACTS.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + CONTACTS.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + CONTACTS.encode("utf-16-be"), "utf-16"),
        (CONTACTS.encode("utf-16-le"), "utf-16-le"),
        (CONTACTS.encode("utf-16-be"), "utf-16-be"),
    ],
)
def test_sniff_unicode_encodings_read_exactly(data, encoding):
    result, rows = read(data)
    assert result.settings.encoding == encoding
    assert result.headers == ["Email", "Name"]
    assert result.warnings == []
    assert rows == EXPECTED_ROWS


def test_sniff_windows_1252_file_falls_back_with_warning():
    result, rows = read("Email,Name\nzoe@example.com,Zoë “Z” €\n".encode("cp1252"))
    assert result.settings.encoding == "cp1252"
    assert result.warnings == ["This file is not valid UTF-8; it was read as Windows-1252."]
    assert rows == [(2, ["zoe@example.com", "Zoë “Z” €"])]


def test_sniff_latin1_when_bytes_undefined_in_windows_1252():
    data = b"Email,Name\nzoe@example.com,Zo\xeb\x81\n"  # 0x81 has no Windows-1252 character
    result, rows = read(data)
    assert result.settings.encoding == "latin-1"
    assert result.warnings == ["This file is not valid UTF-8; it was read as Latin-1."]
    assert rows == [(2, ["zoe@example.com", "Zoë\x81"])]


def big_ascii_csv(rows: int) -> bytes:
    lines = [f"person{i}@example.com,Name {i}" for i in range(rows)]
    return ("Email,Name\n" + "\n".join(lines) + "\n").encode()


def test_sniff_finds_invalid_utf8_in_the_middle_of_a_big_file():
    data = big_ascii_csv(100_000)  # ≈ 3 MB: far past the sniff sample and one read chunk
    middle = data.index(b"person60000@")
    data = data[:middle] + "zoë".encode("cp1252") + data[middle:]
    result = sniff(io.BytesIO(data), filename="big.csv")
    assert len(data) > 2 * readers.CHUNK_BYTES
    assert result.settings.encoding == "cp1252"
    assert result.warnings == ["This file is not valid UTF-8; it was read as Windows-1252."]
    rows = dict(iter_rows(io.BytesIO(data), result.settings))
    assert rows[60002] == ["zoëperson60000@example.com", "Name 60000"]


def test_sniff_utf8_character_split_across_read_chunks_is_valid():
    prefix = b"Email,Name\n" + b"a" * (readers.CHUNK_BYTES - 12) + b",x\n"
    data = prefix[: readers.CHUNK_BYTES - 1] + "é".encode() + prefix[readers.CHUNK_BYTES - 1 :]
    assert data[readers.CHUNK_BYTES - 1 : readers.CHUNK_BYTES + 1] == "é".encode()
    result = sniff(io.BytesIO(data), filename="split.csv")
    assert result.settings.encoding == "utf-8"
    assert result.warnings == []


def test_sniff_user_encoding_that_does_not_fit_is_refused():
    data = "Email,Name\nzoe@example.com,Zoë\n".encode("cp1252")
    message = rejected(data, settings=csv_settings(encoding="utf-8"))
    assert message == "This file is not valid UTF-8 (at byte 29). Choose another encoding."


def test_sniff_user_encoding_override_is_used():
    data = "Email,Name\nzoe@example.com,Zoë\n".encode("cp1252")
    result, rows = read(data, settings=csv_settings(encoding="latin-1"))
    assert result.settings.encoding == "latin-1"
    assert rows == [(2, ["zoe@example.com", "Zoë"])]


def test_iter_rows_with_wrong_encoding_is_refused():
    data = "Email,Name\nzoe@example.com,Zoë\n".encode("cp1252")
    with pytest.raises(FileRejected) as caught:
        list(iter_rows(io.BytesIO(data), csv_settings(encoding="utf-8")))
    assert str(caught.value) == "This file is not valid UTF-8. Choose another encoding."


# --- delimiters, quotes, header row ---------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_sniff_detects_delimiter(delimiter):
    text = "\n".join(
        delimiter.join(row)
        for row in [
            ["Email", "First", "Company"],
            ["a@x.com", "Ann", "Acme, Inc"],
            ["b@x.com", "Bob", "Beta; Co"],
            ["c@x.com", "Cy", "Gamma | Ltd"],
        ]
    )
    if delimiter == ",":
        text = text.replace("Acme, Inc", '"Acme, Inc"')
    if delimiter == ";":
        text = text.replace("Beta; Co", '"Beta; Co"')
    if delimiter == "|":
        text = text.replace("Gamma | Ltd", '"Gamma | Ltd"')
    result, rows = read(text.encode())
    assert result.settings.delimiter == delimiter
    assert result.headers == ["Email", "First", "Company"]
    assert rows == [
        (2, ["a@x.com", "Ann", "Acme, Inc"]),
        (3, ["b@x.com", "Bob", "Beta; Co"]),
        (4, ["c@x.com", "Cy", "Gamma | Ltd"]),
    ]


def test_sniff_semicolon_file_with_decimal_commas():
    result, rows = read(b"Email;Score\na@x.com;1,5\nb@x.com;2,75\n")
    assert result.settings.delimiter == ";"
    assert rows == [(2, ["a@x.com", "1,5"]), (3, ["b@x.com", "2,75"])]


def test_sniff_one_column_file_when_sniffer_gives_up():
    result, rows = read(b"email\nann@example.com\nbob@example.com\n")
    assert (result.settings.delimiter, result.headers) == (",", ["email"])
    assert rows == [(2, ["ann@example.com"]), (3, ["bob@example.com"])]


def test_sniff_single_quote_character():
    result, rows = read(b"'Email';'Company'\n'a@x.com';'Acme; Inc'\n'b@x.com';'Beta'\n")
    assert (result.settings.delimiter, result.settings.quotechar) == (";", "'")
    assert rows == [(2, ["a@x.com", "Acme; Inc"]), (3, ["b@x.com", "Beta"])]


def test_sniff_header_is_first_non_blank_row():
    result, rows = read(b"\n\nEmail,Name\na@x.com,Ann\n")
    assert result.settings.header_row == 3
    assert result.headers == ["Email", "Name"]
    assert rows == [(4, ["a@x.com", "Ann"])]


def test_sniff_user_header_row_skips_title_lines():
    data = b"Contacts exported 2024-05-01\nEmail,Name\na@x.com,Ann\n"
    result, rows = read(data, settings=csv_settings(header_row=2))
    assert result.headers == ["Email", "Name"]
    assert result.preview == [["a@x.com", "Ann"]]
    assert rows == [(3, ["a@x.com", "Ann"])]


def test_sniff_no_header_row_names_columns():
    result, rows = read(b"a@x.com,Ann\nb@x.com,Bob,Extra\n", settings=csv_settings(header_row=0))
    assert result.headers == ["Column 1", "Column 2", "Column 3"]
    assert result.preview == [["a@x.com", "Ann", ""], ["b@x.com", "Bob", "Extra"]]
    assert rows == [(1, ["a@x.com", "Ann"]), (2, ["b@x.com", "Bob", "Extra"])]


def test_sniff_user_header_row_that_is_blank_is_refused():
    message = rejected(b"Email\n\na@x.com\n", settings=csv_settings(header_row=2))
    assert message == "Row 2 is blank; choose the row that holds the column names."


def test_sniff_user_header_row_past_the_end_is_refused():
    message = rejected(b"Email\na@x.com\n", settings=csv_settings(header_row=9))
    assert message == "The file has no row 9; choose another header row."


def test_sniff_preview_is_first_ten_rows_fitted_to_headers():
    lines = ["Email,Name"] + [f"p{i}@x.com,N{i}" for i in range(12)]
    lines[3] = "p2@x.com"  # short
    lines[4] = "p3@x.com,N3,extra"  # long
    result = sniff(io.BytesIO("\n".join(lines).encode()), filename="x.csv")
    assert len(result.preview) == 10
    assert result.preview[2] == ["p2@x.com", ""]
    assert result.preview[3] == ["p3@x.com", "N3"]
    assert result.preview[9] == ["p9@x.com", "N9"]


# --- hostile CSV ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\n\n\r\n", b",,,\n,,\n", codecs.BOM_UTF8])
def test_sniff_empty_file_is_refused(data):
    assert rejected(data) == "The file is empty."


@pytest.mark.parametrize("data", [b"Email,Name\n", b"Email,Name", b"Email,Name\n\n,\n\n"])
def test_sniff_header_only_is_refused(data):
    assert rejected(data) == "The file has a header row but no data rows."


def test_sniff_duplicate_and_empty_headers_are_renamed_with_warning():
    result, rows = read(b"Email,email,,Name,Email, Email (2)\n1,2,3,4,5,6\n")
    assert result.headers == ["Email", "email (3)", "Column 3", "Name", "Email (4)", "Email (2)"]
    assert result.warnings == [
        "Column names that appear more than once were numbered: email (3), Email (4)."
    ]
    assert rows == [(2, ["1", "2", "3", "4", "5", "6"])]


def test_iter_rows_yields_ragged_rows_as_they_are():
    result, rows = read(b"Email,Name\na@x.com,Ann,extra\nb@x.com\nc@x.com,Cy\n")
    assert rows == [(2, ["a@x.com", "Ann", "extra"]), (3, ["b@x.com"]), (4, ["c@x.com", "Cy"])]


def test_iter_rows_skips_blank_lines_but_counts_them():
    result, rows = read(b"Email\n\na@x.com\n\n  \n,\nb@x.com\n")
    assert rows == [(3, ["a@x.com"]), (5, ["  "]), (7, ["b@x.com"])]


def test_iter_rows_counts_records_not_physical_lines():
    result, rows = read(b'Email,Note\na@x.com,"line one\nline two"\nb@x.com,ok\n')
    assert rows == [(2, ["a@x.com", "line one\nline two"]), (3, ["b@x.com", "ok"])]


def test_iter_rows_reads_crlf_and_cr_line_endings():
    assert read(b"Email\r\na@x.com\r\nb@x.com\r\n")[1] == [(2, ["a@x.com"]), (3, ["b@x.com"])]
    assert read(b"Email\ra@x.com\rb@x.com")[1] == [(2, ["a@x.com"]), (3, ["b@x.com"])]


UNCLOSED = "Line 7: a quoted value is never closed. Check the quotes on this line, or choose another quote character."  # noqa: E501


def test_sniff_unmatched_quote_names_the_line():
    lines = (
        ["Email,Name"] + [f"p{i}@x.com,N{i}" for i in range(5)] + ['p5@x.com,"N5', "p6@x.com,N6"]
    )
    assert rejected("\n".join(lines).encode()) == UNCLOSED


def test_iter_rows_unmatched_quote_past_the_preview_names_the_line():
    lines = ["Email,Name"] + [f"p{i}@x.com,N{i}" for i in range(20)] + ['p20@x.com,"N20']
    data = "\n".join(lines + ["p21@x.com,N21"]).encode()
    result = sniff(io.BytesIO(data), filename="x.csv")
    seen = []
    with pytest.raises(FileRejected) as caught:
        for line, _cells in iter_rows(io.BytesIO(data), result.settings):
            seen.append(line)
    assert seen == list(range(2, 22))
    assert str(caught.value) == UNCLOSED.replace("Line 7", "Line 22")


def test_iter_rows_text_after_closing_quote_names_the_line():
    message = rejected(b'Email,Company\na@x.com,Acme\nb@x.com,"Beta" Inc\n')
    assert message == (
        "Line 3: a quoted value is followed by other characters before the next delimiter. "
        "Quote the whole value, or choose another quote character."
    )


def test_iter_rows_reads_a_one_megabyte_cell():
    note = "x" * 1_000_000
    result, rows = read(f'Email,Note\na@x.com,"{note}"\nb@x.com,short\n'.encode())
    assert rows == [(2, ["a@x.com", note]), (3, ["b@x.com", "short"])]


def test_iter_rows_passes_nul_bytes_through():
    # A few NUL bytes (< 1% of the sample) are data, not a sign of a binary file; they reach
    # the pipeline unchanged, which refuses such rows.
    data = big_ascii_csv(50).replace(b"person3@example.com,Name 3", b"person3@example.com,Ann\0Lee")
    result, rows = read(data)
    assert result.settings.encoding == "utf-8"
    assert dict(rows)[5] == ["person3@example.com", "Ann\x00Lee"]


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        bytes(range(256)) * 4,  # > 1% NUL bytes, not UTF-16
        b"email,name\n" + b"\x01\x02\x03\x04\x05\x06" * 10,  # control characters
        b"<!DOCTYPE html><html><body><table><tr><td>a</td></tr></table></body></html>",
    ],
)
def test_sniff_binary_or_markup_file_is_refused(data):
    assert rejected(data) == NOT_A_TABLE


def test_sniff_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert rejected(out.getvalue(), filename="contacts.csv") == NOT_A_TABLE


def test_sniff_ole_file_that_is_not_a_workbook_is_refused():
    message = rejected(readers.OLE_MAGIC + b"\0" * 600, filename="contacts.xls")
    assert message == (
        "This Excel file could not be read: it may be password-protected or damaged. "
        "Save it as .xlsx or .csv and upload it again."
    )


def test_sniff_column_limit(settings):
    settings.IMPORT_MAX_COLUMNS = 1000
    header = ",".join(f"c{i}" for i in range(1000)).encode()
    result, rows = read(header + b"\n" + b",".join([b"v"] * 1000) + b"\n")
    assert len(result.headers) == 1000 and result.headers[999] == "c999"
    assert rows == [(2, ["v"] * 1000)]
    message = rejected(header + b",c1000\n" + b"v\n")
    assert message == "The file has 1,001 columns; at most 1,000 can be read."


def test_iter_rows_row_wider_than_column_limit_is_refused(settings):
    settings.IMPORT_MAX_COLUMNS = 3
    message = rejected(b"a,b,c\n1,2,3\n1,2,3,4\n", settings=csv_settings(header_row=1))
    assert message == "Line 3: the row has 4 cells; at most 3 columns can be read."


def test_iter_rows_row_limit(settings):
    settings.IMPORT_MAX_ROWS = 3
    data = b"Email\na@x.com\n\nb@x.com\nc@x.com\n"
    assert read(data)[1] == [(2, ["a@x.com"]), (4, ["b@x.com"]), (5, ["c@x.com"])]
    with pytest.raises(FileRejected) as caught:
        list(iter_rows(io.BytesIO(data + b"d@x.com\n"), csv_settings()))
    assert str(caught.value) == "The file has more than 3 data rows; split it into smaller files."


def test_iter_rows_leaves_a_django_file_open_and_usable(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"Email\na@x.com\nb@x.com\n")
    with path.open("rb") as handle:
        stored = File(handle, name="contacts.csv")
        result = sniff(stored, filename="contacts.csv")
        assert list(iter_rows(stored, result.settings)) == [(2, ["a@x.com"]), (3, ["b@x.com"])]
        partial = iter_rows(stored, result.settings)
        next(partial)
        partial.close()  # abandoned half-way, as a cancelled import does
        assert not handle.closed
        stored.seek(0)
        assert stored.read(5) == b"Email"


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_values_become_text():
    data = xlsx_bytes(
        {
            "Contacts": [
                ["Email", "Joined", "Seen", "Score", "Ratio", "Active", "Phone", "Empty"],
                [
                    "ann@x.com",
                    45366,
                    datetime(2024, 3, 15, 13, 45),
                    42,
                    0.25,
                    True,
                    4915112345678.0,
                    None,
                ],
                ["bob@x.com", None, datetime(2024, 3, 15), 7.0, -1.5, False, "+49 151", None],
            ]
        },
        formats={"B2": "yyyy-mm-dd"},
    )
    result, rows = read(data, filename="contacts.xlsx")
    assert result.settings == ReadSettings("xlsx", header_row=1, sheet="Contacts")
    assert result.sheets == ["Contacts"]
    assert result.headers == [
        "Email",
        "Joined",
        "Seen",
        "Score",
        "Ratio",
        "Active",
        "Phone",
        "Empty",
    ]
    assert rows == [
        (
            2,
            [
                "ann@x.com",
                "2024-03-15",
                "2024-03-15T13:45:00",
                "42",
                "0.25",
                "TRUE",
                "4915112345678",
                "",
            ],
        ),
        (3, ["bob@x.com", "", "2024-03-15", "7", "-1.5", "FALSE", "+49 151", ""]),
    ]


def test_xlsx_named_csv_is_read_as_workbook():
    data = xlsx_bytes({"Sheet": [["Email"], ["a@x.com"]]})
    result, rows = read(data, filename="contacts.csv")
    assert result.settings.file_format == "xlsx"
    assert result.warnings == [
        'This file is named ".csv" but is an Excel workbook; it was read as one.'
    ]
    assert rows == [(2, ["a@x.com"])]


def test_xlsx_default_sheet_is_first_with_data_and_choice_is_honoured():
    data = xlsx_bytes(
        {
            "Notes": [],
            "Contacts": [["Email"], ["a@x.com"]],
            "Old": [["Mail"], ["old@x.com"], ["older@x.com"]],
        }
    )
    result, rows = read(data, filename="book.xlsx")
    assert (result.sheets, result.settings.sheet) == (["Notes", "Contacts", "Old"], "Contacts")
    assert rows == [(2, ["a@x.com"])]
    chosen = ReadSettings("xlsx", sheet="Old")
    result, rows = read(data, filename="book.xlsx", settings=chosen)
    assert result.headers == ["Mail"]
    assert rows == [(2, ["old@x.com"]), (3, ["older@x.com"])]
    missing = ReadSettings("xlsx", sheet="Gone")
    assert rejected(data, "book.xlsx", missing) == 'The workbook has no sheet named "Gone".'


def test_xlsx_without_data_is_empty():
    data = xlsx_bytes({"One": [], "Two": [[None, ""]]})
    assert rejected(data, filename="book.xlsx") == "The file is empty."


def test_xlsx_header_only_is_refused():
    data = xlsx_bytes({"Sheet": [["Email", "Name"]]})
    assert rejected(data, filename="book.xlsx") == "The file has a header row but no data rows."


def test_xlsx_rows_are_padded_to_the_table_width_and_blank_rows_skipped():
    data = xlsx_bytes(
        {
            "Sheet": [
                ["Email", "Name", None],
                ["a@x.com"],
                [],
                ["b@x.com", "Bob", None, "note"],
            ]
        }
    )
    result, rows = read(data, filename="book.xlsx")
    assert result.headers == ["Email", "Name", "Column 3", "Column 4"]
    assert result.preview == [["a@x.com", "", "", ""], ["b@x.com", "Bob", "", "note"]]
    assert rows == [(2, ["a@x.com", "", "", ""]), (4, ["b@x.com", "Bob", "", "note"])]


def test_xlsx_formula_cells_give_their_cached_values():
    data = raw_sheet(
        '<row r="1">' + text_cell("A1", "Email") + text_cell("B1", "Score") + "</row>"
        '<row r="2"><c r="A2" t="str"><f>LOWER("ANN@X.COM")</f><v>ann@x.com</v></c>'
        '<c r="B2"><f>21*2</f><v>42</v></c><c r="C2" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        '<c r="D2"><f>A1</f></c></row>'
    )
    result, rows = read(data, filename="book.xlsx")
    assert result.headers == ["Email", "Score", "Column 3"]
    assert rows == [(2, ["ann@x.com", "42", "#DIV/0!"])]


def test_xlsx_shared_strings_rich_text_and_phonetic_runs():
    strings = (
        "<si><t>Email</t></si><si><t>Name</t></si><si><t>ann@x.com</t></si>"
        '<si><r><rPr><b/></rPr><t>Ann </t></r><r><t xml:space="preserve">Lee &amp; Co</t></r></si>'
        '<si><t>山田</t><rPh sb="0" eb="2"><t>ヤマダ</t></rPh></si>'
    )
    rows_xml = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>'
        '<row r="3"><c r="A3" t="s"><v>2</v></c><c r="B3" t="s"><v>4</v></c></row>'
    )
    result, rows = read(with_shared_strings(rows_xml, strings), filename="book.xlsx")
    assert result.headers == ["Email", "Name"]
    assert rows == [(2, ["ann@x.com", "Ann Lee & Co"]), (3, ["ann@x.com", "山田"])]


def test_xlsx_shared_string_index_out_of_range_is_damaged():
    rows_xml = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>9</v></c></row>'
    )
    data = with_shared_strings(rows_xml, "<si><t>Email</t></si>")
    assert rejected(data, filename="book.xlsx") == (
        "Row 2: This Excel file is damaged and could not be read. Save it again and re-upload it."
    )


def test_xlsx_prefixed_markup_and_cells_without_references():
    ns = f'xmlns:x="{SHEET_NS}"'
    sheet = (
        f'<?xml version="1.0"?><x:worksheet {ns}><x:sheetData>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>Email</x:t></x:is></x:c>'
        '<x:c t="inlineStr"><x:is><x:t>Paid</x:t></x:is></x:c></x:row>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>a@x.com</x:t></x:is></x:c>'
        '<x:c t="b"><x:v>1</x:v></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )
    base = xlsx_bytes({"Sheet1": [["x"]]})
    data = with_part(base, "xl/worksheets/sheet1.xml", sheet.encode())
    result, rows = read(data, filename="book.xlsx")
    assert result.headers == ["Email", "Paid"]
    assert rows == [(2, ["a@x.com", "TRUE"])]


def test_xlsx_1904_date_system():
    book = openpyxl.Workbook()
    book.epoch = CALENDAR_MAC_1904
    book.active.append(["Email", "Joined"])
    book.active.append(["a@x.com", datetime(2024, 3, 15)])
    out = io.BytesIO()
    book.save(out)
    assert read(out.getvalue(), filename="book.xlsx")[1] == [(2, ["a@x.com", "2024-03-15"])]


def test_xlsx_declaring_a_million_rows_streams_only_real_rows():
    data = raw_sheet(
        '<row r="1">' + text_cell("A1", "Email") + "</row>"
        '<row r="2">' + text_cell("A2", "a@x.com") + "</row>"
        '<row r="4">' + text_cell("A4", "b@x.com") + "</row>",
        dimension="A1:XFD1048576",
    )
    result, rows = read(data, filename="book.xlsx")
    assert result.headers == ["Email"]
    assert rows == [(2, ["a@x.com"]), (4, ["b@x.com"])]
    # The declared size is neither padded into empty rows nor into 16,384-cell rows.
    records = list(readers._sheet_records(io.BytesIO(data), result.settings))
    assert records == [["Email"], ["a@x.com"], [], ["b@x.com"]]


def test_xlsx_with_xml_entities_in_a_sheet_is_refused():
    data = raw_sheet('<row r="1">' + text_cell("A1", "&lol3;") + "</row>", doctype=LAUGHS)
    assert rejected(data, filename="book.xlsx") == (
        "This Excel file declares XML entities, which are refused for safety."
    )


def test_xlsx_with_xml_entities_in_workbook_part_is_refused():
    base = xlsx_bytes({"Sheet": [["Email"], ["a@x.com"]]})
    with zipfile.ZipFile(io.BytesIO(base)) as archive:
        workbook = archive.read("xl/workbook.xml")
    data = with_part(base, "xl/workbook.xml", LAUGHS.encode() + workbook)
    assert rejected(data, filename="book.xlsx") == (
        "This Excel file declares XML entities, which are refused for safety."
    )


ZIP_BOMB = "This Excel file would unpack to a suspicious size (a zip bomb); it was refused."


def test_xlsx_zip_bomb_by_ratio_is_refused():
    padding = b" " * (readers.RATIO_MIN_BYTES + 1024)  # deflates about 1000:1
    data = raw_sheet('<row r="1">' + text_cell("A1", "x") + "</row>")
    data = with_part(data, "xl/worksheets/sheet1.xml", sheet_xml("") + padding)
    assert rejected(data, filename="book.xlsx") == ZIP_BOMB


def test_xlsx_zip_bomb_by_total_size_is_refused():
    data = bytearray(xlsx_bytes({"Sheet": [["Email"], ["a@x.com"]]}))
    entry = data.index(b"PK\x01\x02")  # first central directory entry: declare 3 GB unpacked
    data[entry + 24 : entry + 28] = struct.pack("<I", 3_000_000_000)
    assert rejected(bytes(data), filename="book.xlsx") == ZIP_BOMB


def test_xlsx_damaged_is_refused():
    data = xlsx_bytes({"Sheet": [["Email"], ["a@x.com"]]})
    data = with_part(data, "xl/workbook.xml", b"<workbook")
    assert rejected(data, filename="book.xlsx") == (
        "This Excel file is damaged and could not be read. Save it again and re-upload it."
    )


def test_xlsx_sheet_with_broken_xml_mid_file_names_the_row():
    rows_xml = (
        '<row r="1">'
        + text_cell("A1", "Email")
        + "</row>"
        + "".join(
            f'<row r="{r}">' + text_cell(f"A{r}", f"p{r}@x.com") + "</row>" for r in range(2, 30)
        )
    )
    data = raw_sheet(rows_xml + "<row><c><broken></row>")
    settings = ReadSettings("xlsx", sheet="Sheet1")
    lines = []
    with pytest.raises(FileRejected) as caught:
        for line, _cells in iter_rows(io.BytesIO(data), settings):
            lines.append(line)
    assert lines == list(range(2, 30))
    assert str(caught.value) == (
        "Row 30: This Excel file is damaged and could not be read. Save it again and re-upload it."
    )


# --- XLS -------------------------------------------------------------------------------------


def test_xls_fixture_is_read():
    result, rows = read((FIXTURES / "contacts.xls").read_bytes(), filename="contacts.xls")
    assert result.settings == ReadSettings("xls", header_row=1, sheet="Contacts")
    assert result.sheets == ["Notes", "Contacts"]
    assert result.headers == [
        "Email",
        "Name",
        "Joined",
        "Seen",
        "Score",
        "Ratio",
        "Active",
        "Phone",
    ]
    assert rows == [
        (
            2,
            [
                "ann@example.com",
                "Ann",
                "2024-03-15",
                "2024-03-15T13:45:00",
                "42",
                "0.25",
                "TRUE",
                "4915112345678",
            ],
        ),
        (4, ["bob@example.com", "Bob", "", "", "7", "", "FALSE", ""]),
    ]


def test_xls_missing_sheet_is_refused():
    data = (FIXTURES / "contacts.xls").read_bytes()
    message = rejected(data, "contacts.xls", ReadSettings("xls", sheet="Nope"))
    assert message == 'The workbook has no sheet named "Nope".'
