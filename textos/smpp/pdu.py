"""SMPP 3.4 PDU codec: command ids, status codes, TLVs and the PDUs Textos uses.

Plain functions over ``bytes`` (no I/O).  ``encode(pdu)`` / ``decode(data)`` handle the
whole PDU; the hot paths (``submit_sm`` bodies, ``*_resp`` parsing) are also exposed as
small helpers so the session layer does no more work than it must.

Supported: bind_transmitter/receiver/transceiver (+resp), submit_sm (+resp),
deliver_sm (+resp), data_sm_resp, enquire_link (+resp), unbind (+resp), generic_nack.
Anything else decodes to ``Raw`` (header + body) so the session can answer
``generic_nack`` / ``ESME_RINVCMDID``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "CommandId",
    "Status",
    "Tag",
    "HEADER",
    "PduError",
    "Bind",
    "BindResp",
    "ShortMessage",
    "MessageResp",
    "Empty",
    "Raw",
    "Pdu",
    "encode",
    "decode",
    "encode_tlvs",
    "decode_tlvs",
    "short_message_body",
    "status_name",
]

HEADER = struct.Struct(">IIII")
"""command_length, command_id, command_status, sequence_number."""

MAX_PDU_LENGTH = 70_000
"""Longest PDU accepted (message_payload can hold 64 KiB)."""


class CommandId(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


RESPONSE_BIT = 0x80000000


class Status(IntEnum):
    """command_status values (SMPP 3.4 §5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED`` for 0x58, ``0x00000400`` for vendor codes."""
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08X}"


class Tag(IntEnum):
    """Optional parameter tags used here (SMPP 3.4 §5.3.2)."""

    USER_MESSAGE_REFERENCE = 0x0204
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    PAYLOAD_TYPE = 0x0019
    RECEIPTED_MESSAGE_ID = 0x001E
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MESSAGE_STATE = 0x0427


class PduError(ValueError):
    """A malformed PDU; ``status`` is the command_status to answer with."""

    def __init__(self, message: str, status: int = Status.ESME_RINVCMDLEN) -> None:
        super().__init__(message)
        self.status = status


# ── PDU types ───────────────────────────────────────────────────────────────


@dataclass(slots=True)
class Bind:
    """bind_transmitter / bind_receiver / bind_transceiver."""

    command_id: int
    sequence: int = 0
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    status: int = 0


@dataclass(slots=True)
class BindResp:
    command_id: int
    status: int = 0
    sequence: int = 0
    system_id: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class ShortMessage:
    """submit_sm or deliver_sm (same body layout), or data_sm: its body lacks the
    scheduling, validity and short_message fields (the text is in ``message_payload``)."""

    command_id: int
    sequence: int = 0
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)
    status: int = 0


@dataclass(slots=True)
class MessageResp:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp (a message_id, maybe empty)."""

    command_id: int
    status: int = 0
    sequence: int = 0
    message_id: str = ""


@dataclass(slots=True)
class Empty:
    """Header-only PDUs: enquire_link(+resp), unbind(+resp), generic_nack."""

    command_id: int
    status: int = 0
    sequence: int = 0


@dataclass(slots=True)
class Raw:
    """A PDU this codec does not model (header + raw body)."""

    command_id: int
    status: int = 0
    sequence: int = 0
    body: bytes = b""


Pdu = Bind | BindResp | ShortMessage | MessageResp | Empty | Raw

_BINDS = {CommandId.BIND_RECEIVER, CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSCEIVER}
_BIND_RESPS = {c | RESPONSE_BIT for c in _BINDS}
_SHORT_MESSAGES = {CommandId.SUBMIT_SM, CommandId.DELIVER_SM}
_MESSAGE_RESPS = {CommandId.SUBMIT_SM_RESP, CommandId.DELIVER_SM_RESP, CommandId.DATA_SM_RESP}
_EMPTIES = {
    CommandId.ENQUIRE_LINK,
    CommandId.ENQUIRE_LINK_RESP,
    CommandId.UNBIND,
    CommandId.UNBIND_RESP,
    CommandId.GENERIC_NACK,
}

# ── field helpers ───────────────────────────────────────────────────────────

_TLV = struct.Struct(">HH")
_SM_FIXED = struct.Struct(">BBB")  # after dest: esm_class, protocol_id, priority_flag
_SM_FLAGS = struct.Struct(">BBBBB")  # registered .. sm_length


def _cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def _read_cstr(data: bytes, pos: int, limit: int = 66) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0 or end - pos >= limit + 1:
        raise PduError("C-octet string not terminated", Status.ESME_RINVMSGLEN)
    return data[pos:end].decode("latin-1"), end + 1


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(_TLV.pack(tag, len(v)) + v for tag, v in tlvs.items())


def decode_tlvs(data: bytes, pos: int = 0) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    end = len(data)
    while pos < end:
        if pos + 4 > end:
            raise PduError("truncated TLV", Status.ESME_RINVOPTPARSTREAM)
        tag, length = _TLV.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise PduError("TLV overruns PDU", Status.ESME_RINVPARLEN)
        tlvs[tag] = data[pos : pos + length]
        pos += length
    return tlvs


def _addresses(pdu: ShortMessage) -> bytes:
    """service_type, source and destination: how every short message body begins."""
    return b"".join(
        (
            _cstr(pdu.service_type),
            bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
            _cstr(pdu.source_addr),
            bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)),
            _cstr(pdu.destination_addr),
        )
    )


