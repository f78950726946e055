"""Cells that a spreadsheet would run as a formula (OWASP "CSV injection"), neutralised.

A text cell beginning with = + - @, a tab, CR or LF is written with a single quote in front, so
Excel, LibreOffice and Sheets show it as text. A value that is a plain number ("-12.5", "+42",
"1e5") is left as it is, so it stays a usable number. Phone numbers written with spaces or
dashes ("+33 1 23 45 67 89", "+1-555-0100") are not plain numbers: a spreadsheet would compute
them (1-555-0100 = -654), so they get the quote too.

A value that already begins with quotes followed by such a character ("'=x") gets one more quote,
so `unprotect` can undo exactly one: neutralise and unprotect are inverses for every value, which
is what lets an export be imported again with the same values (imports.staging strips the quote).
"""

from __future__ import annotations

import re

TRIGGERS = frozenset("=+-@\t\r\n")
QUOTE = "'"
# A plain number, as a spreadsheet reads it: optional sign, digits with an optional decimal
# part, optional exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)
_CODES = ", ".join(str(ord(char)) for char in sorted(TRIGGERS))
_NUMBER_SQL = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def needs_protection(value: str) -> bool:
    """Whether `value` would open as a formula (after any leading quotes)."""
    core = value.lstrip(QUOTE)
    return bool(core) and core[0] in TRIGGERS and not _NUMBER.match(core)


def neutralise(value: str) -> str:
    """The cell text to write for `value`."""
    if value and (value[0] in TRIGGERS or value[0] == QUOTE) and needs_protection(value):
        return QUOTE + value
    return value


def unprotect(value: str) -> str:
    """The value `neutralise` was given, for a cell read back from an export."""
    if value[:1] == QUOTE and needs_protection(value[1:]):
        return value[1:]
    return value


def neutralise_sql(expression: str) -> str:
    """SQL for the neutralised text of `expression` (a text expression); the same rule as
    `neutralise`, evaluated by PostgreSQL so that COPY can write the CSV itself. The cheap
    first-character test (ascii(): no string is built) comes first: most values never reach
    the regular expression."""
    core = f"ltrim({expression}, '''')"
    return (
        f"CASE WHEN ascii({expression}) IN ({_CODES}, 39) AND ascii({core}) IN ({_CODES}) "
        f"AND {core} !~ '{_NUMBER_SQL}' THEN '''' || {expression} ELSE {expression} END"
    )
