"""Database models (SQLAlchemy 2). The schema itself is owned by Alembic migrations.

Credits are stored as integers in thousandths of a credit (``*_milli``) so that
sums are exact; the API shows them as doubles, as OVH does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from textos.domain import clock
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


utcnow = clock.utcnow
"""Naive UTC now: every datetime column holds naive UTC (``domain.clock``)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    """An OVH-style customer account (nic handle), owner of SMS accounts."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    nic: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(256), default="")
    email: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Application(Base):
    """An API application: application key + secret (sealed, ``storage.at_rest``)."""

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    app_key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sealed: Mapped[str] = mapped_column(String(128))
    """The application secret sealed with AES-GCM under the database's secret key (migration 0011)."""
    name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Credential(Base):
    """A consumer key: an application acting for a customer within access rules."""

    __tablename__ = "credentials"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    consumer_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the consumer key (``at_rest.key_digest``); the key itself is never stored (0011)."""
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(32), default="pendingValidation")
    rules: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    allowed_ips: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    validation_token_hash: Mapped[str | None] = mapped_column(String(96), unique=True, nullable=True)
    """SHA-256 of the token of the validation page, while the key waits for it."""
    redirection: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Account(Base):
    """An SMS account (``serviceName``), holding credits."""

    __tablename__ = "accounts"
    __table_args__ = (
        # Delivery events are written only if some account or user has a callBack (``storage.outbox``): found at once (migration 0030).
        Index("ix_accounts_callback", "id", sqlite_where=sql_text("callback <> ''"), postgresql_where=sql_text("callback <> ''")),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_name: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    description: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(16), default="enable")
    channel: Mapped[str] = mapped_column(String(16), default="both")
    credits_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    """Cached balance: always equal to the sum of the account's ledger entries."""
    credits_held_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    """Credits assigned to users' quotas (``creditsHoldByQuota``)."""
    callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    stop_callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    sms_response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    templates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    automatic_recredit_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    credit_threshold_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    recredit_armed: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    """Automatic top-up may fire on the next crossing below the threshold (migration 0003)."""
    allowed_countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_sender: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LedgerEntry(Base):
    """One immutable credit movement; ``amount_milli`` is signed (debits negative)."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    amount_milli: Mapped[int] = mapped_column(BigInteger)
    balance_after_milli: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    reason: Mapped[str] = mapped_column(String(1024), default="")
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    counterpart_account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Sender(Base):
    """A sender (alphanumeric name, number or short code) registered on an account."""

    __tablename__ = "senders"
    __table_args__ = (UniqueConstraint("account_id", "sender"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    sender: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(1024), default="")
    reason: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(32), default="waitingValidation")
    type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    referer: Mapped[str] = mapped_column(String(16), default="custom")
    comment: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    """One ``POST /jobs`` request: what was asked, once, for all its receivers."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    """Text as sent (STOP clause included); per-receiver texts live on messages."""
    sender: Mapped[str] = mapped_column(String(32))
    sender_type: Mapped[str] = mapped_column(String(16))
    tag: Mapped[str] = mapped_column(String(256), default="")
    priority: Mapped[str] = mapped_column(String(16), default="high")
    message_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    no_stop_clause: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_for_response: Mapped[bool] = mapped_column(Boolean, default=False)
    differed_period: Mapped[int] = mapped_column(Integer, default=0)
    validity_period: Mapped[int] = mapped_column(Integer, default=2880)
    receivers: Mapped[int] = mapped_column(Integer, default=0)
    credits_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    actor: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """The batch (campaign) this job belongs to, if any (migration 0002)."""
    user_id: Mapped[int | None] = mapped_column(Id, nullable=True, index=True)
    """The user (``sms_users``) the job was sent as, if any (migration 0019)."""
    quota_paid: Mapped[bool] = mapped_column(Boolean, default=False)
    """Paid from its user's quota rather than the account's free credits (``services.quotas``,
    migration 0020): its refunds go back to that quota while it is active."""


class Message(Base):
    """One SMS to one receiver: a job while pending, an outgoing once handed to a carrier."""

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "ix_messages_queue",
            "priority",
            "send_at",
            "id",
            sqlite_where=sql_text("status = 'queued'"),
            postgresql_where=sql_text("status = 'queued'"),
        ),
        Index("ix_messages_account_tag", "account_id", "tag"),
        Index(
            "ix_messages_carrier_id",
            "carrier_id",
            sqlite_where=sql_text("carrier_id IS NOT NULL"),
            postgresql_where=sql_text("carrier_id IS NOT NULL"),
        ),
        Index(
            "ix_messages_in_flight",
            "claimed_by",
            sqlite_where=sql_text("status = 'submitting'"),
            postgresql_where=sql_text("status = 'submitting'"),
        ),
        Index(
            "ix_messages_awaiting_receipt",
            "sent_at",
            sqlite_where=sql_text("status = 'sent'"),
            postgresql_where=sql_text("status = 'sent'"),
        ),
        Index(  # a STOP finds the messages that reached its sender (migration 0017); nothing at ingest (queued)
            "ix_messages_receiver_reached",
            "receiver",
            "id",
            sqlite_where=sql_text("status IN ('sent', 'delivered', 'no_receipt')"),
            postgresql_where=sql_text("status IN ('sent', 'delivered', 'no_receipt')"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    """The account (no foreign key: written only with its job, see migration 0005)."""
    job_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), index=True)
    receiver: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Per-receiver text (mail merge); NULL means the job's text."""
    sender: Mapped[str] = mapped_column(String(32))
    tag: Mapped[str] = mapped_column(String(256), default="")
    encoding: Mapped[str] = mapped_column(String(8))
    characters: Mapped[int] = mapped_column(Integer)
    parts: Mapped[int] = mapped_column(SmallInteger)
    credits_milli: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    ptt: Mapped[int] = mapped_column(Integer, default=0)
    dlr: Mapped[int] = mapped_column(Integer, default=0)
    differed_period: Mapped[int] = mapped_column(Integer, default=0)
    send_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    """When it reached its final status (migration 0013): a batch finishes when its last message settles."""
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The dispatcher instance that claimed it last (see ``delivery.ownership``)."""
    connector: Mapped[str | None] = mapped_column(String(64), nullable=True)
    carrier_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Carrier id of the first part (``carrierMessageId`` in ``sms.Outgoing``), canonical form (see ``storage.receipts``)."""
    error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    """Deleted from the customer's history (DELETE /outgoing/{id}); kept for the ledger."""


