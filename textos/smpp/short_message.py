"""The text of a short message on the wire: data_coding, the parts of a long text
(tied by a UDH or by SAR TLVs), and reading a text and its place back.

The parts are the ones ``textos.domain.encoding.split`` decides for the carrier's
``Concatenation``, so what goes out is exactly what was counted and charged.
"""

from __future__ import annotations

from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation, Encoding
from textos.smpp import pdu as P
from textos.smpp import udh
from textos.smpp.udh import Concat

__all__ = ["MESSAGE_CLASS", "data_coding_for", "decode_short_message", "part_bodies", "payloads", "read_text"]

MESSAGE_CLASS: dict[str, int] = {"flash": 0, "phoneDisplay": 1, "sim": 2, "toolkit": 3}
"""Message class (OVH's names) → GSM message class, carried in data_coding."""

_UCS2_CODINGS = frozenset((0x08, 0x18, 0x19, 0x1A, 0x1B))


def data_coding_for(encoding: Encoding, message_class: str | None) -> int:
    """GSM default alphabet 0x00 / UCS-2 0x08; with a class: 0xF0|class / 0x18|class."""
    cls = MESSAGE_CLASS.get(message_class or "")
    if encoding is Encoding.UCS2:
        return 0x08 if cls is None else 0x18 | cls
    return 0x00 if cls is None else 0xF0 | cls


def decode_short_message(data: bytes, data_coding: int) -> str:
    """Text of a short_message payload (UDH already removed); ValueError if it does not decode."""
    if data_coding in _UCS2_CODINGS or (data_coding & 0xEC) == 0x08 and data_coding < 0x40:
        return enc.decode_ucs2(data)
    if data_coding == 0x03:
        return data.decode("latin-1")
    if data_coding == 0x01:
        return data.decode("ascii", "replace")
    return enc.decode_gsm7(data)


def payloads(text: str, encoding: Encoding, concat: Concatenation) -> list[bytes]:
    """The encoded text of each part, as many as ``analyze(text, concat).parts``."""
    return [enc.encode(part, encoding) for part in enc.split(text, encoding, concat)]


def part_bodies(pdu: P.ShortMessage, parts: list[bytes], ref: int, concat: Concatenation) -> list[bytes]:
    """The body of ``pdu`` (a submit_sm or deliver_sm) once per part: ``short_message`` is
    the part, behind a UDH (``esm_class`` UDHI) or with SAR TLVs when there are several."""
    total = len(parts)
    if total == 1:
        pdu.short_message = parts[0]
        return [P.short_message_body(pdu)]
    if total > 255:
        raise ValueError("more than 255 parts")
    bodies = []
    for seq, payload in enumerate(parts, 1):
        if concat is Concatenation.SAR:
            pdu.short_message, pdu.tlvs = payload, udh.sar_tlvs(ref, total, seq)
        else:
            pdu.esm_class |= udh.UDHI
            pdu.short_message = udh.build_udh(ref, total, seq, ref16=concat is Concatenation.UDH16) + payload
        bodies.append(P.short_message_body(pdu))
    return bodies


def read_text(pdu: P.ShortMessage) -> tuple[str, Concat | None]:
    """The text of a deliver_sm or data_sm (``message_payload`` when ``short_message`` is
    empty), and its place when it is one part of several (UDH or SAR)."""
    payload, concat = pdu.short_message or pdu.tlvs.get(P.Tag.MESSAGE_PAYLOAD, b""), None
    if pdu.esm_class & udh.UDHI:
        header, payload = udh.split_udh(payload)
        concat = udh.parse_udh(header)
    elif P.Tag.SAR_MSG_REF_NUM in pdu.tlvs:
        concat = udh.parse_sar(pdu.tlvs)
    try:
        text = decode_short_message(payload, pdu.data_coding)
    except ValueError:
        text = payload.decode("latin-1")
    return text, concat if concat is not None and concat.total > 1 else None
