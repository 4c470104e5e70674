"""User Data Header concatenation (3GPP TS 23.040 §9.2.3.24.1 / .8) and SAR TLVs."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from textos.smpp.pdu import Tag

__all__ = ["Concat", "UDHI", "build_udh", "parse_udh", "sar_tlvs", "parse_sar", "split_udh"]

UDHI = 0x40
"""esm_class bit: short_message starts with a User Data Header."""

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message."""

    ref: int
    total: int
    seq: int
    """1-based."""


def build_udh(ref: int, total: int, seq: int, *, ref16: bool = False) -> bytes:
    """The UDH (length octet included) for part ``seq`` of ``total``."""
    if ref16:
        return bytes((6, IEI_CONCAT_16, 4)) + struct.pack(">HBB", ref & 0xFFFF, total, seq)
    return bytes((5, IEI_CONCAT_8, 3, ref & 0xFF, total, seq))


def split_udh(short_message: bytes) -> tuple[bytes, bytes]:
    """``(udh, payload)`` of a short_message sent with the UDHI bit set."""
    if not short_message:
        return b"", b""
    n = short_message[0] + 1
    return short_message[:n], short_message[n:]


def parse_udh(udh: bytes) -> Concat | None:
    """The concatenation element of a UDH (length octet included), if any; an element cut
    short (the UDH says more octets than it holds) is none."""
    pos, end = 1, min(len(udh), udh[0] + 1) if udh else 0
    while pos + 2 <= end:
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if len(data) < length:
            return None
        if iei == IEI_CONCAT_8 and length == 3:
            return Concat(data[0], data[1], data[2])
        if iei == IEI_CONCAT_16 and length == 4:
            ref, total, seq = struct.unpack(">HBB", data)
            return Concat(ref, total, seq)
        pos += 2 + length
    return None


def sar_tlvs(ref: int, total: int, seq: int) -> dict[int, bytes]:
    """SMPP SAR optional parameters for one part."""
    return {
        Tag.SAR_MSG_REF_NUM: struct.pack(">H", ref & 0xFFFF),
        Tag.SAR_TOTAL_SEGMENTS: bytes((total,)),
        Tag.SAR_SEGMENT_SEQNUM: bytes((seq,)),
    }


def parse_sar(tlvs: dict[int, bytes]) -> Concat | None:
    try:
        ref = int.from_bytes(tlvs[Tag.SAR_MSG_REF_NUM], "big")
        total = tlvs[Tag.SAR_TOTAL_SEGMENTS][0]
        seq = tlvs[Tag.SAR_SEGMENT_SEQNUM][0]
    except (KeyError, IndexError):
        return None
    return Concat(ref, total, seq)
