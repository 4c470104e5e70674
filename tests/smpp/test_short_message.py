"""The text on the wire: data_coding, parts tied by UDH or SAR as the one splitter
decides them, and reading a text and its place back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation, Encoding
from textos.smpp import pdu as P
from textos.smpp import udh
from textos.smpp.short_message import data_coding_for, decode_short_message, part_bodies, payloads, read_text


@pytest.mark.parametrize(
    "encoding, message_class, dcs",
    [(Encoding.GSM7, None, 0x00), (Encoding.UCS2, None, 0x08), (Encoding.GSM7, "flash", 0xF0), (Encoding.UCS2, "flash", 0x18),
     (Encoding.GSM7, "phoneDisplay", 0xF1), (Encoding.UCS2, "sim", 0x1A), (Encoding.GSM7, "toolkit", 0xF3)],
)
def test_data_coding_carries_the_alphabet_and_the_class(encoding, message_class, dcs):
    assert data_coding_for(encoding, message_class) == dcs
    assert decode_short_message(enc.encode("Ça va [€]", encoding), dcs) == "Ça va [€]"


def test_other_data_codings_decode():
    assert decode_short_message(b"caf\xe9", 0x03) == "café"
    assert decode_short_message(b"hello", 0x01) == "hello"
    with pytest.raises(ValueError):
        decode_short_message(b"\xff", 0x00)


texts = st.text(st.sampled_from("abc €[é😀 "), min_size=0, max_size=500)


@settings(max_examples=150)
@given(texts, st.sampled_from(list(Concatenation)))
def test_as_many_parts_as_charged_and_they_fit(text, concat):
    info = enc.analyze(text, concat)
    parts = payloads(text, info.encoding, concat)
    assert len(parts) == info.parts
    if len(parts) > 1:  # each part leaves room for its UDH (SAR: for the one the SMSC adds)
        septets = [len(p) for p in parts] if info.encoding is Encoding.GSM7 else None
        assert all(n <= concat.gsm_part for n in septets) if septets else all(len(p) <= 2 * concat.ucs2_part for p in parts)
    assert "".join(enc.decode_gsm7(p) if info.encoding is Encoding.GSM7 else enc.decode_ucs2(p) for p in parts) == text


@pytest.mark.parametrize("concat", list(Concatenation))
def test_parts_are_tied_and_read_back(concat):
    text = "Réponse 😀 " * 20
    parts = payloads(text, Encoding.UCS2, concat)
    pdu = P.ShortMessage(P.CommandId.DELIVER_SM, source_addr="33612345678", destination_addr="36111", data_coding=0x08)
    bodies = part_bodies(pdu, parts, 0x1234, concat)
    read = [read_text(P.decode_body(P.CommandId.DELIVER_SM, 0, 1, body)) for body in bodies]  # type: ignore[arg-type]
    assert "".join(t for t, _ in read) == text
    ref = 0x34 if concat is Concatenation.UDH8 else 0x1234
    assert [c for _, c in read] == [udh.Concat(ref, len(parts), i) for i in range(1, len(parts) + 1)]


def test_a_single_part_has_no_header_and_no_place():
    pdu = P.ShortMessage(P.CommandId.SUBMIT_SM, destination_addr="33611223344")
    [body] = part_bodies(pdu, [b"Hello"], 0, Concatenation.UDH8)
    back = P.decode_body(P.CommandId.SUBMIT_SM, 0, 1, body)
    assert isinstance(back, P.ShortMessage)
    assert (back.esm_class, back.short_message, back.tlvs) == (0, b"Hello", {})
    assert read_text(back) == ("Hello", None)


def test_text_in_message_payload_and_undecodable_text():
    data_sm = P.ShortMessage(P.CommandId.DATA_SM, data_coding=0x08, tlvs={P.Tag.MESSAGE_PAYLOAD: "salut".encode("utf-16-be")})
    assert read_text(data_sm) == ("salut", None)
    binary = P.ShortMessage(P.CommandId.DELIVER_SM, data_coding=0x00, short_message=b"\xe9t\xe9")
    assert read_text(binary) == ("été", None)  # not GSM: read as latin-1 rather than lost
