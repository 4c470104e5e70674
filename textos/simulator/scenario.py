"""Scripted SMSC outcomes: which receiver gets which fate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from textos.smpp.receipt_text import MessageState, state_of
from textos.smpp.pdu import Status

__all__ = ["Rule", "OUTCOMES", "outcome_for", "outcome_named"]

OUTCOMES: dict[str, MessageState | None] = {
    "delivered": MessageState.DELIVERED,
    "undeliverable": MessageState.UNDELIVERABLE,
    "expired": MessageState.EXPIRED,
    "rejected": None,  # refused at submit: submit_sm_resp carries ``status``
    "stop": MessageState.DELIVERED,  # delivered, then the handset answers STOP (``SmscSimulator._answer_stop``)
}
"""Outcome name → receipt state sent back (None: no receipt, refused at submit). ``stop``: the
message is delivered and its handset answers "STOP" to the number of its STOP clause (or to its
sender), as ``simulator_outcomes = {"+336993" = "STOP"}`` scripts it."""


def outcome_named(word: str) -> str:
    """The outcome a setting names: an outcome name (``undeliverable``, ``stop``), a ``stat:`` word
    (``UNDELIV``, as ``simulator_outcomes`` takes them) or ``REJECT`` (refused at submit)."""
    lowered = word.strip().lower()
    if lowered in OUTCOMES:
        return lowered
    if lowered == "reject":
        return "rejected"
    state = state_of(word.strip())
    for name, named in OUTCOMES.items():
        if named is state and state is not MessageState.UNKNOWN:
            return name
    return lowered  # Rule refuses it by name


@dataclass(frozen=True)
class Rule:
    """``pattern`` is a prefix of the receiver (digits, '+' ignored) or ``re:<regex>``."""

    pattern: str
    outcome: str = "delivered"
    status: int = Status.ESME_RINVDSTADR
    """submit_sm_resp command_status when ``outcome == 'rejected'``."""
    error: str = "000"
    """``err:`` of the receipt."""
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r} (one of {sorted(OUTCOMES)})")
        if self.pattern.startswith("re:"):
            object.__setattr__(self, "_regex", re.compile(self.pattern[3:]))

    def matches(self, receiver: str) -> bool:
        if self._regex is not None:
            return self._regex.search(receiver) is not None
        return receiver.removeprefix("+").startswith(self.pattern.removeprefix("+"))

    @classmethod
    def parse(cls, spec: str) -> "Rule":
        """CLI form: ``PATTERN=OUTCOME[:STATUS]``, e.g. ``3361=undeliverable``, ``re:999$=rejected:0x0b``."""
        pattern, _, rest = spec.rpartition("=")
        outcome, _, status = rest.partition(":")
        if status:
            return cls(pattern, outcome, int(status, 0))
        return cls(pattern, outcome)


def outcome_for(rules: list[Rule], receiver: str) -> Rule | None:
    """The first rule matching ``receiver``."""
    for rule in rules:
        if rule.matches(receiver):
            return rule
    return None
