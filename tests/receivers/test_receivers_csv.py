"""Streaming receivers CSV reader."""

from __future__ import annotations

import csv
import io
import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textos.receivers.receivers_csv import CsvError, read_receivers


def read(data: bytes, **kw: int) -> tuple[object, list[dict[str, str]]]:
    layout, rows = read_receivers(io.BytesIO(data), **kw)
    with rows:
        return layout, list(rows)


def test_cookbook_header_with_spaces() -> None:
    data = "Numero ;nom ;prenom ;adresse\n0662000000 ;Durant ;Pierre ;xx rue montaigne Paris\n"
    layout, rows = read(data.encode())
    assert layout.columns == ["Numero", "nom", "prenom", "adresse"]  # type: ignore[attr-defined]
    assert layout.number_column == "Numero" and layout.has_header  # type: ignore[attr-defined]
    assert rows == [
        {"Numero": "0662000000", "nom": "Durant", "prenom": "Pierre", "adresse": "xx rue montaigne Paris"}
    ]


@pytest.mark.parametrize(
    ("header", "number"),
    [
        ("nom;NUMBER;x", "NUMBER"),
        ("nom;Téléphone;x", "Téléphone"),
        ("nom; Mobile ;x", "Mobile"),
        ("nom;phone_number;x", "phone_number"),
        ("tel;number;x", "number"),  # "number" wins over other known names
        ("nom;prenom;ville", "nom"),  # nothing known: first column
        ("MSISDN", "MSISDN"),
    ],
)
def test_number_column_choice(header: str, number: str) -> None:
    layout, _ = read(f"{header}\n".encode())
    assert layout.number_column == number  # type: ignore[attr-defined]


def test_headerless_csv_columns_by_position() -> None:
    layout, rows = read(b"+33612345678;Jean\n06 12 34 56 79;Paul\n")
    assert not layout.has_header  # type: ignore[attr-defined]
    assert layout.columns == ["1", "2"] and layout.number_column == "1"  # type: ignore[attr-defined]
    assert rows == [{"1": "+33612345678", "2": "Jean"}, {"1": "06 12 34 56 79", "2": "Paul"}]
    layout, rows = read(b"Jean;0612345678\n")
    assert layout.number_column == "2"  # type: ignore[attr-defined]


def test_plain_text_lists() -> None:
    layout, rows = read(b"number\r\n+33612345678\r\n\r\n+33612345679\r\n")
    assert layout.delimiter == "" and layout.has_header  # type: ignore[attr-defined]
    assert rows == [{"number": "+33612345678"}, {"number": "+33612345679"}]
    layout, rows = read(b"+33612345678\n  +33612345679  \n")
    assert not layout.has_header and [r["1"] for r in rows] == ["+33612345678", "+33612345679"]  # type: ignore[attr-defined]


def test_delimiters_quotes_blank_rows() -> None:
    _, rows = read(b'number,name\n\n+336,"a, b"\n  , \n,,\n+337,"x ""y"""\n')
    assert rows == [{"number": "+336", "name": "a, b"}, {"number": "+337", "name": 'x "y"'}]
    layout, rows = read(b"number\tname\n+336\tJ\xc3\xa9r\xc3\xb4me\n")
    assert layout.delimiter == "\t" and rows == [{"number": "+336", "name": "Jérôme"}]  # type: ignore[attr-defined]
    layout, _ = read(b'number;"a,b";c\n')
    assert layout.delimiter == ";"  # type: ignore[attr-defined]


def test_short_and_long_rows() -> None:
    _, rows = read(b"number;a;b\n+336;x\n+337;y;z;;\n")
    assert rows == [{"number": "+336", "a": "x", "b": ""}, {"number": "+337", "a": "y", "b": "z"}]
    with pytest.raises(CsvError, match="line 3 has 4 fields but the header has 3"):
        read(b"number;a;b\n+336;x;y\n+337;y;z;boom\n")


def test_header_problems() -> None:
    with pytest.raises(CsvError, match="two columns named 'nom' and 'NOM'"):
        read(b"number;nom;NOM\n")
    layout, _ = read(b"number;nom;\n")
    assert layout.columns == ["number", "nom", "3"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n ;\n"[:5]]
)
def test_empty(data: bytes) -> None:
    with pytest.raises(CsvError, match="receivers CSV is empty"):
        read(data)


