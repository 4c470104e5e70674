"""What an SMSC delivers: receipts (from TLVs, else the text form; the fast path agrees
with the full one) and incoming messages."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from carrier_doubles import Sink, SmppReceipt
from textos.smpp import pdu as P
from textos.smpp.deliver_sm import read_incoming, read_receipt
from textos.smpp.receipt_text import MessageState
from textos.smpp.udh import Concat

TEXT = "id:1a2b sub:001 dlvrd:001 submit date:3102030405 done date:3102030406 stat:{stat} err:{err} text:"


def receipt(stat: str = "DELIVRD", err: str = "000", tlvs: dict | None = None, command: int = P.CommandId.DELIVER_SM) -> P.ShortMessage:
    text = TEXT.format(stat=stat, err=err).encode()
    if command == P.CommandId.DATA_SM:
        return P.ShortMessage(command, esm_class=0x04, tlvs={P.Tag.MESSAGE_PAYLOAD: text, **(tlvs or {})})
    return P.ShortMessage(command, esm_class=0x04, short_message=text, tlvs=tlvs or {})


def read(pdu: P.ShortMessage) -> SmppReceipt | None:
    return read_receipt(pdu, Sink.receipt)


def test_a_delivered_receipt_with_its_tlvs_is_read_without_the_text():
    fast = read(receipt(tlvs={P.Tag.RECEIPTED_MESSAGE_ID: b"1a2b\0", P.Tag.MESSAGE_STATE: b"\x02"}))
    full = read(receipt())
    assert fast is not None and full is not None
    assert (fast.carrier_id, fast.state, fast.error) == (full.carrier_id, full.state, full.error) == ("1a2b", MessageState.DELIVERED, "000")
    assert fast.done_at is not None and full.done_at is not None and full.done_at.minute == 6


@pytest.mark.parametrize("command", [P.CommandId.DELIVER_SM, P.CommandId.DATA_SM])
def test_the_text_form_alone(command):
    r = read(receipt("UNDELIV", "034", command=command))
    assert r is not None and (r.carrier_id, r.state, r.error) == ("1a2b", MessageState.UNDELIVERABLE, "034")


def test_tlvs_win_over_the_text_and_the_network_error_fills_a_blank_err():
    r = read(receipt("DELIVRD", "000", {P.Tag.RECEIPTED_MESSAGE_ID: b"0000006699\0", P.Tag.MESSAGE_STATE: b"\x05",
                                        P.Tag.NETWORK_ERROR_CODE: b"\x03\x00\x22"}))
    assert r is not None and (r.carrier_id, r.state, r.error) == ("0000006699", MessageState.UNDELIVERABLE, "34")


def test_a_receipt_naming_nothing_is_unreadable():
    assert read(P.ShortMessage(P.CommandId.DELIVER_SM, esm_class=0x04, short_message=b"delivered, trust me")) is None


def test_an_incoming_message_and_its_sender():
    pdu = P.ShortMessage(P.CommandId.DELIVER_SM, source_addr_ton=1, source_addr="33612345678", destination_addr="36111",
                         short_message=b"STOP")
    sms = read_incoming(pdu)
    assert (sms.sender, sms.receiver, sms.text, sms.concat) == ("+33612345678", "36111", "STOP", None)
    national = P.ShortMessage(P.CommandId.DELIVER_SM, source_addr_ton=2, source_addr="0612345678", esm_class=0x40,
                              short_message=bytes((5, 0, 3, 9, 2, 2)) + b"fin")
    sms = read_incoming(national)
    assert (sms.sender, sms.text, sms.concat) == ("0612345678", "fin", Concat(9, 2, 2))


udh_like = st.builds(lambda n, iei, length, rest: bytes((n, iei, length)) + rest,
                     st.integers(0, 12), st.sampled_from([0x00, 0x08, 0x05]), st.integers(0, 6), st.binary(max_size=12))


@given(st.one_of(udh_like, st.binary(max_size=40)), st.integers(0, 255), st.sampled_from([0x00, 0x40]))
@example(bytes((5, 0, 3, 9)), 0, 0x40)  # a UDH cut short: it stopped the connection
def test_any_incoming_short_message_reads_as_a_text(data, data_coding, esm_class):
    """Whatever an SMSC puts in a deliver_sm (a UDH cut short, odd UCS-2, bytes above 0x7F in
    GSM 7-bit), it reads as some text: nothing a handset sends can stop the connection."""
    sms = read_incoming(P.ShortMessage(P.CommandId.DELIVER_SM, source_addr="33612345678", esm_class=esm_class,
                                       data_coding=data_coding, short_message=data))
    assert isinstance(sms.text, str)
