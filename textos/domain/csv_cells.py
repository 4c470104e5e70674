"""Cells of the CSV files Textos hands out (consumption exports): OVH's quoting, and no
spreadsheet formulas.

OVH's export (the sample of its SMS campaign guide) quotes the text cells (``"Success"``,
the sender, the tag, the message) and leaves numbers and dates bare; a ``"`` inside a quoted
cell is doubled (RFC 4180), and a quoted message may hold line breaks.

Spreadsheet injection: a spreadsheet opening the file reads a cell that starts with ``=``,
``+``, ``-`` or ``@`` (and, for some, a tab or a carriage return) as a formula, so a message
``=HYPERLINK("http://x")`` written by anyone would run in the account owner's spreadsheet.
Such a cell is written with a ``'`` in front (OWASP's advice: the spreadsheet shows the text
as text). One exception, so receivers stay usable: a plain E.164 number (``+`` then 1 to 15
digits, nothing else) is left as it is; a spreadsheet reads it as a number, never as a formula.
Quoting does not protect: the quotes are CSV syntax, gone once the spreadsheet has read the cell.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["bare", "csv_date", "neutralised", "quoted"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[0-9]{1,15}")


def neutralised(value: str) -> str:
    """``value`` as a spreadsheet will show it as text: a ``'`` before a leading formula
    character, except for a plain E.164 number."""
    if value.startswith(_TRIGGERS) and not _E164.fullmatch(value):
        return "'" + value
    return value


def quoted(value: str | None) -> str:
    """A text cell: neutralised, between double quotes, inner quotes doubled."""
    return '"' + neutralised(value or "").replace('"', '""') + '"'


def bare(value: object) -> str:
    """A number, a date or an E.164 number, unquoted (``None``: empty). Any other text that
    starts like a formula is neutralised, and quoted if it holds the separator, a quote or a line break."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = neutralised(text)
    if any(c in text for c in ';"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_date(moment: dt.datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (naive UTC, as stored), empty for none."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")
