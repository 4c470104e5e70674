"""The PDU codec: round trips of every PDU it models, known bytes, malformed input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textos.smpp import pdu as P

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
