"""Job priorities (``sms.PriorityEnum``) and their rank in the queue (0 goes first)."""

from __future__ import annotations

from typing import Literal

Priority = Literal["high", "medium", "low", "veryLow"]
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low", "veryLow")

RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITIES)}
"""``high`` → 0 … ``veryLow`` → 3: stored in ``messages.priority``, claimed in that order."""


def name_of(rank: int) -> Priority:
    """The priority stored as ``rank`` (an unknown rank reads as ``high``)."""
    return PRIORITIES[rank] if 0 <= rank < len(PRIORITIES) else "high"
