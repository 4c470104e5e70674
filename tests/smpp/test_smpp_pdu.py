"""PDU codec round trips, UDH/SAR, receipt text, message ids."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textos.smpp.receipt_text import MessageState
from textos.smpp import pdu as P
from textos.smpp import udh
from textos.smpp.message_id import message_id_variants, normalize_message_id
from textos.smpp.receipt_text import parse_receipt_text

cstr = lambda n: st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=n)  # noqa: E731
octet = st.integers(0, 255)
tlvs = st.dictionaries(st.integers(0x0001, 0xFFFF), st.binary(max_size=20), max_size=4)

short_messages = st.builds(
    P.ShortMessage,
    command_id=st.sampled_from([P.CommandId.SUBMIT_SM, P.CommandId.DELIVER_SM]),
    sequence=st.integers(1, 0x7FFFFFFF),
    service_type=cstr(5),
    source_addr_ton=octet,
    source_addr_npi=octet,
    source_addr=cstr(20),
    dest_addr_ton=octet,
    dest_addr_npi=octet,
    destination_addr=cstr(20),
    esm_class=octet,
    protocol_id=octet,
    priority_flag=octet,
    schedule_delivery_time=cstr(16),
    validity_period=cstr(16),
    registered_delivery=octet,
    replace_if_present_flag=octet,
    data_coding=octet,
    sm_default_msg_id=octet,
    short_message=st.binary(max_size=254),
    tlvs=tlvs,
)
binds = st.builds(
    P.Bind,
    command_id=st.sampled_from([P.CommandId.BIND_TRANSCEIVER, P.CommandId.BIND_RECEIVER, P.CommandId.BIND_TRANSMITTER]),
    sequence=st.integers(1, 0x7FFFFFFF),
    system_id=cstr(15),
    password=cstr(8),
    system_type=cstr(12),
    interface_version=octet,
    addr_ton=octet,
    addr_npi=octet,
    address_range=cstr(40),
)
resps = st.builds(
    P.MessageResp,
    command_id=st.sampled_from([P.CommandId.SUBMIT_SM_RESP, P.CommandId.DELIVER_SM_RESP]),
    status=st.sampled_from(list(P.Status)),
    sequence=st.integers(1, 0x7FFFFFFF),
    message_id=cstr(64),
)
empties = st.builds(
    P.Empty,
    command_id=st.sampled_from([P.CommandId.ENQUIRE_LINK, P.CommandId.UNBIND_RESP, P.CommandId.GENERIC_NACK]),
    status=st.sampled_from(list(P.Status)),
    sequence=st.integers(1, 0x7FFFFFFF),
)
bind_resps = st.builds(
    P.BindResp,
    command_id=st.sampled_from([P.CommandId.BIND_TRANSCEIVER_RESP, P.CommandId.BIND_RECEIVER_RESP]),
    sequence=st.integers(1, 0x7FFFFFFF),
    system_id=cstr(15),
    tlvs=tlvs,
)


@settings(max_examples=300)
@given(st.one_of(short_messages, binds, resps, empties, bind_resps))
def test_round_trip(pdu):
    data = P.encode(pdu)
    assert struct.unpack(">I", data[:4])[0] == len(data)
    assert P.decode(data) == pdu


def test_known_bytes_enquire_link():
    assert P.encode(P.Empty(P.CommandId.ENQUIRE_LINK, 0, 7)) == bytes.fromhex("00000010 00000015 00000000 00000007")


def test_truncated_and_unknown():
    body = P.short_message_body(P.ShortMessage(P.CommandId.SUBMIT_SM, short_message=b"hello"))
    with pytest.raises(P.PduError):
        P.decode_body(P.CommandId.SUBMIT_SM, 0, 1, body[:-3])
    assert isinstance(P.decode_body(0x00000102, 0, 1, b"xx"), P.Raw)
    assert P.status_name(0x58) == "ESME_RTHROTTLED"
    assert P.status_name(0x400) == "0x00000400"


@given(st.integers(0, 0xFFFF), st.integers(1, 255), st.booleans())
def test_udh_round_trip(ref, total, ref16):
    seq = total
    header = udh.build_udh(ref, total, seq, ref16=ref16)
    h, payload = udh.split_udh(header + b"abc")
    assert payload == b"abc"
    assert udh.parse_udh(h) == udh.Concat(ref & (0xFFFF if ref16 else 0xFF), total, seq)
    assert udh.parse_sar(udh.sar_tlvs(ref, total, seq)) == udh.Concat(ref, total, seq)


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


def test_message_id_variants():
    assert message_id_variants("1a2b") == {"1a2b", "6699"}
    assert "1a2b" in message_id_variants("0000006699")
    assert normalize_message_id(" 00ABC ") == "abc"
    assert message_id_variants("msg-xyz") == {"msg-xyz"}


@given(st.integers(0, 0xFFFFFFFF))
def test_message_id_hex_decimal_meet(n):
    hex_form, dec_form = format(n, "x"), str(n)
    assert normalize_message_id(hex_form) in message_id_variants(dec_form)
    assert normalize_message_id(dec_form) in message_id_variants(hex_form)


def test_data_sm_round_trip():
    pdu = P.ShortMessage(
        P.CommandId.DATA_SM, 7, "", 1, 1, "33612345678", 0, 1, "36111", esm_class=0x04, registered_delivery=0, data_coding=8,
        tlvs={P.Tag.MESSAGE_PAYLOAD: "héllo".encode("utf-16-be"), P.Tag.RECEIPTED_MESSAGE_ID: b"1a2b\0"},
    )
    back = P.decode(P.encode(pdu))
    assert isinstance(back, P.ShortMessage) and back.command_id == P.CommandId.DATA_SM
    assert (back.sequence, back.source_addr, back.destination_addr, back.esm_class, back.data_coding) == (7, "33612345678", "36111", 4, 8)
    assert back.tlvs == pdu.tlvs and back.short_message == b""
    with pytest.raises(P.PduError):
        P.decode_body(P.CommandId.DATA_SM, 0, 1, b"\0\x01\x01336")  # source address never terminated
