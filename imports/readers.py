"""Reading contact files: CSV/TSV/TXT in the common encodings and delimiters, XLSX and XLS.

`sniff` works out how to read a file (format, encoding, delimiter, quote character, header row,
sheet) and returns its headers and a preview; `iter_rows` streams its data rows with flat
memory whatever the file size. Both raise FileRejected, whose text is shown to the user as is.

The format comes from the file's first bytes, never from its name: a `.csv` that is really a
workbook is read as one, and a picture named `.csv` is refused.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import io
import posixpath
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time
from itertools import chain, islice
from pathlib import PurePath
from typing import BinaryIO
from xml.parsers import expat

import xlrd
from django.conf import settings as django_settings
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

FORMATS = ("csv", "xlsx", "xls")
DELIMITERS = {",": "Comma", ";": "Semicolon", "\t": "Tab", "|": "Pipe"}
ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "utf-32": "UTF-32",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
}
PREVIEW_ROWS = 10
HEAD_BYTES = 64 * 1024  # what delimiter and binary detection look at
CHUNK_BYTES = 1024 * 1024  # the whole-file encoding check reads this much at a time
SNIFF_LINES = 50
FIELD_LIMIT = 64 * 1024 * 1024
# A workbook is refused before parsing when it would unpack to more than this, or when one
# part unpacks to more than RATIO_MIN_BYTES at a ratio above MAX_RATIO (real sheets compress
# 5–30:1; deflate bombs reach 1000:1).
MAX_UNPACKED_BYTES = 2 * 1024**3
MAX_RATIO = 100
RATIO_MIN_BYTES = 10 * 1024 * 1024
SPREADSHEET_PEEK_ROWS = 1000
XML_CHUNK_BYTES = 64 * 1024  # a sheet is parsed this much at a time, its rows handed on
MAX_SHEET_ROWS, MAX_SHEET_COLUMNS = 1_048_576, 16_384  # Excel's own limits
# Number formats 27–36 and 50–58 are dates in East Asian locales; openpyxl does not list them.
CJK_DATE_FORMATS = frozenset(range(27, 37)) | frozenset(range(50, 59))

EMPTY = "The file is empty."
NO_DATA = "The file has a header row but no data rows."
NOT_A_TABLE = "This file is not a CSV or Excel file. Upload a .csv, .tsv, .txt, .xlsx or .xls file."
ZIP_BOMB = "This Excel file would unpack to a suspicious size (a zip bomb); it was refused."
XML_ENTITIES = "This Excel file declares XML entities, which are refused for safety."
DAMAGED_XLSX = "This Excel file is damaged and could not be read. Save it again and re-upload it."
DAMAGED_XLS = (
    "This Excel file could not be read: it may be password-protected or damaged. "
    "Save it as .xlsx or .csv and upload it again."
)
FALLBACK_NOTE = "This file is not valid UTF-8; it was read as {}."

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Common binary files people pick by mistake (PNG, JPEG, GIF, PDF, gzip, 7z, RAR, bzip2).
BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"%PDF",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
    b"BZh",
)
MARKUP_STARTS = ("<!doctype html", "<html", "<?xml")
TEXT_EXTENSIONS = {".csv", ".tsv", ".txt", ""}
# C0 control characters that never appear in text files (tab, newlines, form feed and the DOS
# end-of-file mark excluded).
CONTROL_CHARS = {chr(c) for c in range(32)} - set("\t\n\r\x0b\x0c\x1a")

# Errors the parsers raise on a bad file; turned into FileRejected naming the line.
READ_ERRORS = (
    csv.Error,
    UnicodeDecodeError,
    expat.ExpatError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    LookupError,  # a shared string or zip part that is not there
    ArithmeticError,
    ValueError,
    TypeError,
    xlrd.XLRDError,
)

# The default (128 KB) refuses long notes or HTML pasted into a cell; a bigger value is
# almost surely a never-closed quote, reported as such.
csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))


class FileRejected(Exception):
    """The file cannot be imported; str(exc) is the message for the user."""


@dataclasses.dataclass
class ReadSettings:
    file_format: str
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    header_row: int = 1  # 1-based; 0 = the file has no header row
    sheet: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ReadSettings:
        """Settings from stored or user-given values. Raises FileRejected for values that
        cannot work (unknown format or encoding, bad delimiter, negative header row)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in (data or {}).items() if key in known}
        try:
            values["header_row"] = int(values.get("header_row", 1))
        except (TypeError, ValueError):
            raise FileRejected("The header row must be a row number, or 0 for none.") from None
        result = cls(**{"file_format": "", **values})
        _check_settings(result)
        return result


@dataclasses.dataclass
class SniffResult:
    settings: ReadSettings
    headers: list[str]
    preview: list[list[str]]
    sheets: list[str]
    warnings: list[str]


def _check_settings(s: ReadSettings) -> None:
    if s.file_format not in FORMATS:
        raise FileRejected(f'Unknown file format "{s.file_format}".')
    try:
        "a".encode(s.encoding)  # also refuses codecs that are not text encodings (rot13)
    except (LookupError, TypeError):
        raise FileRejected(f'Unknown encoding "{s.encoding}".') from None
    if not isinstance(s.delimiter, str) or len(s.delimiter) != 1 or s.delimiter in "\r\n":
        raise FileRejected("The delimiter must be a single character.")
    if (
        not isinstance(s.quotechar, str)
        or len(s.quotechar) != 1
        or s.quotechar
        in (
            "\r",
            "\n",
            s.delimiter,
        )
    ):
        raise FileRejected(
            "The quote character must be a single character other than the delimiter."
        )
    if s.header_row < 0:
        raise FileRejected("The header row must be a row number, or 0 for none.")
    if not isinstance(s.sheet, str):
        raise FileRejected("The sheet must be a sheet name.")


