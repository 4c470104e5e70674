"""Automatic top-up: one order when a debit takes an account below its threshold.

The ledger reports the crossing (``ledger.threshold_observers``, once per crossing,
in the debit's transaction); this service, which may import both the ledger and
billing, turns it into an automatic purchase order to be paid like any other.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.services import billing
from textos.storage import ledger


def order_top_up(session: Session, account_id: int, quantity: int, cause: str) -> None:
    billing.create_automatic_order(session, account_id, quantity, cause=cause)


def install() -> None:
    """Subscribe to the ledger's threshold crossings (idempotent)."""
    if order_top_up not in ledger.threshold_observers:
        ledger.threshold_observers.append(order_top_up)


install()
