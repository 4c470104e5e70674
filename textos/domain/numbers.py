"""Receivers: parse what users type (``+33…``, ``0033…``, national) into E.164."""

from __future__ import annotations

from dataclasses import dataclass

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
