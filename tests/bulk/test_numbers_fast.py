"""dedupe of E.164 numbers."""

from __future__ import annotations

from textos.bulk.numbers_fast import dedupe


def test_first_occurrence_wins_and_order_is_kept() -> None:
    numbers = ["+33612345678", "+447700900123", "+33612345678", "bad", "bad", "+0123", "+0123", ""]
    assert list(dedupe(numbers)) == ["+33612345678", "+447700900123", "bad", "+0123", ""]


def test_key_and_no_collision_between_forms() -> None:
    rows = [{"n": "+33612345678", "i": "1"}, {"n": "33612345678", "i": "2"}, {"n": "+33612345678", "i": "3"}]
    assert [r["i"] for r in dedupe(rows, key=lambda r: r["n"])] == ["1", "2"]
    assert list(dedupe(["+1٣", "+1٣", "+13"])) == ["+1٣", "+13"]  # non-ASCII digits stay strings


def test_many_numbers() -> None:
    numbers = (f"+336{i % 200_000:08d}" for i in range(300_000))
    assert sum(1 for _ in dedupe(numbers)) == 200_000
