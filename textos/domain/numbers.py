"""Receivers: parse what users type (``+33…``, ``0033…``, national) into E.164."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException


@dataclass(frozen=True, slots=True)
class Receiver:
    e164: str
    country: str
    """ISO 3166 alpha-2 region of the number (``FR``)."""


class InvalidReceiver(ValueError):
    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"{raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


def parse_receiver(raw: str, default_region: str = "FR") -> Receiver:
    """Normalise one receiver to E.164, or raise ``InvalidReceiver``."""
    text = str(raw).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        raise InvalidReceiver(raw, str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidReceiver(raw, "not a valid phone number")
    region = phonenumbers.region_code_for_number(number) or ""
    return Receiver(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region)


def is_within(receiver: Receiver, allowed_countries: tuple[str, ...] | list[str]) -> bool:
    return receiver.country.upper() in {c.upper() for c in allowed_countries}


# --------------------------------------------------------------------------- fast path
# ``phonenumbers.parse`` + ``is_valid_number`` cost ~45 µs a number: 45 s for a
# million-row campaign. ``FastReceivers`` decides the common cases (``+CC…``,
# ``00CC…`` and national numbers of the default region, written with digits,
# spaces, dots and dashes only) with libphonenumber's own metadata regexes,
# compiled once per region, and hands anything else to ``parse_receiver``.
# It decides only when the reading is unambiguous (no national prefix phonenumbers
# might strip, or every reading gives the same verdict); anything else goes
# through ``parse_receiver``, so both agree (property-tested with hypothesis).

import re as _re

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

_FAST_SEPARATORS = str.maketrans("", "", " .-")
_DESC_NAMES = (
    "mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
    "uan", "voicemail",
)  # fmt: skip  (validity is "any type matches": the common types first)
_SINGLE_REGION_CC = {
    str(cc): regions[0] for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) == 1 and regions[0] != "001"
}


class _RegionRules:
    """Compiled validity rules of one region: general description, then any number type."""

    __slots__ = ("region", "cc", "general", "types", "prefix", "prefix_re", "_any_type")

    def __init__(self, region: str) -> None:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            raise KeyError(region)
        self.region = region
        self.cc = str(meta.country_code)
        self.general = self._desc(meta.general_desc)
        self.types = [d for d in (self._desc(getattr(meta, n, None)) for n in _DESC_NAMES) if d is not None]
        npfp = meta.national_prefix_for_parsing
        self.prefix_re = _re.compile(npfp) if npfp else None
        # a plain national prefix ("0") with no transform rule can be stripped on the fast path
        simple = npfp is not None and npfp.isdigit() and npfp == meta.national_prefix and not meta.national_prefix_transform_rule
        self.prefix = npfp if simple else None
        self._any_type: dict[int, Any] = {}

    @staticmethod
    def _desc(desc):  # type: ignore[no-untyped-def]
        if desc is None or not desc.national_number_pattern:
            return None
        lengths = frozenset(desc.possible_length or ())
        return lengths, _re.compile(f"(?:{desc.national_number_pattern})").fullmatch

    def matches_general(self, nsn: str) -> bool:
        lengths, match = self.general  # type: ignore[misc]
        return (not lengths or len(nsn) in lengths) and match(nsn) is not None

    def is_valid(self, nsn: str) -> bool:
        general = self.general
        if general is None:
            return False
        lengths, match = general
        n = len(nsn)
        if (lengths and n not in lengths) or match(nsn) is None:
            return False
        try:
            any_type = self._any_type[n]
        except KeyError:
            any_type = self._any_type[n] = self._types_of_length(n)
        return any_type is not None and any_type(nsn) is not None

    def _types_of_length(self, n: int) -> Any:
        """One ``fullmatch`` for "some number type of this length matches" (the types whose
        possible lengths allow ``n``, as one alternation), or None when no type can."""
        patterns = [m.__self__.pattern for lengths, m in self.types if not lengths or n in lengths]
        if not patterns:
            return None
        return _re.compile("|".join(patterns)).fullmatch


INVALID = object()
"""``FastReceivers.decide``: the number is certainly invalid."""


_COMPILED: dict[str, _RegionRules | None] = {}
"""Each region's rules, compiled once per process (a parser is made per job: its making costs nothing)."""


