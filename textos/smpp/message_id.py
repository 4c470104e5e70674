"""Carrier message ids: one id, several spellings (hex in submit_sm_resp, decimal in receipts...).

Store ids with ``normalize_message_id``; match a receipt by looking up its id first
as-is (normalized), then every form in ``message_id_variants``.
"""

from __future__ import annotations

__all__ = ["normalize_message_id", "message_id_variants"]

_HEX = frozenset("0123456789abcdef")


def normalize_message_id(message_id: str) -> str:
    """Lowercase, surrounding blanks dropped, leading zeros dropped from numeric-looking ids."""
    mid = message_id.strip().lower()
    if mid and set(mid) <= _HEX:
        mid = mid.lstrip("0") or "0"
    return mid


def message_id_variants(message_id: str) -> set[str]:
    """Normalized candidate forms of ``message_id``: itself, hex→decimal, decimal→hex.

    ``"1a2b"`` → ``{"1a2b", "6699"}``; ``"0000006699"`` → ``{"6699", "1a2b", "26265"}``
    (a decimal-looking id may also be the hex form of another decimal id).
    """
    mid = normalize_message_id(message_id)
    forms = {mid}
    if not mid or not set(mid) <= _HEX or len(mid) > 32:
        return forms
    forms.add(str(int(mid, 16)))
    if mid.isdigit():
        forms.add(format(int(mid), "x"))
    return forms
