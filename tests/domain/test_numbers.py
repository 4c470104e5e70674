"""Receivers: every way people write a number normalises to one E.164, and the fast path agrees with phonenumbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from textos.domain.numbers import FastReceivers, InvalidReceiver, filter_number, parse_receiver


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


# --------------------------------------------------------------------------- FastReceivers

PREFIXES = ["+33", "0033", "0", "", "+44", "+353", "+34", "+39", "+48", "+1", "+330", "33", "+", "00", "+262", "+49", "+7"]
SEPARATORS = ["", " ", ".", "-", "(", ")", "/"]


def _outcome(fn, raw: str):  # type: ignore[no-untyped-def]
    try:
        return fn(raw)
    except InvalidReceiver:
        return "invalid"


numbers = st.builds(
    lambda prefix, digits, sep, pad: pad + prefix + sep.join(digits[i : i + 2] for i in range(0, len(digits), 2)) + pad,
    st.sampled_from(PREFIXES),
    st.text(alphabet="0123456789", min_size=0, max_size=14),
    st.sampled_from(SEPARATORS),
    st.sampled_from(["", " ", "\t"]),
)


@settings(max_examples=3000, deadline=None)
@given(numbers, st.sampled_from(["FR", "GB", "ES"]))
def test_fast_path_agrees_with_phonenumbers(raw: str, region: str) -> None:
    fast = FastReceivers(region)
    assert _outcome(fast.parse, raw) == _outcome(lambda r: parse_receiver(r, region), raw)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=20))
def test_fast_path_agrees_on_any_text(raw: str) -> None:
    assert _outcome(FastReceivers("FR").parse, raw) == _outcome(parse_receiver, raw)


def test_common_forms_take_the_fast_path() -> None:
    fast = FastReceivers("FR")
    for raw in ["+33612345678", "0612345678", "06 12 34 56 78", "06.12.34.56.78", "0033612345678", "+34612345678"]:
        assert fast.fast(raw) is not None, raw
    assert fast.parse("+447400123456").country == "GB"  # multi-region code: phonenumbers decides
    assert fast.slow == 1


def test_a_filter_number_is_read_as_e164_when_it_is_one_else_kept_as_given():
    assert [filter_number(x) for x in ("0612345678", "+33612345678", "Shop", "36111")] == ["+33612345678", "+33612345678", "Shop", "36111"]
