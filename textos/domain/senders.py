"""Sender rules: what kind of sender a string is, and whether it is well formed."""

from __future__ import annotations

import re

ALPHA_MAX = 11
_ALPHA = re.compile(r"[A-Za-z0-9 .\-_&']{1,11}")


def sender_type(sender: str) -> str:
    """``sms.TypeSenderEnum`` of a sender: shortcode, numeric or alpha."""
    digits = sender[1:] if sender.startswith("+") else sender
    if digits.isdigit():
        return "shortcode" if len(digits) <= 6 and not sender.startswith("+") else "numeric"
    return "alpha"


def check_sender(sender: str) -> str | None:
    """The reason ``sender`` is malformed, or None when it is fine."""
    if not sender or sender != sender.strip():
        return "must not be empty nor start or end with a space"
    kind = sender_type(sender)
    if kind == "alpha":
        if len(sender) > ALPHA_MAX:
            return f"an alphanumeric sender has at most {ALPHA_MAX} characters"
        if not _ALPHA.fullmatch(sender) or not any(c.isalpha() for c in sender):
            return "an alphanumeric sender uses letters, digits, spaces and . - _ & ' and has a letter"
    elif len(sender.lstrip("+")) > 15:
        return "a numeric sender has at most 15 digits"
    return None