class FastReceivers:
    """``parse_receiver`` with a fast path; ``parse(raw)`` returns a :class:`Receiver` or raises."""

    def __init__(self, default_region: str = "FR") -> None:
        self.default_region = default_region
        self._rules = _COMPILED
        self.slow = 0
        self._home = self._rules_for(default_region.upper())

    def _rules_for(self, region: str) -> _RegionRules | None:
        if region not in self._rules:
            try:
                self._rules[region] = _RegionRules(region)
            except KeyError:
                self._rules[region] = None
        return self._rules[region]

    def fast(self, raw: str) -> Receiver | None:
        """The receiver when the fast path can prove it valid, else None (undecided)."""
        receiver = self.decide(raw)
        return receiver if isinstance(receiver, Receiver) else None

    def decide(self, raw: str) -> Receiver | object | None:
        """A :class:`Receiver`, ``INVALID`` when provably invalid, or None (undecided)."""
        found = self.decide_pair(raw)
        if found is None or found is INVALID:
            return found
        return Receiver(*found)  # type: ignore[misc]

    def decide_pair(self, raw: str) -> tuple[str, str] | object | None:
        """:meth:`decide` for hot loops: ``(e164, region)`` instead of a :class:`Receiver`."""
        text = raw.strip().translate(_FAST_SEPARATORS)
        if text[:1] == "+":
            digits = text[1:]
        elif text[:2] == "00":
            digits = text[2:]
        else:
            return self._national(text)
        if not (digits.isdigit() and digits.isascii()) or digits[:1] == "0":
            return None
        for n in (1, 2, 3):
            region = _SINGLE_REGION_CC.get(digits[:n])
            if region is not None:
                break
        else:
            return None
        rules = self._rules_for(region)
        if rules is None:
            return None
        nsn = digits[len(rules.cc) :]
        if rules.prefix_re is not None and rules.prefix_re.match(nsn):
            # phonenumbers may strip a national prefix here: decide only if no reading is valid
            if rules.prefix is None or not nsn.startswith(rules.prefix):
                return None
            if rules.is_valid(nsn) or rules.is_valid(nsn[len(rules.prefix) :]):
                return None
            return INVALID
        if rules.is_valid(nsn):
            return ("+" + digits, region)
        return INVALID

    def _national(self, digits: str) -> tuple[str, str] | object | None:
        rules = self._home
        if rules is None or not (digits.isdigit() and digits.isascii()) or digits.startswith(rules.cc):
            return None
        if rules.prefix_re is not None and rules.prefix_re.match(digits):
            if rules.prefix is None or not digits.startswith(rules.prefix):
                return None
            stripped = digits[len(rules.prefix) :]
            _lengths, match = rules.general  # type: ignore[misc]
            valid_stripped = rules.is_valid(stripped)
            if match(digits) is None and valid_stripped:
                return ("+" + rules.cc + stripped, rules.region)
            if not valid_stripped and not rules.is_valid(digits):
                return INVALID
            return None
        if rules.is_valid(digits):
            return ("+" + rules.cc + digits, rules.region)
        return INVALID

    def parse(self, raw: str) -> Receiver:
        receiver = self.decide(str(raw))
        if receiver is INVALID:
            raise InvalidReceiver(raw, "not a valid phone number")
        if receiver is not None:
            return receiver  # type: ignore[return-value]
        self.slow += 1
        return parse_receiver(raw, self.default_region)


def filter_number(raw: str, default_region: str = "FR") -> str:
    """A number given as a filter (``sender``, ``receiver``), as stored: E.164 when it reads as one
    (``0612…`` → ``+33612…``), else as given (an alphanumeric sender, a short number)."""
    try:
        return parse_receiver(raw, default_region).e164
    except InvalidReceiver:
        return raw
