"""Tests for textos.domain.encoding (GSM 03.38 / UCS-2 counting and splitting)."""

from __future__ import annotations

import dataclasses

import gsm0338
import pytest
import smsutil
from hypothesis import given, settings
from hypothesis import strategies as st

from textos.domain.errors import BadRequest
from textos.domain.encoding import (
    BASIC_TABLE,
    EXTENSION_TABLE,
    Concatenation,
    Encoding,
    TextInfo,
    analyze,
    check_characters,
    decode_gsm7,
    decode_ucs2,
    detect_encoding,
    encode,
    encode_gsm7,
    encode_ucs2,
    first_unsendable,
    is_gsm7,
    pack_septets,
    split,
    unpack_septets,
)

BASIC = [c for c in BASIC_TABLE if c != "\x1b"]
EXT = list(EXTENSION_TABLE)
EMOJI = "\U0001f600"  # 😀, two UTF-16 units

PROPS = settings(derandomize=True, database=None, max_examples=150, deadline=None)


def septets(text: str) -> int:
    """Reference count, one character at a time."""
    return sum(2 if c in EXTENSION_TABLE else 1 for c in text)


def units(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def cost(text: str, encoding: Encoding) -> int:
    return septets(text) if encoding is Encoding.GSM7 else units(text)


gsm_chars = st.one_of(st.sampled_from(BASIC), st.sampled_from(EXT))  # extension chars ~50%
gsm_text = st.text(alphabet=gsm_chars, max_size=500)
# Lone surrogates are covered by test_decode_ucs2 (two of them can pair up on decode).
any_chars = st.one_of(st.characters(exclude_categories=["Cs"]), st.sampled_from([EMOJI, "\U0001d11e", "é", "ç", "€", "a"]))
any_text = st.text(alphabet=any_chars, max_size=300)
# Texts that smsutil treats like we do: no ESC character (it counts '\x1b' as GSM).
bmp_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_characters="\x1b"), min_size=1, max_size=300)
mixed_text = st.one_of(gsm_text, any_text)


# --- counting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "parts"),
    [
        ("", Encoding.GSM7, 0, 1),
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("a" * 459, Encoding.GSM7, 459, 3),
        ("a" * 460, Encoding.GSM7, 460, 4),
        ("€", Encoding.GSM7, 2, 1),
        ("a" * 158 + "€", Encoding.GSM7, 160, 1),
        ("a" * 159 + "€", Encoding.GSM7, 161, 2),
        ("€" * 80, Encoding.GSM7, 160, 1),
        ("€" * 81, Encoding.GSM7, 162, 2),
        # 153 septets fit 76 '€' (152); 2 parts hold 152, the 153rd needs a third.
        ("€" * 152, Encoding.GSM7, 304, 2),
        ("€" * 153, Encoding.GSM7, 306, 3),
        ("ç" * 70, Encoding.UCS2, 70, 1),
        ("ç" * 71, Encoding.UCS2, 71, 2),
        ("ç" * 134, Encoding.UCS2, 134, 2),
        ("ç" * 135, Encoding.UCS2, 135, 3),
        (EMOJI * 35, Encoding.UCS2, 70, 1),
        (EMOJI * 36, Encoding.UCS2, 72, 2),
        # A 67-unit part holds 33 emoji (66 units).
        (EMOJI * 66, Encoding.UCS2, 132, 2),
        (EMOJI * 67, Encoding.UCS2, 134, 3),
        ("Ç", Encoding.GSM7, 1, 1),
        ("ç", Encoding.UCS2, 1, 1),
        ("`", Encoding.UCS2, 1, 1),
        ("\x1b", Encoding.UCS2, 1, 1),
        ("hello\tworld", Encoding.UCS2, 11, 1),
        ("{[~^|\\]}\f", Encoding.GSM7, 18, 1),
        ("ΔΦΓΛΩΠΨΣΘΞ", Encoding.GSM7, 10, 1),
    ],
)
def test_analyze(text: str, encoding: Encoding, characters: int, parts: int) -> None:
    info = analyze(text)
    expected_max = (160 if parts == 1 else 153) if encoding is Encoding.GSM7 else (70 if parts == 1 else 67)
    assert info == TextInfo(encoding, characters, parts, expected_max)
    assert detect_encoding(text) is encoding
    assert is_gsm7(text) is (encoding is Encoding.GSM7)
    assert len(split(text)) == parts


def test_packing_is_greedy_not_ceil() -> None:
    # 458 septets: ceil(458 / 153) = 3, but every boundary falls inside an
    # escape pair, so each part holds 152 and a fourth part is needed.
    text = "a" * 152 + "€" + "b" * 150 + "€" + "c" * 150 + "€"
    assert septets(text) == 458
    assert analyze(text).parts == 4
    assert split(text) == ["a" * 152, "€" + "b" * 150, "€" + "c" * 150, "€"]
    # Same for UCS-2: 134 units, ceil(134 / 67) = 2, but both boundaries fall
    # inside a surrogate pair.
    text = "a" * 66 + EMOJI + "b" * 64 + EMOJI
    assert analyze(text) == TextInfo(Encoding.UCS2, 134, 3, 67)
    assert split(text) == ["a" * 66, EMOJI + "b" * 64, EMOJI]


