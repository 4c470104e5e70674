"""GSM 03.38 / UCS-2 encoding, segment counting and splitting (3GPP TS 23.038).

GSM text is counted in septets (an extension-table character costs two: ESC
plus its code); any other text travels as UCS-2 and is counted in UTF-16 code
units (a character outside the BMP costs two). Concatenated parts never split
an escape pair or a surrogate pair.

Characters no network delivers are refused before anything is charged
(``check_characters``): control characters other than the three GSM 03.38 itself
carries (line feed, carriage return, and form feed, its extension table's page
break), DEL, the C1 controls and the noncharacters U+FFFE and U+FFFF.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from enum import Enum

from textos.domain.errors import BadRequest

__all__ = [
    "UNSENDABLE",
    "Concatenation",
    "Encoding",
    "TextInfo",
    "analyze",
    "check_characters",
    "decode_gsm7",
    "decode_ucs2",
    "detect_encoding",
    "encode",
    "encode_gsm7",
    "encode_ucs2",
    "first_unsendable",
    "is_gsm7",
    "pack_septets",
    "split",
    "unpack_septets",
]


class Encoding(str, Enum):
    """How the text travels: GSM 03.38 default alphabet (7-bit) or UCS-2."""

    GSM7 = "7bits"
    UCS2 = "unicode"


GSM_SINGLE = 160
GSM_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67


class Concatenation(str, Enum):
    """How the parts of a long message are tied together; it decides how much each part holds.

    An 8-bit reference UDH takes 6 octets of the 140 (153 septets, 67 UCS-2 units left);
    a 16-bit one 7 octets (152 septets, 66 units). SAR sends the reference in TLVs, and the
    SMSC adds an 8-bit UDH on the air, so its parts hold what ``udh8`` parts hold.
    """

    UDH8 = "udh8"
    UDH16 = "udh16"
    SAR = "sar"

    @property
    def gsm_part(self) -> int:
        return GSM_MULTI - 1 if self is Concatenation.UDH16 else GSM_MULTI

    @property
    def ucs2_part(self) -> int:
        return UCS2_MULTI - 1 if self is Concatenation.UDH16 else UCS2_MULTI

ESC = 0x1B

UNSENDABLE = re.compile("[\x00-\x09\x0b\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
"""Characters no network delivers: C0 controls but LF, CR and FF (GSM 03.38 has those three),
DEL, C1 controls, and the noncharacters U+FFFE and U+FFFF."""

#: Basic table, indexed by septet value. 0x1B is the escape, never a character.
BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Extension table: character -> code following ESC.
EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
assert len(BASIC_TABLE) == 128

_BASIC_CHARS = frozenset(BASIC_TABLE) - {"\x1b"}
_EXT_CHARS = frozenset(EXTENSION_TABLE)
GSM_CHARS = _BASIC_CHARS | _EXT_CHARS

# Fast paths. ASCII text is checked with bytes.translate (a C table lookup).
_ASCII_GSM = bytes(sorted(ord(c) for c in GSM_CHARS if c.isascii()))
_ASCII_EXT = bytes(sorted(ord(c) for c in _EXT_CHARS if c.isascii()))
_NON_GSM = re.compile("[^" + re.escape("".join(sorted(GSM_CHARS))) + "]")
_EXT_RE = re.compile("[" + re.escape("".join(sorted(_EXT_CHARS))) + "]")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")

_ENCODE_MAP: dict[int, int | bytes] = {ord(c): i for i, c in enumerate(BASIC_TABLE) if c != "\x1b"}
_ENCODE_MAP.update({ord(c): bytes((ESC, code)) for c, code in EXTENSION_TABLE.items()})
_DECODE_EXT = {code: c for c, code in EXTENSION_TABLE.items()}
# Decoding the basic table: ESC itself is handled before this table is used.
_DECODE_BASIC = BASIC_TABLE[:ESC] + " " + BASIC_TABLE[ESC + 1 :]


@dataclass(frozen=True, slots=True)
class TextInfo:
    """How a text is encoded and how many parts it needs."""

    encoding: Encoding
    characters: int  # septets (GSM, escapes count 2) or UTF-16 units (UCS-2)
    parts: int  # >= 1 (empty text: 1 part, 0 characters)
    max_per_part: int  # 160/153 (GSM) or 70/67 (UCS-2), depending on parts == 1


# TextInfo is immutable, so single-part results are shared (construction is the
# slowest step of `analyze` on short messages).
_GSM_SINGLE_INFO = tuple(TextInfo(Encoding.GSM7, n, 1, GSM_SINGLE) for n in range(GSM_SINGLE + 1))
_UCS2_SINGLE_INFO = tuple(TextInfo(Encoding.UCS2, n, 1, UCS2_SINGLE) for n in range(UCS2_SINGLE + 1))


def _gsm_septets(text: str) -> int | None:
    """Septet count of `text`, or None if it is not GSM 03.38."""
    if text.isascii():
        raw = text.encode("ascii")
        if raw.translate(None, _ASCII_GSM):
            return None
        return 2 * len(raw) - len(raw.translate(None, _ASCII_EXT))
    if _NON_GSM.search(text) is not None:
        return None
    raw = text.encode("utf-8")  # ASCII extension characters stay single bytes
    return len(text) + len(raw) - len(raw.translate(None, _ASCII_EXT)) + text.count("€")


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate counts as one unit instead of raising.
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM 03.38 default alphabet or its extension."""
    return _gsm_septets(text) is not None


