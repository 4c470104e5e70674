"""Streaming reader for receivers documents, as OVH users write them.

Accepted: CSV separated by ``;``, ``,`` or tab (detected on the first
non-blank line, outside quotes), or a plain list with one number per line.
Header names and values are whitespace-trimmed (the cookbook's
``Numero ;nom ;prenom ;adresse``). The number column is the first header
matching a known name (``number``, ``numero``, ``phone``, ``tel``,
``telephone``, ``mobile``, ``msisdn``, ``receiver``...; case, accents, spaces,
``_`` and ``-`` ignored), else the first column. If the first row holds no
known name and one of its cells looks like a phone number, the file has no
header: columns are named by position (``"1"``, ``"2"``...).

Encoding is decided per file by a first pass over the bytes: UTF-8 (BOM
optional), else cp1252 (Windows "ANSI"), else Latin-1; UTF-16 with a BOM is
also read. That pass also rejects binary files early (NUL bytes, control
characters, ZIP/XLSX, gzip) and lines longer than 1 MB. Rows are then parsed
lazily with O(1) memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Callable, Iterator

__all__ = ["CsvError", "CsvLayout", "Receivers", "read_receivers", "NUMBER_COLUMN_NAMES"]

NUMBER_COLUMN_NAMES = (
    "number", "numbers", "numero", "num", "phone", "phonenumber", "tel", "telephone",
    "mobile", "mobilephone", "msisdn", "receiver", "receivers", "recipient", "to",
    "gsm", "portable", "cell", "cellphone", "numerotelephone", "numerodetelephone",
)  # fmt: skip
_NUMBER_RANK = {name: i for i, name in enumerate(NUMBER_COLUMN_NAMES)}
_CHUNK = 1 << 20
_MAX_LINE = 1 << 20  # must be >= _CHUNK (see _scan)
_CONTROLS = bytes(b for b in range(32) if b not in b"\t\n\r") + b"\x7f"
_CP1252_HOLES = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_PHONE = re.compile(r"\+?[\d\s().\-/]{6,24}")
_QUOTED = re.compile(r'"[^"]*"?')
_SINGLE = "\0"  # delimiter for one-column files: NUL never survives _scan


class CsvError(ValueError):
    """The receivers document is unusable; ``str()`` is user-facing."""


@dataclass
class CsvLayout:
    columns: list[str]
    number_column: str
    delimiter: str  # "" for a one-column file
    encoding: str
    has_header: bool


class Receivers:
    """Iterator of rows (``dict`` column -> trimmed value); also a context manager.

    ``line_num`` is the physical line of the last row returned (for messages).
    Closes the file when exhausted (a caller-owned file object is left open).
    """

    def __init__(
        self, rows: Iterator[dict[str, str]], reader: Any, close: Callable[[], None]
    ) -> None:
        self._rows = rows
        self._reader = reader
        self._close = close

    @property
    def line_num(self) -> int:
        return int(self._reader.line_num)

    def __iter__(self) -> Iterator[dict[str, str]]:
        return self._rows

    def __next__(self) -> dict[str, str]:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()  # type: ignore[attr-defined]
        self._close()

    def __del__(self) -> None:
        self.close()  # before the TextIOWrapper is collected and closes a caller's file

    def __enter__(self) -> Receivers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_receivers(
    source: str | os.PathLike[str] | BinaryIO, *, max_rows: int = 2_000_000
) -> tuple[CsvLayout, Receivers]:
    """Detect the layout of ``source`` and return it with a lazy row iterator.

    ``source`` is a path or a binary file object, read from its start
    (non-seekable streams are spooled to a temporary file first; a caller's
    file object is never closed). Raises :class:`CsvError`, also later while
    iterating (malformed row, more than ``max_rows`` rows).
    """
    if isinstance(source, (str, os.PathLike)):
        raw: BinaryIO = open(source, "rb")
        owned = True
    else:
        raw, owned = _seekable(source)
    text: io.TextIOWrapper | None = None
    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        if text is not None and not owned:
            text.detach()  # leave the caller's file open
        elif text is not None:
            text.close()
        elif owned:
            raw.close()

    try:
        encoding = _scan(raw)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        first = _first_line(text)
        if first is None:
            raise CsvError("receivers CSV is empty")
        delimiter = _detect_delimiter(first)
        reader = csv.reader(
            itertools.chain((first,), text),
            delimiter=delimiter or _SINGLE,
            skipinitialspace=True,
            strict=False,
        )
        row0 = [v.strip() for v in _next_row(reader)]
        columns, number_column, has_header = _header(row0)
    except BaseException:
        close()
        raise
    layout = CsvLayout(columns, number_column, delimiter, encoding, has_header)
    rows = _rows(reader, columns, None if has_header else row0, max_rows, close)
    return layout, Receivers(rows, reader, close)


def _seekable(source: IO[bytes]) -> tuple[BinaryIO, bool]:
    if source.seekable():
        return source, False  # type: ignore[return-value]
    spool = tempfile.TemporaryFile()
    while chunk := source.read(_CHUNK):
        spool.write(chunk)
    return spool, True  # type: ignore[return-value]


def _scan(raw: BinaryIO) -> str:
    """Pick the encoding and reject binary content in one pass over the bytes."""
    raw.seek(0)
    chunk = raw.read(_CHUNK)
    if not chunk:
        raise CsvError("receivers CSV is empty")
    if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if chunk.startswith(b"PK\x03\x04"):
        raise CsvError("receivers document is a ZIP/XLSX file, not CSV text: export it as CSV")
    if chunk.startswith(b"\x1f\x8b"):
        raise CsvError("receivers document is gzip-compressed, not CSV text")
    sample = chunk[:65536]
    if len(sample) - len(sample.translate(None, _CONTROLS)) > len(sample) // 100 + 1:
        raise CsvError("receivers document looks binary (control characters), not CSV text")
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = is_cp1252 = True
    line = 0  # length of the line running across chunk boundaries
    while chunk:
        if b"\0" in chunk:
            raise CsvError("receivers document looks binary (NUL bytes), not CSV text")
        if is_utf8:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                is_utf8 = False
        if is_cp1252 and not is_utf8 and any(b in chunk for b in _CP1252_HOLES):
            is_cp1252 = False
        # Lines wholly inside a chunk are shorter than _CHUNK <= _MAX_LINE.
        first = min((i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0), default=-1)
        if first < 0:
            line += len(chunk)
        else:
            line += first
            if line <= _MAX_LINE:
                line = len(chunk) - 1 - max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if line > _MAX_LINE:
            raise CsvError("receivers document has a line longer than 1 MB; is it really CSV?")
        chunk = raw.read(_CHUNK)
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if is_utf8:
        raw.seek(0)
        return "utf-8-sig" if raw.read(3) == codecs.BOM_UTF8 else "utf-8"
    return "cp1252" if is_cp1252 else "latin-1"


def _first_line(text: io.TextIOWrapper) -> str | None:
    try:
        for line in text:
            if line.strip():
                return line
    except UnicodeDecodeError as exc:
        raise CsvError(f"receivers CSV is not valid text ({exc.reason})") from None
    return None


def _detect_delimiter(line: str) -> str:
    bare = _QUOTED.sub("", line)
    counts = {d: bare.count(d) for d in ";\t,"}  # ties favour ; then tab
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ""


def _next_row(reader: Iterator[list[str]]) -> list[str]:
    try:
        return next(reader)
    except csv.Error as exc:
        raise CsvError(f"receivers CSV line 1: {exc}") from None


def _name_key(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in folded if c.isalnum() and not unicodedata.combining(c))


def _looks_like_phone(value: str) -> bool:
    return bool(_PHONE.fullmatch(value)) and sum(c.isdigit() for c in value) >= 6


def _header(row: list[str]) -> tuple[list[str], str, bool]:
    known = [(_NUMBER_RANK[k], i) for i, v in enumerate(row) if (k := _name_key(v)) in _NUMBER_RANK]
    phones = [i for i, v in enumerate(row) if _looks_like_phone(v)]
    if not known and phones:
        columns = [str(i + 1) for i in range(len(row))]
        return columns, columns[phones[0]], False
    columns = [v or str(i + 1) for i, v in enumerate(row)]
    seen: dict[str, str] = {}
    for name in columns:
        key = name.casefold()
        if key in seen:
            raise CsvError(f"receivers CSV has two columns named {seen[key]!r} and {name!r}")
        seen[key] = name
    number = columns[min(known)[1]] if known else columns[0]
    return columns, number, True


def _row_builder(columns: list[str]) -> Callable[[list[str]], dict[str, str] | None]:
    """Compile ``row -> {column: value.strip()}`` (None if all blank) for this width.

    Generated like ``namedtuple`` does: the source holds only generated
    identifiers, column names are bound as closure variables. About twice as
    fast as ``dict(zip(columns, map(str.strip, row)))``.
    """
    n = len(columns)
    names = ", ".join(f"k{i}" for i in range(n))
    values = "; ".join(f"v{i} = r[{i}].strip()" for i in range(n))
    test = " or ".join(f"v{i}" for i in range(n))
    pairs = ", ".join(f"k{i}: v{i}" for i in range(n))
    source = (
        f"def make({names}):\n"
        f"    def build(r):\n"
        f"        {values}\n"
        f"        if {test}:\n"
        f"            return {{{pairs}}}\n"
        f"        return None\n"
        f"    return build\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - no user text in the source
    return namespace["make"](*columns)  # type: ignore[no-any-return]


def _rows(
    reader: Iterator[list[str]],
    columns: list[str],
    first: list[str] | None,
    max_rows: int,
    close: Callable[[], None],
) -> Iterator[dict[str, str]]:
    width = len(columns)
    build = _row_builder(columns)
    count = 0
    source = itertools.chain((first,), reader) if first is not None else reader
    try:
        for row in source:
            if len(row) != width:
                if not row:
                    continue  # blank line
                row = _fit(row, width, reader)
            values = build(row)
            if values is None:
                continue  # only separators / spaces
            count += 1
            if count > max_rows:
                raise CsvError(f"receivers CSV has more than {max_rows:,} rows")
            yield values
    except csv.Error as exc:
        line = reader.line_num  # type: ignore[attr-defined]
        raise CsvError(f"receivers CSV line {line}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CsvError(f"receivers CSV is not valid text ({exc.reason})") from None
    finally:
        close()


def _fit(row: list[str], width: int, reader: Iterator[list[str]]) -> list[str]:
    if len(row) < width:
        return row + [""] * (width - len(row))
    if any(v.strip() for v in row[width:]):
        line = reader.line_num  # type: ignore[attr-defined]
        raise CsvError(
            f"receivers CSV line {line} has {len(row)} fields but the header has {width}"
            " (unquoted separator in a value?)"
        )
    return row[:width]
