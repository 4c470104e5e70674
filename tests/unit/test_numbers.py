"""Receivers: every way people write a number normalises to one E.164."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.services.sending import sort_receivers


@pytest.mark.parametrize(
    "raw, e164, country",
    [
        ("+33612345678", "+33612345678", "FR"),
        ("0033612345678", "+33612345678", "FR"),
        ("0612345678", "+33612345678", "FR"),
        ("06 12 34 56 78", "+33612345678", "FR"),
        ("06.12.34.56.78", "+33612345678", "FR"),
        ("+44 7400 123456", "+447400123456", "GB"),
        ("+34 612 34 56 78", "+34612345678", "ES"),
        ("+48 512 345 678", "+48512345678", "PL"),
    ],
)
def test_formats(raw, e164, country):
    receiver = parse_receiver(raw, "FR")
    assert (receiver.e164, receiver.country) == (e164, country)


@pytest.mark.parametrize("raw", ["", "abc", "+33", "123", "+336123456789999", "06123"])
def test_invalid(raw):
    with pytest.raises(InvalidReceiver):
        parse_receiver(raw, "FR")


@settings(derandomize=True, max_examples=300, database=None)
@given(st.integers(min_value=0, max_value=9_999_999), st.sampled_from(["60", "61", "62", "66", "68", "73", "75", "78"]), st.sampled_from(["+33{}", "0033{}", "0{}", "+33 {}"]))
def test_french_mobiles_in_any_format_normalise_identically(n, lead, fmt):
    national = f"{lead}{n:07d}"
    raw = fmt.format(national)
    assert parse_receiver(raw, "FR").e164 == f"+33{national}"


@settings(derandomize=True, max_examples=200, database=None)
@given(st.lists(st.text(max_size=16), max_size=20))
def test_sorting_never_loses_nor_duplicates(raw):
    valid, invalid = sort_receivers(raw, ["FR", "GB"], "FR")
    assert len({v for v, _ in valid}) == len(valid)
    assert len(valid) + len(invalid) <= len(raw)
    valid_numbers = {v for v, _ in valid}
    for item in raw:
        if item not in invalid:
            assert parse_receiver(item, "FR").e164 in valid_numbers
