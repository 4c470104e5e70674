"""Models of bulk sending: receiver slots (preloaded CSV documents), their clean tasks, and batches (campaigns)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from textos.storage.models import Base, Id, utcnow


class ReceiverSlot(Base):
    """``sms.Receiver``: a CSV of receivers kept in a numbered slot of an account.

    The document is stored as uploaded (bytes, in the database: it survives restarts
    and backups with everything else); ``records`` counts its rows. A slot is the account's
    (``user_id`` none) or one of a user's own (``/sms/{s}/users/{login}/receivers``,
    migration 0023): numbers 1–9 are unique among the account's, and among each user's.
    """

    __tablename__ = "receiver_slots"
    __table_args__ = (
        Index(
            "uq_receiver_slots_account_slot", "account_id", "slot_id", unique=True,
            sqlite_where=sql_text("user_id IS NULL"), postgresql_where=sql_text("user_id IS NULL"),
        ),
        Index(
            "uq_receiver_slots_user_slot", "user_id", "slot_id", unique=True,
            sqlite_where=sql_text("user_id IS NOT NULL"), postgresql_where=sql_text("user_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    slot_id: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(1024), default="")
    csv_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    document_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    auto_update: Mapped[bool] = mapped_column(Boolean, default=False)
    records: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    """The user whose slot it is (``sms_users.id``); none: the account's own."""


class SmsTask(Base):
    """``sms.Task``: an operation on an account (``cleanSmsReceivers``), with its report (migration 0013)."""

    __tablename__ = "sms_tasks"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    """``taskId``."""
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    function: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(16))
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Batch(Base):
    """``sms.Batch``: a named campaign; its messages are those of its job (``job_id``)."""

    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    sender: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sender_for_response: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    no_stop: Mapped[bool] = mapped_column(Boolean, default=False)
    slot_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    receivers: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    tag: Mapped[str] = mapped_column(String(256), default="")
    deferred: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    total_records: Mapped[int] = mapped_column(BigInteger, default=0)
    processed_records: Mapped[int] = mapped_column(BigInteger, default=0)
    estimated_credits_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
