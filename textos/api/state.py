"""What every route can reach: settings, the database, the price book, the accept writer and a dispatcher wake-up.

The composition root (``textos.server``) builds it; the API never sees the dispatcher or
the runtime, only the callables it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from fastapi import Request

from textos.config import Settings
from textos.domain.encoding import Concatenation
from textos.services.accept_writer import AcceptWriter
from textos.services.password_guard import PasswordGuard, PasswordLimits
from textos.services.prices import PriceBook
from textos.storage.db import Database


def _nothing() -> None:
    """No dispatcher in this process: nothing to wake."""


def _no_carriers() -> dict[str, bool] | None:
    """No dispatcher in this process: its carriers are another process's."""
    return None


def _udh8(receiver: str) -> Concatenation:
    """Every receiver's long texts are split with 8-bit UDH references (the common case)."""
    return Concatenation.UDH8


@dataclass
class AppState:
    settings: Settings
    db: Database
    prices: PriceBook
    """The price book, built once from ``settings``."""
    wake: Callable[[], None] = field(default=_nothing)
    """Tell the dispatcher that messages are waiting (called after a job is accepted)."""
    concat_for: Callable[[str], Concatenation] = field(default=_udh8)
    """How a text to this receiver (E.164) is split into parts: its route's concatenation."""
    carriers: Callable[[], dict[str, bool] | None] = field(default=_no_carriers)
    """Each carrier of this process's dispatcher and whether it is bound (``/ready``); ``None``: delivery runs elsewhere."""
    accept_writer: AcceptWriter = field(init=False)
    """Accepts the jobs whose receivers are listed, those arriving together in one transaction;
    wakes the dispatcher after each commit."""
    password_guard: PasswordGuard = field(init=False)
    """Every password check: rate-limited per name and client address, counted in the database."""

    def __post_init__(self) -> None:
        self.accept_writer = AcceptWriter(self.db, self.settings, concat_for=self.concat_for, on_accepted=lambda: self.wake())
        self.password_guard = PasswordGuard(self.db, PasswordLimits.of(self.settings))


def state_of(request: Request) -> AppState:
    return request.app.state.textos
