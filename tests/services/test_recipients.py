"""Pricing receivers (services/recipients.py): numbers, allowed countries, dedupe, mail merge, parts per route."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from textos.config import Settings
from textos.domain.encoding import Concatenation
from textos.domain.errors import BadRequest
from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.services import recipients
from textos.services.recipients import Recipients, Texts, describe_text, price
from textos.storage.message_rows import Row

SETTINGS = Settings(credit_rates={"gb": 2.5})
ALLOWED = frozenset({"FR", "GB"})


def _price(recipients: Recipients, message: str = "hi", texts: Texts | None = None, **kw):  # type: ignore[no-untyped-def]
    rows: list[Row] = []
    priced = price(recipients, message, kw.pop("stop_clause", ""), kw.pop("allowed", ALLOWED), SETTINGS, texts or Texts(),
                   rows.extend, report_limit=kw.pop("report_limit", 100), **kw)
    return priced, rows


@settings(derandomize=True, max_examples=200, database=None)
@given(st.lists(st.text(max_size=16), max_size=20))
def test_pricing_never_loses_nor_duplicates_a_receiver(raw):
    try:
        priced, rows = _price(Recipients.of_list(raw))
    except BadRequest:
        priced, rows = None, []
    numbers = [r[0] for r in rows]
    assert len(set(numbers)) == len(numbers)
    for item in raw:
        try:
            receiver = parse_receiver(item, "FR")
        except InvalidReceiver:
            continue
        if receiver.country in ALLOWED:
            assert receiver.e164 in numbers
    if priced is not None:
        assert priced.count == len(rows) and priced.rows_read == len(raw)
        assert len(priced.invalid) == priced.invalid_count


def test_rows_carry_parts_and_the_rate_of_their_country():
    priced, rows = _price(Recipients.of_list(["+33612345678", "+447400123456", "0612345678", "nope"]))
    assert rows == [
        ("+33612345678", "FR", None, "7bits", 2, 1, 1000),
        ("+447400123456", "GB", None, "7bits", 2, 1, 2500),
    ]
    assert (priced.count, priced.total_milli, priced.rows_read, priced.invalid, priced.job_text) == (2, 3500, 4, ["nope"], "hi")


def test_report_limit_bounds_the_lists_not_the_rows():
    priced, rows = _price(Recipients.of_list([f"+3361234{i:04d}" for i in range(5)] + ["x", "y"]), report_limit=2)
    assert len(rows) == 5 and priced.count == 5
    assert priced.valid_sample == ["+33612340000", "+33612340001"] and priced.invalid == ["x", "y"]


def test_the_route_is_asked_only_for_long_texts():
    asked: list[str] = []

    def concat_for(e164: str) -> Concatenation:
        asked.append(e164)
        return Concatenation.UDH16

    texts = Texts(concat_for)
    assert texts.describe("short", "+33612345678").parts == 1
    assert asked == []
    assert texts.describe("a" * 306, "+33612345678").parts == 3
    assert asked == ["+33612345678"]
    assert Texts().describe("a" * 306, "+33612345678").parts == 2


def test_sar_parts_hold_what_udh8_parts_hold():
    assert Texts(lambda e164: Concatenation.SAR).describe("a" * 306, "+33612345678").parts == 2


def test_mail_merge_renders_and_prices_each_receiver():
    rows_in = [{"number": "+33612345678", "name": "Anne"}, {"number": "+33612345679", "name": "Łucja"}]
    recipients = Recipients(iter(rows_in), "number", ["number", "name"])
    priced, rows = _price(recipients, "Bonjour #name#, " + "x" * 60, stop_clause="!")
    assert [r[2] for r in rows] == ["Bonjour Anne, " + "x" * 60 + "!", "Bonjour Łucja, " + "x" * 60 + "!"]
    assert [(r[3], r[5], r[6]) for r in rows] == [("7bits", 1, 1000), ("unicode", 2, 2000)]
    assert priced.job_text == "Bonjour #name#, " + "x" * 60 + "!"


@pytest.mark.parametrize(
    "rows_in, message, refusal",
    [
        ([{"number": "+33612345678", "name": ""}], "Hi #name#", "message: "),
        ([{"number": "+33612345678", "name": "A"}], "Hi #town#", "message: "),
        ([{"number": "nope", "name": "A"}], "Hi", "csv: no valid receiver"),
    ],
)
def test_document_refusals_name_the_field(rows_in, message, refusal):
    with pytest.raises(BadRequest) as caught:
        _price(Recipients(iter(rows_in), "number", ["number", "name"], field="csv"), message)
    assert caught.value.message.startswith(refusal)


def test_texts_beyond_255_parts_are_refused():
    with pytest.raises(BadRequest, match="256 parts"):
        describe_text("a" * (152 * 255 + 1), Concatenation.UDH16)
    assert describe_text("a" * (152 * 255 + 1)).parts == 254


def test_progress_may_stop_pricing(monkeypatch):
    monkeypatch.setattr(recipients, "PROGRESS_EVERY", 0.0)

    def progress(rows: int) -> None:
        raise RuntimeError(f"stopped at {rows}")

    numbers = [f"+3361{i:07d}" for i in range(45_000)]
    with pytest.raises(RuntimeError, match=f"stopped at {recipients.CHUNK}"):
        _price(Recipients.of_list(numbers), progress=progress)
