"""User Data Headers (8- and 16-bit references) and SAR TLVs: what is built reads back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from textos.smpp import udh


@given(st.integers(0, 0xFFFF), st.integers(1, 255), st.booleans())
def test_udh_round_trip(ref, total, ref16):
    seq = total
    header = udh.build_udh(ref, total, seq, ref16=ref16)
    assert len(header) == (7 if ref16 else 6)
    h, payload = udh.split_udh(header + b"abc")
    assert payload == b"abc"
    assert udh.parse_udh(h) == udh.Concat(ref & (0xFFFF if ref16 else 0xFF), total, seq)
    assert udh.parse_sar(udh.sar_tlvs(ref, total, seq)) == udh.Concat(ref, total, seq)


def test_other_information_elements_are_skipped():
    ports = bytes((0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0))  # application port addressing, 16-bit
    header = bytes((len(ports) + 5,)) + ports + bytes((0x00, 0x03, 0x2A, 0x02, 0x01))
    assert udh.parse_udh(header) == udh.Concat(0x2A, 2, 1)
    assert udh.parse_udh(bytes((len(ports),)) + ports) is None
    assert udh.parse_sar({}) is None


def test_an_element_cut_short_is_no_place():
    assert udh.parse_udh(bytes((5, 0, 3, 9))) is None  # says 3 octets of concatenation, holds 1
    assert udh.parse_udh(bytes((6, 8, 4, 1, 2))) is None


@given(st.binary(max_size=12))
def test_any_header_reads_as_a_place_or_none(header):
    assert udh.parse_udh(header) is None or isinstance(udh.parse_udh(header), udh.Concat)