def test_encodings() -> None:
    layout, rows = read("number;nom\n+336;Zoé\n".encode("utf-8-sig"))
    assert layout.encoding == "utf-8-sig" and rows[0]["nom"] == "Zoé"  # type: ignore[attr-defined]
    layout, rows = read("number;nom\n+336;Zoé – œ €\n".encode("cp1252"))
    assert layout.encoding == "cp1252" and rows[0]["nom"] == "Zoé – œ €"  # type: ignore[attr-defined]
    layout, rows = read(b"number;nom\n+336;\x81\xe9\n")
    assert layout.encoding == "latin-1" and rows[0]["nom"] == "\x81é"  # type: ignore[attr-defined]
    layout, rows = read("number\tnom\r\n+336\tZoé\r\n".encode("utf-16"))
    assert layout.encoding == "utf-16" and rows == [{"number": "+336", "nom": "Zoé"}]  # type: ignore[attr-defined]


def test_latin1_decided_over_the_whole_file() -> None:
    """An invalid UTF-8 byte far down the file switches the whole file to cp1252."""
    data = b"number;nom\n" + b"+33612345678;Jose\n" * 150_000 + "+33612345679;José\n".encode("latin-1")
    assert len(data) > 2 * 1024 * 1024
    layout, rows = read(data)
    assert layout.encoding == "cp1252" and rows[-1]["nom"] == "José"  # type: ignore[attr-defined]
    assert len(rows) == 150_001


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (random.Random(7).randbytes(10 * 1024 * 1024), "binary"),
        (b"number\n+336\n" + b"\0" * 10, "binary"),
        (b"number\n" + b"+336\n" * 300_000 + b"\0", "NUL bytes"),
        (b"PK\x03\x04" + b"x" * 100, "ZIP/XLSX"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (bytes(random.Random(8).choices(range(32, 256), k=3 * 1024 * 1024)), "longer than 1 MB"),
    ],
)
def test_garbage_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(CsvError, match=message):
        read(data)


def test_max_rows() -> None:
    layout, rows = read_receivers(io.BytesIO(b"number\n1\n2\n3\n4\n"), max_rows=3)
    assert next(rows) == {"number": "1"}
    assert rows.line_num == 2
    with pytest.raises(CsvError, match="more than 3 rows"):
        list(rows)


def test_path_source_streams_with_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with path.open("w") as f:
        f.write("number;prenom\n")
        for i in range(120_000):
            f.write(f"+3361234{i:05d};P{i}\n")
    tracemalloc.start()
    try:
        layout, rows = read_receivers(path)
        count = sum(1 for _ in rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 120_000 and layout.number_column == "number"  # type: ignore[attr-defined]
    assert peak < 3 * 1024 * 1024, peak  # file is 2.5 MB, rows ~ 25 MB as dicts


def test_caller_file_left_open_and_non_seekable_source() -> None:
    buf = io.BytesIO(b"number\n+336\n")
    _, rows = read_receivers(buf)
    assert list(rows) == [{"number": "+336"}]
    assert not buf.closed
    layout, rows = read_receivers(buf)  # layout only: rows dropped unread
    del rows
    assert layout.columns == ["number"] and not buf.closed  # type: ignore[attr-defined]

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            n = self._data.readinto(b)
            return n

    layout, rows = read_receivers(io.BufferedReader(Pipe(b"number;x\n+336;y\n")))  # type: ignore[arg-type]
    assert list(rows) == [{"number": "+336", "x": "y"}]


_VALUE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(list(';,\t"\r\n #')),
    max_size=12,
)


@settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    delimiter=st.sampled_from([";", ",", "\t"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    width=st.integers(1, 4),
    data=st.data(),
)
def test_roundtrip_property(delimiter: str, quoting: int, width: int, data: st.DataObject) -> None:
    columns = ["number"] + [f"col{i}" for i in range(1, width)]
    rows = data.draw(st.lists(st.lists(_VALUE, min_size=width, max_size=width), max_size=15))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting)
    writer.writerow(columns)
    writer.writerows(rows)
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    layout, got = read(out.getvalue().encode(encoding))
    expected = [dict(zip(columns, (v.strip() for v in r))) for r in rows]
    expected = [r for r in expected if any(r.values())]
    assert layout.columns == columns and layout.number_column == "number"  # type: ignore[attr-defined]
    assert got == expected