def data_sm_body(pdu: ShortMessage) -> bytes:
    """Encode the body of a data_sm (SMPP 3.4 §4.7.1)."""
    return b"".join(
        (
            _addresses(pdu),
            bytes((pdu.esm_class, pdu.registered_delivery, pdu.data_coding)),
            encode_tlvs(pdu.tlvs) if pdu.tlvs else b"",
        )
    )


def _decode_data_sm(status: int, seq: int, b: bytes) -> ShortMessage:
    try:
        service_type, p = _read_cstr(b, 0, 6)
        src_ton, src_npi = b[p], b[p + 1]
        source, p = _read_cstr(b, p + 2, 65)
        dst_ton, dst_npi = b[p], b[p + 1]
        destination, p = _read_cstr(b, p + 2, 65)
        esm_class, registered, dcs = b[p], b[p + 1], b[p + 2]
    except IndexError as exc:
        raise PduError("truncated data_sm", Status.ESME_RINVCMDLEN) from exc
    tlvs = decode_tlvs(b, p + 3) if p + 3 < len(b) else {}
    return ShortMessage(
        CommandId.DATA_SM, seq, service_type, src_ton, src_npi, source, dst_ton, dst_npi, destination,
        esm_class=esm_class, registered_delivery=registered, data_coding=dcs, tlvs=tlvs, status=status,
    )


def short_message_body(pdu: ShortMessage) -> bytes:
    """Encode the body of a submit_sm / deliver_sm (everything after the header)."""
    if pdu.command_id == CommandId.DATA_SM:
        return data_sm_body(pdu)
    sm = pdu.short_message
    if len(sm) > 254:
        raise PduError("short_message longer than 254 octets", Status.ESME_RINVMSGLEN)
    return b"".join(
        (
            _addresses(pdu),
            _SM_FIXED.pack(pdu.esm_class, pdu.protocol_id, pdu.priority_flag),
            _cstr(pdu.schedule_delivery_time),
            _cstr(pdu.validity_period),
            _SM_FLAGS.pack(
                pdu.registered_delivery,
                pdu.replace_if_present_flag,
                pdu.data_coding,
                pdu.sm_default_msg_id,
                len(sm),
            ),
            sm,
            encode_tlvs(pdu.tlvs) if pdu.tlvs else b"",
        )
    )


