"""Receipts in SMPP's words: the text form (read in any field order, written in the
standard one), the ``stat:`` spellings and the message_state TLV values."""

from __future__ import annotations

import datetime as dt

import pytest

from textos.smpp.receipt_text import (
    MESSAGE_STATE,
    STATE_CODE,
    MessageState,
    format_receipt_text,
    parse_receipt_date,
    parse_receipt_text,
    receipt_date,
    state_of,
)


def test_receipt_text_forms():
    r = parse_receipt_text(
        "id:0123456789 sub:001 dlvrd:001 submit date:2506011200 done date:2506011201 stat:DELIVRD err:000 text:Hi there"
    )
    assert r and r.message_id == "0123456789" and r.state is MessageState.DELIVERED and r.error == "000"
    assert r.done_at and r.done_at.minute == 1 and r.text == "Hi there"
    odd = parse_receipt_text("ID:abc stat:UNDELIV err:34 done date:250601120059")
    assert odd and odd.message_id == "abc" and odd.state is MessageState.UNDELIVERABLE and odd.error == "34"
    assert odd.done_at and odd.done_at.second == 59
    assert parse_receipt_text("hello") is None


@pytest.mark.parametrize("state", list(MessageState))
def test_what_is_written_reads_back(state):
    when = dt.datetime(2031, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    text = format_receipt_text("1a2b", state, submit_date=receipt_date(when), done_date=receipt_date(when), error="034", text="Bonjour")
    back = parse_receipt_text(text)
    assert back is not None
    assert (back.message_id, back.state, back.error, back.done_at, back.text) == ("1a2b", state, "034", when, "Bonjour")
    assert back.dlvrd == ("001" if state is MessageState.DELIVERED else "000")


def test_receipt_dates_are_utc_minutes():
    paris = dt.timezone(dt.timedelta(hours=2))
    assert receipt_date(dt.datetime(2031, 2, 3, 6, 5, 59, tzinfo=paris)) == "3102030405"
    assert parse_receipt_date("3102030405") == dt.datetime(2031, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert parse_receipt_date("31020304") is None and parse_receipt_date("3113030405") is None


@pytest.mark.parametrize(
    "stat, state",
    [("DELIVRD", MessageState.DELIVERED), ("delivered", MessageState.DELIVERED), ("FAILED", MessageState.UNDELIVERABLE),
     ("REJECTD", MessageState.REJECTED), ("ACCEPTED", MessageState.ACCEPTED), ("whatever", MessageState.UNKNOWN)],
)
def test_stat_spellings(stat, state):
    assert state_of(stat) is state


def test_message_state_tlv_values():
    assert MESSAGE_STATE[2] is MessageState.DELIVERED and MESSAGE_STATE[5] is MessageState.UNDELIVERABLE
    assert {STATE_CODE[s] for s in MessageState} == set(range(1, 9))
