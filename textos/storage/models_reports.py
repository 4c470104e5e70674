"""Models of the campaign report counts (``storage.report_counts``, migration 0028)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from textos.storage.models import Base, Id

_BigId = BigInteger().with_variant(Integer(), "sqlite")


class ReportDelta(Base):
    """What one statement added to a job's counts (appended, never updated): folded into
    ``report_counts`` and ``report_totals`` within seconds, read with them until then."""

    __tablename__ = "report_deltas"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(_BigId)
    metric: Mapped[str] = mapped_column(String(16))
    """``accepted``, a final status, ``ptt:N``, ``time:B``, ``credits`` or ``replies`` (``storage.report_counts``)."""
    n: Mapped[int] = mapped_column(BigInteger)
    """Signed: a message leaving a state takes one off it."""


class ReportCount(Base):
    """A metric of the messages of one account, tag, batch and hour of acceptance."""

    __tablename__ = "report_counts"
    __table_args__ = (
        Index("ix_report_counts_batch", "account_id", "batch_id"),
        Index("ix_report_counts_hour", "account_id", "hour"),
    )
    account_id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    tag: Mapped[str] = mapped_column(String(256), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """The job's batch, ``""`` for a job of none."""
    hour: Mapped[dt.datetime] = mapped_column(DateTime, primary_key=True)
    """The hour the messages were accepted (their job's ``created_at``, truncated)."""
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class ReportTotal(Base):
    """A message state's count for a whole account (``/metrics``)."""

    __tablename__ = "report_totals"
    account_id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