def _decode_short_message(command_id: int, status: int, seq: int, b: bytes) -> ShortMessage:
    find = b.find
    try:
        e1 = find(b"\0", 0)
        p = e1 + 3
        e2 = find(b"\0", p)
        p2 = e2 + 3
        e3 = find(b"\0", p2)
        p3 = e3 + 4
        e4 = find(b"\0", p3)
        e5 = find(b"\0", e4 + 1)
        if min(e1, e2, e3, e4, e5) < 0:
            raise PduError("C-octet string not terminated", Status.ESME_RINVMSGLEN)
        esm_class, protocol_id, priority = _SM_FIXED.unpack_from(b, e3 + 1)
        reg, replace, dcs, default_id, sm_len = _SM_FLAGS.unpack_from(b, e5 + 1)
        p = e5 + 6
        if p + sm_len > len(b):
            raise PduError("short_message overruns PDU", Status.ESME_RINVMSGLEN)
        return ShortMessage(
            command_id,
            seq,
            b[:e1].decode("latin-1"),
            b[e1 + 1],
            b[e1 + 2],
            b[e1 + 3 : e2].decode("latin-1"),
            b[e2 + 1],
            b[e2 + 2],
            b[e2 + 3 : e3].decode("latin-1"),
            esm_class,
            protocol_id,
            priority,
            b[p3:e4].decode("latin-1"),
            b[e4 + 1 : e5].decode("latin-1"),
            reg,
            replace,
            dcs,
            default_id,
            b[p : p + sm_len],
            decode_tlvs(b, p + sm_len) if p + sm_len < len(b) else {},
            status,
        )
    except (IndexError, struct.error) as exc:
        raise PduError("truncated short message PDU", Status.ESME_RINVCMDLEN) from exc


# ── encode / decode ─────────────────────────────────────────────────────────


def _body(pdu: Pdu) -> bytes:
    if isinstance(pdu, ShortMessage):
        return short_message_body(pdu)
    if isinstance(pdu, MessageResp):
        return _cstr(pdu.message_id)
    if isinstance(pdu, Empty):
        return b""
    if isinstance(pdu, Bind):
        return b"".join(
            (
                _cstr(pdu.system_id),
                _cstr(pdu.password),
                _cstr(pdu.system_type),
                bytes((pdu.interface_version, pdu.addr_ton, pdu.addr_npi)),
                _cstr(pdu.address_range),
            )
        )
    if isinstance(pdu, BindResp):
        return _cstr(pdu.system_id) + encode_tlvs(pdu.tlvs)
    if isinstance(pdu, Raw):
        return pdu.body
    raise TypeError(f"not a PDU: {pdu!r}")


def encode(pdu: Pdu) -> bytes:
    """The PDU as it goes on the wire (header included)."""
    body = _body(pdu)
    return HEADER.pack(16 + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


def decode(data: bytes) -> Pdu:
    """Decode one complete PDU (``len(data) == command_length``)."""
    if len(data) < 16:
        raise PduError("PDU shorter than its header")
    length, command_id, status, seq = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError("command_length does not match the data")
    return decode_body(command_id, status, seq, bytes(data[16:]))


def decode_body(command_id: int, status: int, seq: int, body: bytes) -> Pdu:
    """Decode a PDU from its header fields and body."""
    if command_id in _MESSAGE_RESPS:
        # a failed *_resp may carry no body at all
        message_id = body[: body.find(b"\0")].decode("latin-1") if body else ""
        return MessageResp(command_id, status, seq, message_id)
    if command_id in _SHORT_MESSAGES:
        return _decode_short_message(command_id, status, seq, body)
    if command_id == CommandId.DATA_SM:
        return _decode_data_sm(status, seq, body)
    if command_id in _EMPTIES:
        return Empty(command_id, status, seq)
    if command_id in _BINDS:
        try:
            system_id, p = _read_cstr(body, 0, 16)
            password, p = _read_cstr(body, p, 9)
            system_type, p = _read_cstr(body, p, 13)
            version, ton, npi = body[p], body[p + 1], body[p + 2]
            address_range, p = _read_cstr(body, p + 3, 41)
        except IndexError as exc:
            raise PduError("truncated bind") from exc
        return Bind(command_id, seq, system_id, password, system_type, version, ton, npi, address_range, status)
    if command_id in _BIND_RESPS:
        if not body:
            return BindResp(command_id, status, seq)
        system_id, p = _read_cstr(body, 0, 16)
        return BindResp(command_id, status, seq, system_id, decode_tlvs(body, p))
    return Raw(command_id, status, seq, body)