def detect_encoding(text: str) -> Encoding:
    """GSM7 if the text fits the default alphabet, else UCS2."""
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _part_starts(text: str, wide: re.Pattern[str], limit: int) -> list[int]:
    """Greedy packing: start index of each part when wide characters cost 2."""
    positions = [m.start() for m in wide.finditer(text)]
    if not positions:
        return list(range(0, len(text), limit))
    starts = []
    n = len(text)
    start = 0
    k = 0  # index into positions of the first wide char at or after `start`
    while start < n:
        starts.append(start)
        # Each wide char inside the window pulls its end one step back.
        end = start + limit
        while k < len(positions) and positions[k] < end:
            end -= 1
            if positions[k] == end:
                break  # the pair would straddle the boundary: it opens the next part
            k += 1
        start = end
    return starts


def _fits(characters: int, encoding: Encoding) -> bool:
    return characters <= (GSM_SINGLE if encoding is Encoding.GSM7 else UCS2_SINGLE)


def analyze(text: str, concat: Concatenation = Concatenation.UDH8) -> TextInfo:
    """Encoding, length in septets/UTF-16 units, and number of parts when long parts are
    tied with ``concat``: the one count that estimates, charges and submissions use."""
    septets = _gsm_septets(text)
    if septets is not None:
        if septets <= GSM_SINGLE:
            return _GSM_SINGLE_INFO[septets]
        limit = concat.gsm_part
        if septets == len(text):
            parts = -(-septets // limit)
        else:
            parts = len(_part_starts(text, _EXT_RE, limit))
        return TextInfo(Encoding.GSM7, septets, parts, limit)
    units = _utf16_units(text)
    if units <= UCS2_SINGLE:
        return _UCS2_SINGLE_INFO[units]
    limit = concat.ucs2_part
    if units == len(text):
        parts = -(-units // limit)
    else:
        parts = len(_part_starts(text, _ASTRAL_RE, limit))
    return TextInfo(Encoding.UCS2, units, parts, limit)


def first_unsendable(text: str) -> tuple[int, str] | None:
    """The first character of ``text`` that no network delivers (``UNSENDABLE``) and its
    position, counted in characters from 1; None when every character can be sent."""
    found = UNSENDABLE.search(text)
    return None if found is None else (found.start() + 1, found.group())


def check_characters(text: str, where: str = "message") -> None:
    """Refuse (``BadRequest``, naming ``where``) a text holding a character no network delivers."""
    found = first_unsendable(text)
    if found is not None:
        position, char = found
        raise BadRequest(
            f"{where}: character U+{ord(char):04X} at position {position} cannot be sent by SMS "
            "(control characters other than line feed, carriage return and form feed, and U+FFFE/U+FFFF, are refused)"
        )


def split(text: str, encoding: Encoding | None = None, concat: Concatenation = Concatenation.UDH8) -> list[str]:
    """Split into the parts a network would send; `[text]` if it fits in one.

    With `encoding=None` the encoding is detected, and the result always has
    `analyze(text, concat).parts` items. Forcing GSM7 on non-GSM text raises ValueError.
    """
    if encoding is None:
        encoding = detect_encoding(text)
    if encoding is Encoding.GSM7:
        characters = _gsm_septets(text)
        if characters is None:
            raise ValueError("text is not GSM 03.38")
        wide, limit = _EXT_RE, concat.gsm_part
    else:
        characters = _utf16_units(text)
        wide, limit = _ASTRAL_RE, concat.ucs2_part
    if _fits(characters, encoding):
        return [text]
    starts = _part_starts(text, wide, limit)
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def encode_gsm7(text: str) -> bytes:
    """One septet per octet (unpacked); extension characters as ESC + code."""
    try:
        return codecs.charmap_encode(text, "strict", _ENCODE_MAP)[0]
    except UnicodeEncodeError as exc:
        raise ValueError(f"not a GSM 03.38 character: {exc.object[exc.start]!r}") from None


def decode_gsm7(data: bytes) -> str:
    """Inverse of `encode_gsm7`. Unknown escapes decode as the basic character
    (TS 23.038 fallback); ESC ESC and a trailing ESC decode as a space.
    """
    if not data.isascii():
        raise ValueError("GSM 7-bit data has a byte above 0x7F")
    data = bytes(data)
    if ESC not in data:
        return codecs.charmap_decode(data, "strict", _DECODE_BASIC)[0]
    out = []
    i = 0
    n = len(data)
    while (j := data.find(ESC, i)) >= 0:
        out.append(codecs.charmap_decode(data[i:j], "strict", _DECODE_BASIC)[0])
        if j + 1 == n:
            out.append(" ")
            i = n
            break
        code = data[j + 1]
        out.append(_DECODE_EXT.get(code) or _DECODE_BASIC[code])  # ESC ESC -> " "
        i = j + 2
    out.append(codecs.charmap_decode(data[i:], "strict", _DECODE_BASIC)[0])
    return "".join(out)


def pack_septets(data: bytes) -> bytes:
    """Pack septets (one per octet) into GSM 7-bit packed form, LSB first.

    Spare bits of the last octet are zero; the septet count travels separately.
    """
    if not data.isascii():
        raise ValueError("septet above 0x7F")
    value = 0
    for i, septet in enumerate(data):
        value |= septet << (7 * i)
    return value.to_bytes((7 * len(data) + 7) // 8, "little")


def unpack_septets(data: bytes, count: int) -> bytes:
    """Unpack `count` septets from GSM 7-bit packed data."""
    if count < 0 or 7 * count > 8 * len(data):
        raise ValueError(f"{len(data)} octets cannot hold {count} septets")
    value = int.from_bytes(data, "little")
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def encode_ucs2(text: str) -> bytes:
    """UTF-16-BE; characters outside the BMP as surrogate pairs.

    A lone surrogate (e.g. from a JSON "\\ud83d") is passed through as its code
    unit, as UCS-2 carries it, rather than raising.
    """
    return text.encode("utf-16-be", "surrogatepass")


def decode_ucs2(data: bytes) -> str:
    """Inverse of `encode_ucs2`; raises ValueError on an odd number of bytes."""
    if len(data) % 2:
        raise ValueError("UCS-2 data has an odd number of bytes")
    return bytes(data).decode("utf-16-be", "surrogatepass")


def encode(text: str, encoding: Encoding) -> bytes:
    """Encode with the given encoding (GSM7 unpacked, UCS2 as UTF-16-BE)."""
    if encoding is Encoding.GSM7:
        return encode_gsm7(text)
    return encode_ucs2(text)