def test_escape_is_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = split(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert [septets(p) for p in parts] == [152, 12]
    # One earlier, the pair fits exactly in the first part.
    text = "a" * 151 + "€" + "b" * 10
    assert split(text) == ["a" * 151 + "€", "b" * 10]


def test_surrogate_pair_is_never_split_across_parts() -> None:
    text = "a" * 66 + EMOJI + "b" * 10
    assert split(text) == ["a" * 66, EMOJI + "b" * 10]
    text = "a" * 65 + EMOJI + "b" * 10
    assert split(text) == ["a" * 65 + EMOJI, "b" * 10]
    assert analyze("a" * 66 + EMOJI + "b" * 67).parts == 3


def test_split_returns_text_when_it_fits() -> None:
    assert split("") == [""]
    assert split("hello") == ["hello"]
    assert split("a" * 158 + "€") == ["a" * 158 + "€"]


def test_split_forced_encoding() -> None:
    text = "a" * 100  # GSM, 1 part; as UCS-2 it needs 2
    assert split(text, Encoding.UCS2) == ["a" * 67, "a" * 33]
    assert split(text, Encoding.GSM7) == [text]
    with pytest.raises(ValueError):
        split("ç", Encoding.GSM7)


def test_text_info_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        analyze("hi").parts = 2  # type: ignore[misc]


def test_encoding_values() -> None:
    assert Encoding.GSM7 == "7bits"
    assert Encoding.UCS2 == "unicode"
    assert Encoding("unicode") is Encoding.UCS2


# --- GSM 7-bit codec --------------------------------------------------------


def test_tables() -> None:
    assert len(BASIC) == 127 and len(set(BASIC)) == 127
    assert set(EXT) == set("^{}\\[~]|€\f")
    assert BASIC_TABLE[0x09] == "Ç" and "ç" not in BASIC_TABLE
    assert "`" not in BASIC_TABLE and "`" not in EXT


@pytest.mark.parametrize("char", BASIC + EXT)
def test_every_character_round_trips(char: str) -> None:
    data = encode_gsm7(char)
    assert decode_gsm7(data) == char
    assert len(data) == (2 if char in EXTENSION_TABLE else 1)
    # Independent table (gsm0338 builds its map from Unicode character names).
    assert data == gsm0338.Codec().encode(char)[0]


def test_encode_gsm7_known_bytes() -> None:
    assert encode_gsm7("@£$") == b"\x00\x01\x02"
    assert encode_gsm7("€") == b"\x1b\x65"
    assert encode_gsm7("\f") == b"\x1b\x0a"
    assert encode_gsm7("a{b") == b"a\x1b\x28b"
    assert encode("Hi €", Encoding.GSM7) == b"Hi \x1b\x65"
    assert encode("Hi €", Encoding.UCS2) == b"\x00H\x00i\x00 \x20\xac"


@pytest.mark.parametrize("text", ["ç", "`", "\x1b", "hello 😀", "\t"])
def test_encode_gsm7_rejects_non_gsm(text: str) -> None:
    with pytest.raises(ValueError):
        encode_gsm7(text)


def test_decode_gsm7_fallbacks() -> None:
    assert decode_gsm7(b"\x1bA") == "A"  # unknown escape: basic-table character
    assert decode_gsm7(b"\x1b\x00") == "@"
    assert decode_gsm7(b"\x1b\x1bA") == " A"  # reserved ESC ESC: a space
    assert decode_gsm7(b"ab\x1b") == "ab "  # dangling escape: a space
    assert decode_gsm7(b"") == ""
    with pytest.raises(ValueError):
        decode_gsm7(b"a\x80")


@PROPS
@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)))
def test_decode_gsm7_never_raises_on_septets(data: bytes) -> None:
    text = decode_gsm7(data)
    assert is_gsm7(text)


@PROPS
@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    data = encode_gsm7(text)
    assert decode_gsm7(data) == text
    assert len(data) == analyze(text).characters == septets(text)
    assert encode(text, Encoding.GSM7) == data


# --- UCS-2 codec ------------------------------------------------------------


@PROPS
@given(any_text)
def test_ucs2_round_trip(text: str) -> None:
    data = encode_ucs2(text)
    assert decode_ucs2(data) == text
    assert len(data) == 2 * units(text)
    if not is_gsm7(text):
        assert analyze(text).characters == units(text)


def test_decode_ucs2() -> None:
    assert decode_ucs2(b"\xd8\x3d\xde\x00") == EMOJI
    with pytest.raises(ValueError):
        decode_ucs2(b"\x00a\x00")
    # Lone surrogates pass through both ways (UCS-2 carries code units as-is).
    assert decode_ucs2(b"\xd8\x3d") == "\ud83d"
    assert encode_ucs2("\ud83d") == b"\xd8\x3d"


# --- septet packing ---------------------------------------------------------