# --- the two entry points -----------------------------------------------------------------


def sniff(fileobj: BinaryIO, *, filename: str, settings: ReadSettings | None = None) -> SniffResult:
    """Work out how to read the file (or take the user's `settings`; the format is always taken
    from the content) and read its headers and first rows. Reads the whole file once to check
    its encoding (in chunks; memory stays flat). Raises FileRejected for unusable files."""
    fileobj.seek(0)
    head = fileobj.read(HEAD_BYTES)
    if not head:
        raise FileRejected(EMPTY)
    file_format, notes = _detect_format(head, filename)
    if file_format == "csv":
        return _sniff_csv(fileobj, head, settings, notes)
    return _sniff_spreadsheet(fileobj, file_format, settings, notes)


def iter_rows(fileobj: BinaryIO, settings: ReadSettings) -> Iterator[tuple[int, list[str]]]:
    """Stream the data rows after the header as (line, cells), memory flat for any size.

    `line` is the row's number as a spreadsheet app shows it: records are counted (a quoted
    value spanning three physical lines is one record), the header and blank rows included.
    Blank rows (no cell with text) are skipped.

    CSV rows are yielded as parsed: a ragged row keeps its own number of cells, and the
    pipeline reports rows whose cell count differs from the headers. NUL characters inside
    cells are passed through unchanged (PostgreSQL text cannot hold them, so the pipeline
    refuses such rows with a row error rather than altering the value silently).

    Spreadsheets store no trailing empty cells, so their rows are padded with '' to the width
    `sniff` reported (header row and first data rows); they are never short.

    Raises FileRejected naming the line for problems found mid-file: a quote never closed,
    text after a closing quote, bytes invalid in the encoding, a damaged workbook, a row
    wider than IMPORT_MAX_COLUMNS, or more than IMPORT_MAX_ROWS data rows."""
    if settings.file_format == "csv":
        records = _csv_records(fileobj, settings)
    else:
        records = _padded(_sheet_records(fileobj, settings), settings.header_row)
    return _data_rows(records, settings)