class MessagePart(Base):
    """One part of a submitted message, as the carrier identified it."""

    __tablename__ = "message_parts"
    __table_args__ = (Index("ix_message_parts_carrier", "carrier_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), index=True)
    part_no: Mapped[int] = mapped_column(SmallInteger)
    carrier_id: Mapped[str] = mapped_column(String(64))
    """Canonical form (see ``textos.storage.receipts.canonical_carrier_id``)."""
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """A ``domain.lifecycle.DeliveryState`` value."""
    error_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class PendingReceipt(Base):
    """A receipt that arrived before its part was stored; applied as soon as it is."""

    __tablename__ = "pending_receipts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    carrier_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16))
    """A ``domain.lifecycle.DeliveryState`` value."""
    error_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    connector: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The connector it came through: it settles a message sent through that carrier only (none: any)."""


class IncomingPart(Base):
    """One part of a concatenated incoming message, kept until the others arrive
    (acknowledged to the SMSC only once stored: a restart loses none)."""

    __tablename__ = "incoming_parts"
    __table_args__ = (
        UniqueConstraint("connector", "sender", "receiver", "ref", "total", "seq", name="uq_incoming_parts_part"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str] = mapped_column(String(64), default="")
    sender: Mapped[str] = mapped_column(String(32))
    receiver: Mapped[str] = mapped_column(String(32))
    ref: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class IncomingSms(Base):
    """A mobile-originated message (a reply, a STOP)."""

    __tablename__ = "incoming"
    __table_args__ = (Index("ix_incoming_account_listed", "account_id", "created_at", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True, index=True)
    sender: Mapped[str] = mapped_column(String(32))
    receiver: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    tag: Mapped[str] = mapped_column(String(256), default="")
    credits_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    connector: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The outgoing message it answers (a conversation's), if any (migration 0016)."""
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    """Deleted from the customer's incoming (DELETE /incoming/{id}); kept for the ledger."""


class CallbackEvent(Base):
    """One event to tell a customer's URL (the callbacks outbox, ``storage.outbox``)."""

    __tablename__ = "callback_events"
    __table_args__ = (
        Index(
            "ix_callback_events_due",
            "next_attempt_at",
            "id",
            "host",
            sqlite_where=sql_text("status = 'pending'"),
            postgresql_where=sql_text("status = 'pending'"),
        ),
        Index("ix_callback_events_order", "order_key", "id"),
        Index("ix_callback_events_account", "account_id", "status", "id"),
        Index(  # /metrics counts the failed per host (storage.gauges, migration 0027)
            "ix_callback_events_failed",
            "host",
            sqlite_where=sql_text("status = 'failed'"),
            postgresql_where=sql_text("status = 'failed'"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    user_login: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The user whose callback this is (``sms.User.callBack``), or none for the account's."""
    kind: Mapped[str] = mapped_column(String(16))
    """``delivery`` (→ ``callBack``), ``stop`` (→ ``stopCallBack``) or ``reply`` (→ ``smsResponse.cgiUrl``)."""
    url: Mapped[str] = mapped_column(String(2048))
    host: Mapped[str] = mapped_column(String(255))
    """The URL's host: requests in flight are bounded per host."""
    params: Mapped[dict[str, str]] = mapped_column(JSON)
    """Added to the URL's query string."""
    order_key: Mapped[str] = mapped_column(String(64))
    """Events with the same key (``message:<id>``, ``incoming:<id>``) are delivered in id order."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``delivered`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """HTTP status of the last attempt (none: no answer)."""
    last_error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    """When it was last replayed (migration 0015): ``callback_max_age`` counts from then."""
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The callbacks worker leasing it while it sends it (migration 0015, ``delivery.callbacks``)."""


class VirtualNumber(Base):
    """A long number dedicated to one account (``textos number add``): sent from, and every
    message to it is the account's incoming message (migration 0018)."""

    __tablename__ = "virtual_numbers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """E.164 (``+33…``)."""
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
class Conversation(Base):
    """A short number lent to one receiver for one message: a reply from that receiver to that
    number, until ``expires_at``, answers that message (``services.conversations``)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("receiver", "short_number", name="uq_conversations_receiver_short_number"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    receiver: Mapped[str] = mapped_column(String(32))
    """E.164."""
    short_number: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    message_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    tag: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Blacklist(Base):
    """A number that answered STOP, for one account (``sms.Blacklist``; ``services.blacklists``).

    Removing it (``DELETE /blacklists/{number}``) stamps ``removed_at``: the STOP stays counted in
    the account's STOP history (``stops_by_tag``); a new STOP makes a new row."""

    __tablename__ = "blacklists"
    __table_args__ = (
        Index(
            "uq_blacklists_active", "account_id", "number", unique=True,
            sqlite_where=sql_text("removed_at IS NULL"), postgresql_where=sql_text("removed_at IS NULL"),
        ),
        Index("ix_blacklists_account_created", "account_id", "created_at"),
        Index("ix_blacklists_account_tag", "account_id", "tag", "created_at"),  # a campaign's STOPs (migration 0028)
        Index("ix_blacklists_batch", "account_id", "batch_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    number: Mapped[str] = mapped_column(String(32))
    """E.164 (``+33612345678``)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sms_outgoing_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The last commercial message the account sent the number before its STOP (``smsOutgoingID``)."""
    batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """That message's batch, if any (``batchID``)."""
    tag: Mapped[str] = mapped_column(String(256), default="")
    """That message's tag: STOPs per tag (``stops_by_tag``)."""
    incoming_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The STOP itself (``incoming.id``)."""
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class SmsUser(Base):
    """A user of an SMS account (``sms.User``): its own sends, callbacks, IP allow-list and quota."""

    __tablename__ = "sms_users"
    __table_args__ = (
        UniqueConstraint("account_id", "login", name="uq_sms_users_account_login"),
        Index("ix_sms_users_callback", "id", sqlite_where=sql_text("callback <> ''"), postgresql_where=sql_text("callback <> ''")),
        {"sqlite_autoincrement": True},  # a deleted user's id is never given again (jobs.user_id points at it)
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    login: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    """argon2id (``services.users``); the password itself is never stored, returned or logged."""
    callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    stop_callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    ip_restrictions: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Addresses or networks http2sms accepts this user's requests from; empty: any."""
    quota_status: Mapped[str] = mapped_column(String(16), default="inactive")
    """``active``: the user's sends are paid from ``quota_left_milli`` (held from the account); ``inactive``: from the account."""
    quota_left_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    alert_threshold: Mapped[int] = mapped_column(Integer, default=0)
    """Credits: crossing below it sends the alert once (re-armed when the quota rises above it)."""
    alert_support: Mapped[str] = mapped_column(String(8), default="mail")
    """``mail``, ``sms`` or ``both`` (``sms.SupportEnum``)."""
    alert_email: Mapped[str] = mapped_column(String(256), default="")
    alert_number: Mapped[str] = mapped_column(String(32), default="")
    alert_armed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Document(Base):
    """A file of ``/me/document`` (``nichandle.document.Document``): a consumption export
    (``GET /sms/{s}/document``), its bytes in ``document_chunks``, downloaded from ``getUrl``."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """A uuid (``/me/document/{id}``)."""
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    name: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    """0 while it is being written (OVH's clients poll until it is not)."""
    status: Mapped[str] = mapped_column(String(16), default="writing")
    """``writing`` or ``ready``."""
    get_token: Mapped[str] = mapped_column(String(64), unique=True)
    """The unguessable part of ``getUrl`` (256 random bits); the URL works until ``expires_at``."""
    tags: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class DocumentChunk(Base):
    """A piece of a document's bytes, in order (``seq``): written and read a piece at a time."""

    __tablename__ = "document_chunks"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Operator(Base):
    """An operator of the dashboard (``textos admin create``): sees every account, confirms orders,
    validates senders. Not a customer: its login is in its own namespace."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DashboardSession(Base):
    """A dashboard login: the cookie holds a random token, the row its SHA-256 (a stolen table
    gives no usable cookie); logging out deletes the row, on every process at once."""

    __tablename__ = "dashboard_sessions"
    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), nullable=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """The synchronizer token every form of this session carries."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