def test_pack_known_vector() -> None:
    # The classic TS 23.038 example.
    assert pack_septets(b"hellohello") == bytes.fromhex("E8329BFD4697D9EC37")
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10) == b"hellohello"
    assert pack_septets(b"") == b""
    assert len(pack_septets(b"a" * 8)) == 7
    with pytest.raises(ValueError):
        pack_septets(b"\x80")
    with pytest.raises(ValueError):
        unpack_septets(b"\x00" * 7, 9)


@PROPS
@given(st.lists(st.integers(0, 0x7F), max_size=200).map(bytes))
def test_pack_round_trip(data: bytes) -> None:
    packed = pack_septets(data)
    assert len(packed) == (7 * len(data) + 7) // 8
    assert unpack_septets(packed, len(data)) == data


# --- split properties -------------------------------------------------------


@PROPS
@given(mixed_text)
def test_split_properties(text: str) -> None:
    info = analyze(text)
    parts = split(text)
    assert "".join(parts) == text
    assert len(parts) == info.parts
    assert info.characters == cost(text, info.encoding)
    assert all(cost(p, info.encoding) <= info.max_per_part for p in parts)
    if len(parts) > 1:
        assert info.characters > (160 if info.encoding is Encoding.GSM7 else 70)
        # Greedy: the next part's first character would not have fit.
        for part, following in zip(parts, parts[1:]):
            assert part and following
            assert cost(part + following[0], info.encoding) > info.max_per_part
    else:
        assert info.max_per_part in (160, 70)


# --- oracle: smsutil --------------------------------------------------------
# smsutil packs greedily with the same limits, keeps escape and surrogate pairs
# whole, so parts agree exactly. Known, intended differences, kept out of the
# generated texts: smsutil treats '\x1b' as a GSM character (we do not: it is
# the escape, not text), and the empty string is UCS-2 for smsutil (GSM7 here).


@PROPS
@given(st.text(alphabet=gsm_chars, min_size=1, max_size=500))
def test_oracle_smsutil_gsm(text: str) -> None:
    result = smsutil.split(text)
    assert result.encoding == "gsm0338"
    assert [p.content for p in result.parts] == split(text)
    assert result.total_bytes == analyze(text).characters


@PROPS
@given(bmp_text)
def test_oracle_smsutil_bmp(text: str) -> None:
    result = smsutil.split(text)
    info = analyze(text)
    assert (result.encoding == "gsm0338") is (info.encoding is Encoding.GSM7)
    assert [p.content for p in result.parts] == split(text)
    if info.encoding is Encoding.UCS2:
        assert result.total_bytes == 2 * info.characters


@PROPS
@given(st.text(alphabet=st.sampled_from(["a", "é", "ж", EMOJI, "\U0001d11e"]), min_size=1, max_size=300))
def test_oracle_smsutil_astral(text: str) -> None:
    assert [p.content for p in smsutil.split(text).parts] == split(text)


# --- concatenation decides how much each part holds


@pytest.mark.parametrize(
    ("text", "udh8", "udh16", "sar"),
    [
        ("a" * 306, 2, 3, 2),  # 153 septets per part with an 8-bit reference, 152 with a 16-bit one
        ("a" * 304, 2, 2, 2),
        ("ж" * 134, 2, 3, 2),  # UCS-2: 67 units per part, 66 with a 16-bit reference
        ("ж" * 132, 2, 2, 2),
        ("a" * 160, 1, 1, 1),  # one part needs no header
    ],
)
def test_parts_depend_on_the_concatenation(text: str, udh8: int, udh16: int, sar: int) -> None:
    for concat, parts in ((Concatenation.UDH8, udh8), (Concatenation.UDH16, udh16), (Concatenation.SAR, sar)):
        assert analyze(text, concat).parts == parts
        assert len(split(text, concat=concat)) == parts
        assert "".join(split(text, concat=concat)) == text


# --- characters no network delivers


UNSENDABLE_CHARS = [chr(c) for c in (*range(0x00, 0x0A), 0x0B, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0xFFFE, 0xFFFF)]


@pytest.mark.parametrize("char", UNSENDABLE_CHARS, ids=[f"U+{ord(c):04X}" for c in UNSENDABLE_CHARS])
def test_control_characters_and_noncharacters_are_refused_by_code_point_and_position(char: str) -> None:
    assert first_unsendable(f"Hello{char} you") == (6, char)
    with pytest.raises(BadRequest) as caught:
        check_characters(f"Hi ж{char}")
    assert caught.value.message.startswith(f"message: character U+{ord(char):04X} at position 5 ")
    assert caught.value.status == 400


def test_the_controls_gsm_carries_are_sent_and_so_is_any_other_character() -> None:
    assert first_unsendable("line\nfeed\r\nform\ffeed") is None  # LF, CR; FF is GSM's page break
    assert all(first_unsendable(c) is None for c in [*BASIC, *EXT])  # the whole GSM alphabet
    assert first_unsendable("Żółć 😀 \u00a0\ufffd\U0001fffe") is None  # UCS-2 text, NBSP, replacement char
    check_characters("Bonjour\nSTOP 36111")


def test_only_the_first_unsendable_character_is_named() -> None:
    with pytest.raises(BadRequest, match=r"^sms: character U\+0085 at position 2 "):
        check_characters("a\x85b\x00", "sms")