def iter_csv_part(
    fileobj: BinaryIO, settings: ReadSettings, *, start: int, end: int | None, first_line: int,
    records_read: list[int] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """iter_rows for the bytes [start, end) of a CSV file, a part that begins and ends at a
    record boundary (imports.staging splits big files so that two processes read them): its
    rows are numbered from `first_line`, and only the part that starts the file has the
    header. At the end `records_read` (if given) gets the number of records the part held,
    blank ones and the header included."""
    part = io.BufferedReader(_ByteRange(fileobj, start, end), CHUNK_BYTES)
    records = _counted(_csv_records(part, settings, at_start=start == 0), records_read)
    return _data_rows(records, settings, header=start == 0, first_line=first_line)


@dataclasses.dataclass(frozen=True)
class SheetPart:
    """The part of a worksheet's XML (as unpacked) that one of two readers parses (see
    sheet_split): the first part is the bytes [0, end) and then `closing`, the tags that close
    the document there; the second is the `prologue` bytes (those before the first row) and
    then [start, the end). `first_row`: the number of the part's first row."""

    start: int
    end: int | None
    prologue: int
    closing: bytes
    first_row: int


def iter_sheet_part(
    fileobj: BinaryIO, settings: ReadSettings, part: SheetPart, *, width: int | None = None,
    report: dict | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """iter_rows for one part of an XLSX worksheet. The first part reads as iter_rows does
    (header, rows padded to the width found); `report` then gets that width and the number
    the next row would get ("width", "next_row"). The second part has no header, its rows keep
    the sheet's numbers and are padded to `width`, the first part's."""
    records = _sheet_part_records(fileobj, settings, part, report)
    if part.start == 0:
        return _data_rows(_padded(records, settings.header_row, report), settings)
    return _data_rows(_padded_to(records, width or 0), settings, header=False,
                      first_line=part.first_row)


def _sheet_part_records(fileobj, settings, part, report) -> Iterator[list[str]]:
    with _opened(fileobj, "xlsx") as book:
        yield from _sheet_rows(book, settings.sheet, part=part, report=report)


def _padded_to(records: Iterator[list[str]], width: int) -> Iterator[list[str]]:
    try:
        for row in records:
            yield row + [""] * (width - len(row)) if len(row) < width else row
    finally:
        records.close()


# A row's start tag in a worksheet's XML, whatever its namespace prefix ("<row ", "<x:row>").
ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["'](\d+)["']""")
MAX_PROLOGUE_BYTES = 1024 * 1024
SPLIT_SEARCH_BYTES = 16 * 1024 * 1024  # how far past the middle a row start is looked for


def sheet_split(fileobj: BinaryIO, settings: ReadSettings, *, min_bytes: int
                ) -> tuple[SheetPart, SheetPart] | None:
    """Where to split an XLSX worksheet of at least `min_bytes` (unpacked) between two readers:
    at the first row that starts past the middle of its XML. None when the sheet is smaller,
    or its XML is not one a split can be proven safe for: the bytes before the first row must
    parse as the document's start with exactly <worksheet><sheetData> open (no comment or
    CDATA left open), the splitting row must carry its number, and the text must be in an
    ASCII-compatible encoding. The first part's own parse then proves its end: the closing
    tags fit only if the split is between two rows of <sheetData>."""
    try:
        book = _XlsxBook(fileobj, strings=False)
    except (FileRejected, *READ_ERRORS):
        return None
    with contextlib.closing(book):
        path = book.sheets.get(settings.sheet)
        if path is None:
            return None
        size = book.archive.getinfo(path).file_size
        if size < max(min_bytes, 1):
            return None
        try:
            with book.archive.open(path) as source:
                found = _find_split(source, middle=size // 2)
        except READ_ERRORS:
            return None  # the single reader says what is wrong
    if found is None:
        return None
    head, start, first_row = found
    closing = _closing_tags(head)
    if closing is None or settings.header_row is None or first_row <= settings.header_row:
        return None  # (the second part must hold data rows only)
    return (SheetPart(0, start, 0, closing, 1),
            SheetPart(start, None, len(head), b"", first_row))


def _find_split(source, *, middle: int) -> tuple[bytes, int, int] | None:
    """(the bytes before the first row tag, the offset of the first row tag past `middle`,
    that row's number), reading the unpacked XML a block at a time (memory flat)."""
    buffer, base, head = b"", 0, None  # buffer holds the bytes [base, base + len(buffer))
    while base + len(buffer) < middle + SPLIT_SEARCH_BYTES:
        block = source.read(CHUNK_BYTES)
        if not block:
            return None
        buffer += block
        if head is None:
            first = ROW_TAG.search(buffer)
            if first is None:
                if len(buffer) > MAX_PROLOGUE_BYTES:
                    return None
                continue
            head = buffer[:first.start()]
            if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
                return None  # UTF-16: a byte search for "<row" proves nothing
        at = max(0, middle - base)
        while (tag := ROW_TAG.search(buffer, at)) is not None:
            close = buffer.find(b">", tag.end() - 1)
            if close == -1:
                break  # the tag runs into the next block
            number = ROW_NUMBER.search(buffer, tag.end() - 1, close)
            if number is None:
                return None  # no number: the second reader could not number its rows
            return head, base + tag.start(), int(number.group(1))
        keep = max(len(buffer) - 4096, 0) if tag is None else tag.start()
        buffer, base = buffer[keep:], base + keep
    return None


def _closing_tags(head: bytes) -> bytes | None:
    """The end tags that close the document after `head` (the bytes before the first row),
    or None unless exactly <worksheet><sheetData> are open there and closing them parses."""
    stack: list[str] = []
    parser = _expat(lambda name, _attrs: stack.append(name), lambda _name: stack.pop(), None)
    try:
        parser.Parse(head, False)
        if [name.rpartition(":")[2] for name in stack] != ["worksheet", "sheetData"]:
            return None
        closing = "".join(f"</{name}>" for name in reversed(stack)).encode()
        parser.Parse(closing, True)
    except (FileRejected, *READ_ERRORS):
        return None
    return closing


class _ByteRange(io.RawIOBase):
    """Bytes [start, end) of a seekable binary file, as a file of their own."""

    def __init__(self, fileobj: BinaryIO, start: int, end: int | None) -> None:
        super().__init__()
        self._file, self._start, self._end, self._at = fileobj, start, end, start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("only a seek to the start")
        self._at = self._start
        return 0

    def tell(self) -> int:
        return self._at - self._start

    def readinto(self, buffer) -> int:
        wanted = len(buffer)
        if self._end is not None:
            wanted = min(wanted, self._end - self._at)
        if wanted <= 0:
            return 0
        self._file.seek(self._at)
        data = self._file.read(wanted)
        buffer[:len(data)] = data
        self._at += len(data)
        return len(data)


def _counted(records: Iterator[list[str]], count: list[int] | None) -> Iterator[list[str]]:
    read = 0
    try:
        for read, record in enumerate(records, 1):  # noqa: B007  (read is kept after the loop)
            yield record
    finally:
        records.close()
        if count is not None:
            count.append(read)


def _data_rows(
    records: Iterator[list[str]], settings: ReadSettings, *, header: bool = True,
    first_line: int = 1,
) -> Iterator[tuple[int, list[str]]]:
    max_rows = django_settings.IMPORT_MAX_ROWS
    max_columns = django_settings.IMPORT_MAX_COLUMNS
    count, line = 0, first_line - 1
    numbered = enumerate(records, first_line)
    try:
        for _skipped in islice(numbered, settings.header_row if header else 0):
            line += 1  # the header, rows above it
        for line, row in numbered:
            if any(row):
                count += 1
                if count > max_rows or len(row) > max_columns:
                    raise FileRejected(_too_big(line, row, count > max_rows))
                yield line, row
    except READ_ERRORS as exc:
        raise FileRejected(_read_problem(exc, line + 1, settings)) from None
    finally:
        records.close()  # an abandoned iteration closes the file's reader at once


def _too_big(line: int, row: list[str], too_many_rows: bool) -> str:
    if too_many_rows:
        limit = django_settings.IMPORT_MAX_ROWS
        return f"The file has more than {limit:,} data rows; split it into smaller files."
    limit = django_settings.IMPORT_MAX_COLUMNS
    return f"Line {line}: the row has {len(row):,} cells; at most {limit:,} columns can be read."


def _read_problem(exc: Exception, line: int, settings: ReadSettings) -> str:
    """The user's message for a parser error met at `line`."""
    if isinstance(exc, UnicodeDecodeError):
        label = ENCODINGS.get(settings.encoding, settings.encoding)
        # No line: the text is decoded a block ahead of the parser, so it would be a guess.
        return f"This file is not valid {label}. Choose another encoding."
    if not isinstance(exc, csv.Error):
        return f"Row {line}: {DAMAGED_XLSX}"
    text = str(exc)
    if "unexpected end of data" in text:
        return (
            f"Line {line}: a quoted value is never closed. Check the quotes on this line, "
            "or choose another quote character."
        )
    if "expected after" in text:
        return (
            f"Line {line}: a quoted value is followed by other characters before the next "
            "delimiter. Quote the whole value, or choose another quote character."
        )
    if "field larger than field limit" in text:
        return f"Line {line}: a value is longer than 64 MB; a quote is probably never closed."
    return f"Line {line}: this line could not be read ({text})."


# --- headers and preview, shared by all formats ---------------------------------------------


def _read_head(
    records: Iterator[list[str]], header_row: int | None, settings: ReadSettings
) -> tuple[int, list[str] | None, list[list[str]]]:
    """(header row, its cells or None when there is none, first data rows). With header_row
    None the first non-blank row is the header."""
    header, rows, n = None, [], 0
    try:
        with contextlib.closing(records):  # closes the file's reader now, not when collected
            for n, row in enumerate(records, 1):
                blank = not any(row)
                if header_row is None:
                    if blank:
                        continue
                    header_row = n
                if n == header_row:
                    if blank:
                        raise FileRejected(
                            f"Row {n} is blank; choose the row that holds the column names."
                        )
                    header = row
                elif n > header_row and not blank:
                    rows.append(row)
                    if len(rows) == PREVIEW_ROWS:
                        break
    except READ_ERRORS as exc:
        raise FileRejected(_read_problem(exc, n + 1, settings)) from None
    return _checked_head(header_row, header, rows)


def _checked_head(header_row, header, rows):
    if header_row is None:
        raise FileRejected(EMPTY)
    if header_row and header is None:
        raise FileRejected(f"The file has no row {header_row}; choose another header row.")
    if not rows:
        raise FileRejected(NO_DATA if header_row else EMPTY)
    return header_row, header, rows


def _clean_headers(header: list[str] | None, width: int) -> tuple[list[str], list[str]]:
    """Column names: stripped, "Column N" when empty or absent, made unique ("Email (2)").
    Returns (headers, warnings)."""
    names = [cell.strip().lstrip("\ufeff") for cell in (header or [""] * width)]
    names = [name or f"Column {i}" for i, name in enumerate(names, 1)]
    if len(names) > django_settings.IMPORT_MAX_COLUMNS:
        raise FileRejected(
            f"The file has {len(names):,} columns; at most "
            f"{django_settings.IMPORT_MAX_COLUMNS:,} can be read."
        )
    taken = {name.casefold() for name in names}
    seen, unique, renamed = set(), [], []
    for name in names:
        if name.casefold() in seen:
            name = _numbered_name(name, taken)
            renamed.append(name)
        seen.add(name.casefold())
        unique.append(name)
    notes = []
    if renamed:
        notes.append(
            "Column names that appear more than once were numbered: " + ", ".join(renamed) + "."
        )
    return unique, notes


def _numbered_name(name: str, taken: set[str]) -> str:
    number = 2
    while f"{name} ({number})".casefold() in taken:
        number += 1
    taken.add(f"{name} ({number})".casefold())
    return f"{name} ({number})"


def _fit(rows: list[list[str]], width: int) -> list[list[str]]:
    return [(row + [""] * (width - len(row)))[:width] for row in rows]


def _result(settings, header_row, header, rows, sheets, notes) -> SniffResult:
    width = len(header) if header is not None else max(len(row) for row in rows)
    headers, header_notes = _clean_headers(header, width)
    settings = dataclasses.replace(settings, header_row=header_row)
    return SniffResult(
        settings=settings,
        headers=headers,
        preview=_fit(rows, len(headers)),
        sheets=sheets,
        warnings=notes + header_notes,
    )


# --- format ---------------------------------------------------------------------------------


def _detect_format(head: bytes, filename: str) -> tuple[str, list[str]]:
    if head.startswith(ZIP_MAGIC):
        file_format = "xlsx"
    elif head.startswith(OLE_MAGIC):
        file_format = "xls"
    elif head.startswith(BINARY_MAGIC):
        raise FileRejected(NOT_A_TABLE)
    else:
        return "csv", []
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in TEXT_EXTENSIONS:
        name = suffix or "without an extension"
        return file_format, [
            f'This file is named "{name}" but is an Excel workbook; it was read as one.'
        ]
    return file_format, []


# --- CSV ----------------------------------------------------------------------------------


def _sniff_csv(fileobj, head, settings, notes) -> SniffResult:
    if settings is None:
        encoding, note = _choose_encoding(fileobj, head)
        sample = _decode_sample(head, encoding, whole=len(head) < HEAD_BYTES)
        delimiter, quotechar = _detect_dialect(sample)
        settings = ReadSettings("csv", encoding, delimiter, quotechar)
        notes = notes + ([note] if note else [])
        header_row = None
    else:
        settings = dataclasses.replace(settings, file_format="csv", sheet="")
        _require_decodable(fileobj, settings.encoding)
        header_row = settings.header_row
    header_row, header, rows = _read_head(_csv_records(fileobj, settings), header_row, settings)
    return _result(settings, header_row, header, rows, [], notes)


def _csv_records(fileobj: BinaryIO, settings: ReadSettings, *, at_start: bool = True
                 ) -> Iterator[list[str]]:
    """Every record of the file, blank ones included (so a record's position is its line).
    `at_start` False: the file is a part of one after its start (see iter_csv_part)."""
    fileobj.seek(0)
    # utf-8-sig reads files without a BOM exactly like utf-8, and drops a BOM when present.
    encoding = settings.encoding
    if encoding == "utf-8" and at_start:
        encoding = "utf-8-sig"
    text = io.TextIOWrapper(fileobj, encoding=encoding, newline="")
    try:
        yield from csv.reader(
            text, delimiter=settings.delimiter, quotechar=settings.quotechar, strict=True
        )
    finally:
        # Detached, the wrapper never closes the caller's file when it is collected. (The file
        # itself may already be gone when an abandoned generator is collected late.)
        with contextlib.suppress(ValueError):
            text.detach()


def _choose_encoding(fileobj: BinaryIO, head: bytes) -> tuple[str, str | None]:
    """(encoding, warning or None). A BOM (or UTF-16's tell-tale NUL bytes) decides; else UTF-8
    if the whole file is valid UTF-8, else Windows-1252, else Latin-1 (which reads anything)."""
    declared = _bom_encoding(head) or _utf16_without_bom(head)
    if declared:
        _require_decodable(fileobj, declared)
        return declared, None
    if head.count(0) * 100 > len(head):
        raise FileRejected(NOT_A_TABLE)
    if _first_decode_error(fileobj, "utf-8") is None:
        return "utf-8", None
    if _first_decode_error(fileobj, "cp1252") is None:
        return "cp1252", FALLBACK_NOTE.format("Windows-1252")
    return "latin-1", FALLBACK_NOTE.format("Latin-1")


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    # Mostly-ASCII text in UTF-16 has a NUL in every other byte, and only there.
    even, odd = head[0::2], head[1::2]
    if len(head) < 4:
        return None
    if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
        return "utf-16-be"
    return None


def _first_decode_error(fileobj: BinaryIO, encoding: str) -> int | None:
    """Offset of the first byte that `encoding` cannot decode, or None. Reads the whole file
    in chunks, so an invalid byte in the middle of a big file is found and memory stays flat."""
    decoder = codecs.getincrementaldecoder(encoding)()
    fileobj.seek(0)
    offset = 0
    try:
        while chunk := fileobj.read(CHUNK_BYTES):
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return max(0, offset + exc.start)
    return None


def _require_decodable(fileobj: BinaryIO, encoding: str) -> None:
    offset = _first_decode_error(fileobj, encoding)
    if offset is not None:
        label = ENCODINGS.get(encoding, encoding)
        raise FileRejected(
            f"This file is not valid {label} (at byte {offset:,}). Choose another encoding."
        )


def _decode_sample(head: bytes, encoding: str, *, whole: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(head, final=whole)
    end = max(text.rfind("\n"), text.rfind("\r"))
    if not whole and end > 0:
        text = text[:end]  # the last line may be cut short
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    controls = sum(1 for char in text if char in CONTROL_CHARS)
    if controls * 100 > len(text) or stripped.startswith(MARKUP_STARTS):
        raise FileRejected(NOT_A_TABLE)
    return text


def _detect_dialect(sample: str) -> tuple[str, str]:
    """(delimiter, quote character). csv.Sniffer's guess is kept when no other delimiter splits
    the sample's rows more consistently; a file no delimiter splits is one column."""
    try:
        first_lines = "\n".join(sample.splitlines()[:20])
        sniffed = csv.Sniffer().sniff(first_lines, delimiters="".join(DELIMITERS))
        guess, guessed_quote = sniffed.delimiter, sniffed.quotechar
    except csv.Error:
        guess, guessed_quote = None, '"'
    scores = {d: _consistency(sample, d, '"') for d in DELIMITERS}
    usable = {d: score for d, score in scores.items() if score[1] > 1}
    if not usable:
        return ",", '"'
    best = max(usable, key=usable.get)
    delimiter = guess if guess in usable and usable[guess][0] >= usable[best][0] else best
    if (
        guessed_quote == "'"
        and guess == delimiter
        and (_consistency(sample, delimiter, "'") >= scores[delimiter])
    ):
        return delimiter, "'"
    return delimiter, '"'


def _consistency(sample: str, delimiter: str, quotechar: str) -> tuple[float, int]:
    """(share of the first non-blank rows having the most common cell count, that count)."""
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar=quotechar)
    try:
        widths = [len(row) for row in islice(reader, SNIFF_LINES) if any(row)]
    except csv.Error:
        return 0.0, 0
    if not widths:
        return 0.0, 0
    width, hits = Counter(widths).most_common(1)[0]
    return hits / len(widths), width


# --- spreadsheets ---------------------------------------------------------------------------


def _sniff_spreadsheet(fileobj, file_format, settings, notes) -> SniffResult:
    with _opened(fileobj, file_format) as book:
        default = _first_sheet_with_data(book)
        if settings is None:
            settings = ReadSettings(file_format, sheet=default)
            header_row = None
        else:
            sheet = settings.sheet or default
            settings = dataclasses.replace(settings, file_format=file_format, sheet=sheet)
            header_row = settings.header_row
        records = _padded(_sheet_rows(book, settings.sheet), header_row)
        header_row, header, rows = _read_head(records, header_row, settings)
    return _result(settings, header_row, header, rows, list(book.names), notes)


def _first_sheet_with_data(book) -> str:
    for name in book.names:
        try:
            with contextlib.closing(book.rows(name)) as rows:
                if any(any(row) for row in islice(rows, SPREADSHEET_PEEK_ROWS)):
                    return name
        except READ_ERRORS:
            raise FileRejected(DAMAGED_XLSX) from None
    raise FileRejected(EMPTY)


def _sheet_records(fileobj: BinaryIO, settings: ReadSettings) -> Iterator[list[str]]:
    with _opened(fileobj, settings.file_format) as book:
        yield from _sheet_rows(book, settings.sheet)


def _sheet_rows(book, name: str, **part) -> Iterator[list[str]]:
    if name not in book.names:
        raise FileRejected(f'The workbook has no sheet named "{name}".')
    return book.rows(name, **part)


def _padded(records: Iterator[list[str]], header_row: int | None, report: dict | None = None
            ) -> Iterator[list[str]]:
    """Pad spreadsheet rows with '' to the table's width: the widest of the header row and
    the first data rows (peeked, bounded). sniff and iter_rows both read through this, so the
    headers sniff shows and the rows iter_rows yields have the same width (`report` gets
    it)."""
    peeked, width, data_rows = [], 0, 0
    try:
        for row in records:
            peeked.append(row)
            if header_row is None and row:
                header_row = len(peeked)  # the first non-blank row, as _read_head decides
            if header_row is not None and len(peeked) >= header_row:
                width = max(width, len(row))
                data_rows += bool(row) and len(peeked) > header_row
            if data_rows >= PREVIEW_ROWS or len(peeked) >= SPREADSHEET_PEEK_ROWS:
                break
    except READ_ERRORS:
        yield from peeked  # so the error is reported at the row where it happened
        raise
    if report is not None:
        report["width"] = width
    try:
        for row in chain(peeked, records):
            yield row + [""] * (width - len(row)) if len(row) < width else row
    finally:
        records.close()


def _trimmed(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    return cells


@contextlib.contextmanager
def _opened(fileobj: BinaryIO, file_format: str):
    book = _XlsxBook(fileobj) if file_format == "xlsx" else _XlsBook(fileobj)
    try:
        yield book
    finally:
        book.close()


def _cell_text(value) -> str:
    """A spreadsheet value as text: ints without '.0', dates ISO 8601 (date only at midnight),
    booleans TRUE/FALSE."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)  # int, timedelta


def _number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # 42.0 → "42", and long phone numbers keep every digit
    return repr(value)


# --- XLSX ---------------------------------------------------------------------------------
# Read with expat directly rather than openpyxl: with defusedxml installed openpyxl parses
# with pure-Python handlers (≈3k rows/s here), and without a <dimension> element it parses
# the whole sheet once more while opening the workbook. This reader streams a sheet about ten
# times faster in flat memory, and refuses any DTD, so entity tricks never reach the parser.


def _check_zip(fileobj: BinaryIO) -> None:
    """Refuse zips that are not workbooks, and zip bombs, from the central directory alone
    (zipfile never inflates a part beyond its declared size, so the sizes can be trusted)."""
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError):
        raise FileRejected(NOT_A_TABLE) from None
    if "[Content_Types].xml" not in {part.filename for part in parts}:
        raise FileRejected(NOT_A_TABLE)
    if sum(part.file_size for part in parts) > MAX_UNPACKED_BYTES:
        raise FileRejected(ZIP_BOMB)
    for part in parts:
        if part.file_size > RATIO_MIN_BYTES and part.file_size > MAX_RATIO * part.compress_size:
            raise FileRejected(ZIP_BOMB)


def _refuse_dtd(*_args) -> None:
    raise FileRejected(XML_ENTITIES)


def _expat(start, end, chars) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_dtd  # OOXML parts never have one
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = chars
    return parser


def _parse_part(archive: zipfile.ZipFile, path: str, parser) -> None:
    with archive.open(path) as source:
        while chunk := source.read(CHUNK_BYTES):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _elements(archive: zipfile.ZipFile, path: str) -> list[tuple[str, dict]]:
    """(local name, attributes) of every element of a small part (workbook, styles, rels)."""
    found = []

    def start(name, attrs):
        found.append((name.rpartition(":")[2], attrs))

    _parse_part(archive, path, _expat(start, None, None))
    return found


def _attr(attrs: dict, local: str) -> str:
    """An attribute by local name, whatever its namespace prefix (r:id, or none)."""
    return next((v for k, v in attrs.items() if k.rpartition(":")[2] == local), "")


class _XlsxBook:
    """An XLSX package opened for streaming: worksheet parts by name, shared strings, the cell
    styles that hold dates, and the date system."""

    def __init__(self, fileobj: BinaryIO, *, strings: bool = True):
        _check_zip(fileobj)
        fileobj.seek(0)
        self.archive = zipfile.ZipFile(fileobj)
        try:
            self._read_structure(strings=strings)
        except READ_ERRORS:
            self.archive.close()
            raise FileRejected(DAMAGED_XLSX) from None
        except FileRejected:
            self.archive.close()
            raise

    def close(self) -> None:
        self.archive.close()

    def _read_structure(self, *, strings: bool) -> None:
        workbook = self._main_part()
        parts = self._relationships(workbook)
        elements = _elements(self.archive, workbook)
        self.sheets = {}
        for name, attrs in elements:
            kind, path = parts.get(_attr(attrs, "id"), ("", ""))
            if name == "sheet" and kind == "worksheet":
                self.sheets[attrs.get("name", "")] = path
        self.names = list(self.sheets)
        flags = next((attrs for name, attrs in elements if name == "workbookPr"), {})
        self.epoch = MAC_EPOCH if flags.get("date1904") in ("1", "true") else WINDOWS_EPOCH
        kinds = {kind: path for kind, path in parts.values()}
        self.strings = self._shared_strings(kinds.get("sharedStrings") if strings else None)
        self.dates, self.durations = self._date_styles(kinds.get("styles"))

    def _main_part(self) -> str:
        for _name, attrs in _elements(self.archive, "_rels/.rels"):
            if attrs.get("Type", "").endswith("/officeDocument"):
                return attrs.get("Target", "").lstrip("/")
        raise KeyError("no workbook")

    def _relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """{relationship id: (kind, path in the zip)} of `part`."""
        folder, _slash, base = part.rpartition("/")
        rels = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        found = {}
        for _name, attrs in _elements(self.archive, rels):
            target = attrs.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else f"{folder}/{target}"
            kind = attrs.get("Type", "").rpartition("/")[2]
            found[attrs.get("Id", "")] = (kind, posixpath.normpath(path))
        return found

    def _shared_strings(self, path: str | None) -> list[str]:
        if not path:
            return []
        reader = _SharedStrings()
        _parse_part(self.archive, path, _expat(reader.start, reader.end, reader.chars))
        return reader.strings

    def _date_styles(self, path: str | None) -> tuple[set[str], set[str]]:
        """(style indexes whose numbers are dates, those that are durations)."""
        if not path:
            return set(), set()
        elements = _elements(self.archive, path)
        codes = dict(BUILTIN_FORMATS)
        codes.update(
            (int(a["numFmtId"]), a.get("formatCode", ""))
            for n, a in elements
            if n == "numFmt" and a.get("numFmtId", "").isdigit()
        )
        dates, durations, in_xfs, index = set(), set(), False, 0
        for name, attrs in elements:
            if name == "cellXfs":
                in_xfs = True
            elif name == "cellStyleXfs" or name == "dxfs":
                in_xfs = False
            elif name == "xf" and in_xfs:
                fmt = int(attrs.get("numFmtId", "0") or 0)
                code = codes.get(fmt, "")
                if is_timedelta_format(code):
                    durations.add(str(index))
                elif fmt in CJK_DATE_FORMATS or is_date_format(code):
                    dates.add(str(index))
                index += 1
        return dates, durations

    def rows(self, name: str, *, part: SheetPart | None = None, report: dict | None = None
             ) -> Iterator[list[str]]:
        """The sheet's rows in order, [] for rows the file leaves out, cells as text (of the
        `part` only, when given; `report` then gets the number the next row would get). The
        rows before a damaged spot are handed on first, so the error names the right row."""
        reader = _SheetReader(self)
        if part is not None and part.start:
            reader.next_row = reader.expect_row = part.first_row
        parser = _expat(reader.start, reader.end, reader.chars)
        with self.archive.open(self.sheets[name]) as source:
            for chunk, last in _sheet_bytes(source, part):
                try:
                    parser.Parse(chunk, last)
                except READ_ERRORS:
                    yield from reader.take()
                    raise
                yield from reader.take()
        if report is not None:
            report["next_row"] = reader.next_row


def _sheet_bytes(source, part: SheetPart | None) -> Iterator[tuple[bytes, bool]]:
    """(bytes, whether they are the last) of a worksheet's XML to parse: all of it, or `part`."""
    if part is None:
        while chunk := source.read(XML_CHUNK_BYTES):
            yield chunk, False
        yield b"", True
        return
    if part.start == 0:  # the first part: the bytes before the split, then the closing tags
        left = part.end or 0
        while left > 0:
            chunk = source.read(min(XML_CHUNK_BYTES, left))
            if not chunk:
                raise ValueError("the sheet ended before the split")
            left -= len(chunk)
            yield chunk, False
        yield part.closing, True
        return
    prologue = source.read(part.prologue)
    skip = part.start - len(prologue)
    while skip > 0:  # the first part's rows, read past
        chunk = source.read(min(CHUNK_BYTES, skip))
        if not chunk:
            raise ValueError("the sheet ended before the split")
        skip -= len(chunk)
    yield prologue, False
    while chunk := source.read(XML_CHUNK_BYTES):
        yield chunk, False
    yield b"", True


class _SharedStrings:
    """expat handlers collecting sharedStrings.xml: each <si> is its <t> texts joined,
    phonetic runs (<rPh>, Japanese readings) left out."""

    def __init__(self):
        self.strings, self.parts, self.collect, self.phonetic = [], [], False, False

    def start(self, name, _attrs):
        name = name.rpartition(":")[2]
        if name == "t":
            self.collect = not self.phonetic
        elif name == "si":
            self.parts = []
        elif name == "rPh":
            self.phonetic = True

    def end(self, name):
        name = name.rpartition(":")[2]
        if name == "t":
            self.collect = False
        elif name == "si":
            self.strings.append("".join(self.parts))
        elif name == "rPh":
            self.phonetic = False

    def chars(self, data):
        if self.collect:
            self.parts.append(data)


class _SheetReader:
    """expat handlers turning a worksheet's XML into rows of text, as the file holds them:
    formulas give their cached value (<v>), shared strings are looked up, numbers in a date
    style become dates."""

    def __init__(self, book: _XlsxBook):
        self.book, self.out, self.next_row, self.expect_row = book, [], 1, 0
        self.cells, self.text, self.collect, self.phonetic = [], [], False, False
        self.kind, self.style, self.column, self.row_number = "n", None, 0, 1
        self.columns: dict[str, int] = {}

    def take(self) -> list[list[str]]:
        rows, self.out = self.out, []
        return rows

    def start(self, name, attrs):
        if ":" in name:  # some generators prefix SpreadsheetML ("x:c")
            name = name.rpartition(":")[2]
        if name == "c":
            self.kind, self.style = attrs.get("t", "n"), attrs.get("s")
            ref = attrs.get("r")
            self.column = self._column(ref) if ref else len(self.cells)
            self.text = []
        elif name == "v" or (name == "t" and not self.phonetic):
            self.collect = True
        elif name == "row":
            number = attrs.get("r")
            self.row_number = int(number) if number else self.next_row
            self.cells = []
            if self.expect_row:  # the first row of a part read from a split: as found there
                if self.row_number != self.expect_row:
                    raise ValueError("the split's row number does not match")
                self.expect_row = 0
        elif name == "rPh":
            self.phonetic = True

    def end(self, name):
        if ":" in name:
            name = name.rpartition(":")[2]
        if name == "v" or name == "t":
            self.collect = False
        elif name == "c":
            self._store(self._value("".join(self.text)))
        elif name == "row":
            self._finish_row()
        elif name == "rPh":
            self.phonetic = False

    def chars(self, data):
        if self.collect:
            self.text.append(data)

    def _column(self, ref: str) -> int:
        letters = ref.rstrip("0123456789")
        index = self.columns.get(letters)
        if index is None:
            index = column_index_from_string(letters) - 1  # ValueError when not a column
            self.columns[letters] = index
        return index

    def _value(self, text: str) -> str:
        kind = self.kind
        if kind == "n":
            return self._number(text) if text else ""
        if kind == "s":
            return self.book.strings[int(text)]
        if kind == "b":
            return "TRUE" if text == "1" else "FALSE" if text else ""
        if kind == "d" and text:
            return _cell_text(datetime.fromisoformat(text))
        return text  # inlineStr, str (a formula's text), e (#N/A…)

    def _number(self, text: str) -> str:
        style = self.style
        if style in self.book.dates or style in self.book.durations:
            try:
                is_duration = style in self.book.durations
                return _cell_text(from_excel(float(text), self.book.epoch, is_duration))
            except (OverflowError, ValueError):
                pass  # not a date Excel can show either
        return text if text.isdigit() else _number_text(float(text))

    def _store(self, value: str) -> None:
        cells, column = self.cells, self.column
        if column == len(cells):
            cells.append(value)
        elif column > len(cells):
            if column >= MAX_SHEET_COLUMNS:
                raise ValueError("column out of range")
            cells.extend([""] * (column - len(cells)))
            cells.append(value)
        else:
            cells[column] = value

    def _finish_row(self) -> None:
        number = max(self.row_number, self.next_row)  # rows must ascend; else take them in order
        if number > MAX_SHEET_ROWS:
            raise ValueError("row out of range")
        self.out.extend([[]] * (number - self.next_row))  # rows the file leaves out are blank
        self.out.append(_trimmed(self.cells))
        self.next_row = number + 1


# --- XLS ----------------------------------------------------------------------------------


class _XlsBook:
    """A legacy .xls workbook. xlrd needs the whole file in memory; the format caps a sheet at
    65,536 rows, so that stays small."""

    def __init__(self, fileobj: BinaryIO):
        fileobj.seek(0)
        try:
            self.book = xlrd.open_workbook(file_contents=fileobj.read(), on_demand=True)
        except Exception:  # xlrd fails in many ways on encrypted, damaged or non-Excel OLE files
            raise FileRejected(DAMAGED_XLS) from None
        self.names = self.book.sheet_names()

    def close(self) -> None:
        self.book.release_resources()

    def rows(self, name: str) -> Iterator[list[str]]:
        sheet, datemode = self.book.sheet_by_name(name), self.book.datemode
        for index in range(sheet.nrows):
            yield _trimmed([_xls_text(cell, datemode) for cell in sheet.row(index)])


def _xls_text(cell, datemode: int) -> str:
    kind, value = cell.ctype, cell.value
    if kind == xlrd.XL_CELL_TEXT:
        return value
    if kind == xlrd.XL_CELL_NUMBER:
        return _number_text(value)
    if kind == xlrd.XL_CELL_DATE:
        try:
            return _cell_text(xlrd.xldate.xldate_as_datetime(value, datemode))
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return _number_text(value)
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "")
    return ""
