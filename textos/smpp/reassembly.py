"""Reassembly of concatenated mobile-originated parts (UDH or SAR)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Reassembler"]


@dataclass(slots=True)
class _Pending:
    total: int
    parts: dict[int, str] = field(default_factory=dict)
    first_seen: float = field(default_factory=time.monotonic)


class Reassembler:
    """Collects parts keyed by (sender, receiver, ref); gives the text once complete.

    Incomplete messages older than ``ttl`` seconds are given up (returned by ``expire``,
    with the missing parts left out) so a lost part never pins memory.
    """

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._pending: dict[tuple[str, str, int, int], _Pending] = {}

    def add(self, sender: str, receiver: str, ref: int, total: int, seq: int, text: str) -> str | None:
        """Add one part; return the whole text when it was the last one missing."""
        if total <= 1:
            return text
        key = (sender, receiver, ref, total)
        entry = self._pending.setdefault(key, _Pending(total))
        entry.parts[seq] = text  # a re-sent part replaces, never duplicates
        if len(entry.parts) < total:
            return None
        del self._pending[key]
        return "".join(entry.parts[i] for i in sorted(entry.parts))

    def expire(self, now: float | None = None) -> list[tuple[str, str, str]]:
        """Drop stale partial messages; return them as (sender, receiver, partial text)."""
        now = time.monotonic() if now is None else now
        stale = [k for k, v in self._pending.items() if now - v.first_seen > self.ttl]
        out = []
        for key in stale:
            entry = self._pending.pop(key)
            out.append((key[0], key[1], "".join(entry.parts[i] for i in sorted(entry.parts))))
        return out

    def __len__(self) -> int:
        return len(self._pending)
