"""Writing contacts to a file, memory flat for any size.

The source's ids are cut into chunks by id (one ordered pass over the ids gives the bounds and
the total); each chunk is one query. CSV is written by PostgreSQL itself (`COPY … TO STDOUT`,
the cells already neutralised in SQL), the bytes piped straight to the file. XLSX and JSON read
each chunk's rows and write them as they come. Between chunks the caller learns the progress.

XLSX is written directly as SpreadsheetML (a zip of a few XML parts, the sheet streamed into
it) rather than with openpyxl's write-only mode, which measured 10.9 s per 100,000 rows of 14
columns here, most of it in its per-cell XML serialiser; the files are read back with openpyxl
in the tests. Every cell is a string, a number or a boolean — never a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from django.db import connection

from imports.exports.columns import TAGS_AGGREGATES, TAGS_JOIN, Column
from imports.exports.safety import neutralise

CHUNK_ROWS = {"csv": 100_000, "xlsx": 20_000, "json": 20_000, "jsonl": 20_000}
FETCH_ROWS = 2_000
XLSX_MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows, less the header
Progress = Callable[[int, int], None]  # (rows written, total)
IdsSql = tuple[str, list] | None


# --- chunks -----------------------------------------------------------------------------------


def _where(ids: IdsSql) -> tuple[str, list]:
    return (f"AND c.id IN ({ids[0]})", list(ids[1])) if ids else ("", [])


def chunk_bounds(ids: IdsSql, size: int) -> tuple[int, list[tuple[int, int]]]:
    """(total, [(after id, up to id), …]) covering the source's contacts in chunks of `size`."""
    extra, params = _where(ids)
    sql = f"""SELECT id, n, total FROM (
        SELECT c.id, row_number() OVER (ORDER BY c.id) AS n, count(*) OVER () AS total
        FROM contacts_contact c WHERE TRUE {extra}) x
        WHERE mod(n, %s) = 0 OR n = total ORDER BY id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, size])
        rows = cursor.fetchall()
    if not rows:
        return 0, []
    bounds, low = [], 0
    for high, _n, _total in rows:
        bounds.append((low, high))
        low = high
    return rows[-1][2], bounds


def chunk_sql(select: str, ids: IdsSql, low: int, high: int) -> tuple[str, list]:
    """The query of the contacts with low < id <= high (and in `ids`), in id order."""
    extra, params = _where(ids)
    join, join_params = ("", [])
    aggregates = [sql for column, sql in TAGS_AGGREGATES.items() if column in select]
    if aggregates:
        join, join_params = TAGS_JOIN.format(aggregates=", ".join(aggregates)), [low, high]
    return (
        f"SELECT {select} FROM contacts_contact c {join} WHERE c.id > %s AND c.id <= %s "
        f"{extra} ORDER BY c.id",
        [*join_params, low, high, *params],
    )


def write_contacts(
    *, out: BinaryIO, columns: list[Column], file_format: str, ids: IdsSql,
    progress: Progress | None = None, max_rows: int | None = None,
) -> int:
    """Write the header and every contact of `ids` (None: all) to `out`; return the number
    of contacts written. Calls `progress(rows written, total)` first and after each chunk. Raises
    TooManyRows (nothing written) when the source has more than `max_rows` contacts."""
    total, bounds = chunk_bounds(ids, CHUNK_ROWS[file_format])
    if file_format == "xlsx":
        max_rows = min(max_rows or XLSX_MAX_ROWS, XLSX_MAX_ROWS)
    if max_rows is not None and total > max_rows:
        raise TooManyRows(total, max_rows)
    writer = WRITERS[file_format](out, columns)
    written = 0
    if progress:
        progress(0, total)
    for low, high in bounds:
        written += writer.write_chunk(ids, low, high)
        if progress:
            progress(written, max(total, written))
    writer.close()
    return written


class TooManyRows(ValueError):
    def __init__(self, total: int, limit: int):
        self.total, self.limit = total, limit
        super().__init__(
            f"This export has {total:,} contacts; an XLSX sheet holds at most {limit:,}. "
            "Choose CSV or JSON Lines."
        )


# --- CSV --------------------------------------------------------------------------------------


class CsvWriter:
    """UTF-8 with a byte order mark (so Excel reads the accents right), comma-separated,
    quoted where needed, LF line ends (the format PostgreSQL's COPY writes)."""

    def __init__(self, out: BinaryIO, columns: list[Column]):
        self.out, self.columns = out, columns
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(
            [neutralise(column.header) for column in columns]
        )
        out.write(b"\xef\xbb\xbf" + header.getvalue().encode())
        # COPY writes NULL as nothing and '' as "": empty values become NULL, so that an
        # empty cell is empty whatever its column.
        self.select = ", ".join(f"nullif({column.text_sql}, '')" for column in columns)

    def write_chunk(self, ids: IdsSql, low: int, high: int) -> int:
        sql, params = chunk_sql(self.select, ids, low, high)
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
                for block in copy:
                    self.out.write(block)
            return raw.rowcount

    def close(self) -> None:
        pass


# --- JSON and JSON Lines ----------------------------------------------------------------------


def json_select(columns: list[Column]) -> str:
    """One JSON object per contact: the standard columns by name (tags as a list), the chosen
    custom fields in "custom_fields" (null when a contact has no value)."""
    parts = [f'{c.json_sql} AS "{c.key}"' for c in columns if not c.is_custom]
    custom = [c for c in columns if c.is_custom]
    if custom:
        # json_build_object takes at most 100 arguments: 50 fields a group, groups merged.
        groups = [custom[i:i + 50] for i in range(0, len(custom), 50)]
        objects = [
            "json_build_object(" + ", ".join(f"'{c.header}', {c.json_sql}" for c in g) + ")"
            for g in groups
        ]
        merged = objects[0] if len(objects) == 1 else (
            "(" + " || ".join(f"{o}::jsonb" for o in objects) + ")::json"
        )
        parts.append(f'{merged} AS "custom_fields"')
    return ", ".join(parts)


class JsonLinesWriter:
    def __init__(self, out: BinaryIO, columns: list[Column]):
        self.out = out
        self.select = f"row_to_json(r)::text FROM (SELECT {json_select(columns)}"

    def _rows(self, ids: IdsSql, low: int, high: int):
        sql, params = chunk_sql(self.select, ids, low, high)
        with connection.cursor() as cursor:
            cursor.execute(f"{sql}) r", params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                yield rows

    def write_chunk(self, ids: IdsSql, low: int, high: int) -> int:
        count = 0
        for rows in self._rows(ids, low, high):
            self.out.write("".join(row[0] + "\n" for row in rows).encode())
            count += len(rows)
        return count

    def close(self) -> None:
        pass


class JsonWriter(JsonLinesWriter):
    """One JSON array, an object a line."""

    def __init__(self, out: BinaryIO, columns: list[Column]):
        super().__init__(out, columns)
        self.first = True
        out.write(b"[")

    def write_chunk(self, ids: IdsSql, low: int, high: int) -> int:
        count = 0
        for rows in self._rows(ids, low, high):
            text = ",\n".join(row[0] for row in rows)
            self.out.write((("\n" if self.first else ",\n") + text).encode())
            self.first = False
            count += len(rows)
        return count

    def close(self) -> None:
        self.out.write(b"]\n" if self.first else b"\n]\n")


# --- XLSX -------------------------------------------------------------------------------------

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STATIC_PARTS = {
    "[Content_Types].xml": _HEAD + (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml'
        '.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
    ),
    "_rels/.rels": _HEAD + (
        f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" Type="{_REL_NS}/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": _HEAD + (
        f'<workbook {_NS} xmlns:r="{_REL_NS}"><sheets><sheet name="Contacts" sheetId="1" '
        'r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": _HEAD + (
        f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" Type="{_REL_NS}/'
        'worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
        f'{_REL_NS}/styles" Target="styles.xml"/></Relationships>'
    ),
    "xl/styles.xml": _HEAD + (
        f'<styleSheet {_NS}><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill>'
        '<patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
        '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/>'
        '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
        'borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" '
        'fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" '
        'borderId="0" xfId="0" applyFont="1"/></cellXfs><cellStyles count="1"><cellStyle '
        'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
    ),
}
_SHEET_START = (
    _HEAD + f'<worksheet {_NS}><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" '
    'topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
    "<sheetData>"
)
_SHEET_END = "</sheetData></worksheet>"
# Characters XML 1.0 cannot hold, and a literal "_xHHHH_" (which Excel would decode), are
# written as SpreadsheetML's _xHHHH_ escapes; CR as a character reference (XML parsers turn a
# raw CR into LF).
_SPECIAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_XML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _escape_special(match: re.Match) -> str:
    char = match.group()
    return "_x005F_" if char == "_" else f"_x{ord(char):04X}_"


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value) -> str:
    if value is None or value == "":
        return ""
    if value is True or value is False:
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    text = _SPECIAL.sub(_escape_special, str(value)).translate(_XML)
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _typed(row: tuple, typed: list[int]) -> list:
    """The row with its JSON columns decoded; a stray string among them is neutralised."""
    row = list(row)
    for i in typed:
        value = json.loads(row[i]) if isinstance(row[i], str) else row[i]
        row[i] = neutralise(value) if isinstance(value, str) else value
    return row


class XlsxWriter:
    def __init__(self, out: BinaryIO, columns: list[Column]):
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        for name, text in _STATIC_PARTS.items():
            self.zip.writestr(name, text)
        self.sheet = self.zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self.letters = [column_letter(i) for i in range(len(columns))]
        # Numbers and booleans of custom fields are read as JSON (Django's connection hands
        # jsonb over as text) to be written as numbers and booleans.
        self.typed = [i for i, c in enumerate(columns) if c.kind in ("number", "boolean")]
        self.select = ", ".join(
            c.json_sql if c.kind in ("id", "number", "boolean") else c.text_sql for c in columns
        )
        header = "".join(
            _cell(f"{letter}1", neutralise(c.header)).replace("<c ", '<c s="1" ', 1)
            for letter, c in zip(self.letters, columns, strict=True)
        )
        self.sheet.write((_SHEET_START + f'<row r="1">{header}</row>').encode())
        self.row = 1

    def write_chunk(self, ids: IdsSql, low: int, high: int) -> int:
        sql, params = chunk_sql(self.select, ids, low, high)
        count = 0
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                self.sheet.write(self._xml(rows).encode())
                count += len(rows)
        return count

    def _xml(self, rows: list[tuple]) -> str:
        parts, letters, number = [], self.letters, self.row
        for row in rows:
            number += 1
            if self.typed:
                row = _typed(row, self.typed)
            cells = "".join(
                _cell(f"{letter}{number}", value)
                for letter, value in zip(letters, row, strict=True)
            )
            parts.append(f'<row r="{number}">{cells}</row>')
        self.row = number
        return "".join(parts)

    def close(self) -> None:
        self.sheet.write(_SHEET_END.encode())
        self.sheet.close()
        self.zip.close()


WRITERS = {"csv": CsvWriter, "xlsx": XlsxWriter, "json": JsonWriter, "jsonl": JsonLinesWriter}
