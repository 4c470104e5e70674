"""Automatic top-up: one order when a debit takes an account below its threshold.

The ledger reports the crossing (``ledger.threshold_observers``, once per crossing,
in the debit's transaction); this service, which may import both the ledger and the
orders, turns it into an automatic purchase order to be paid like any other, priced
by the book the composition root installed it with (``textos.server``, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from textos.services import orders
from textos.services.prices import PriceBook
from textos.storage import ledger


@dataclass(frozen=True)
class TopUp:
    """The ledger's threshold observer: orders the account's ``automaticRecreditAmount``."""

    book: PriceBook

    def __call__(self, session: Session, account_id: int, quantity: int, cause: str) -> None:
        orders.create_automatic_order(session, account_id, quantity, book=self.book, cause=cause)


def install(book: PriceBook) -> TopUp:
    """Subscribe the top-up to the ledger's threshold crossings, priced by ``book``.

    Installing again replaces the previous top-up (one order per crossing, whatever the
    number of installs)."""
    top_up = TopUp(book)
    ledger.threshold_observers[:] = [o for o in ledger.threshold_observers if not isinstance(o, TopUp)] + [top_up]
    return top_up

