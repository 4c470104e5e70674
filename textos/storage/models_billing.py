"""Models of money: purchase orders and transfer allowances (migration 0003).

Credits themselves live in the ledger (``ledger_entries``, ``models.py``); an
order is credited by exactly one ``purchase`` entry, which a partial unique index
on ``ledger_entries.order_id`` enforces even against a buggy caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from textos.storage.models import Base, Id, LedgerEntry, utcnow


class Order(Base):
    """A purchase order of SMS credits for one account, or of a new account with its credits (``order.Order`` / ``billing.Order``)."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_created", "customer_id", "created_at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    """``orderId``."""
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True, nullable=True)
    """The account credited; empty until an order of a new account is paid (migration 0013)."""
    new_account: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What account paying the order creates (``{"channel": …}``, ``POST /order/sms/new``); empty for credits."""
    quantity: Mapped[int] = mapped_column(BigInteger)
    """Credits bought."""
    currency: Mapped[str] = mapped_column(String(8), default="EUR")
    without_tax_cents: Mapped[int] = mapped_column(BigInteger)
    tax_cents: Mapped[int] = mapped_column(BigInteger)
    with_tax_cents: Mapped[int] = mapped_column(BigInteger)
    priced: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Snapshot of the ``order.Order`` body (prices, details, contracts) at creation."""
    status: Mapped[str] = mapped_column(String(16), default="notPaid")
    """``notPaid`` → ``delivered`` (paid and credited) or ``cancelled``."""
    reason: Mapped[str] = mapped_column(String(16), default="manual")
    """``manual`` (POST /order/...) or ``automatic`` (threshold top-up)."""
    token: Mapped[str] = mapped_column(String(64), unique=True)
    """Secret of the payment page URL (``billing.Order.password``)."""
    actor: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    paid_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    payment_provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    payment_reference: Mapped[str | None] = mapped_column(String(256), nullable=True)
    payment_confirmations: Mapped[int] = mapped_column(Integer, default=0)
    """How many times payment was confirmed (only the first one credits)."""


class TransferAllowance(Base):
    """An administrator's permission to transfer credits from one account to another customer's."""

    __tablename__ = "transfer_allowances"
    __table_args__ = (UniqueConstraint("source_account_id", "target_account_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    target_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    actor: Mapped[str] = mapped_column(String(128), default="admin")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


Index(
    "uq_ledger_entries_purchase_order",
    LedgerEntry.order_id,
    unique=True,
    sqlite_where=text("kind = 'purchase'"),
    postgresql_where=text("kind = 'purchase'"),
)
