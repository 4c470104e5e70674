"""Accepting a send: receivers, sender, text, encoding, credits — all or nothing.

A job is accepted in one transaction: its cost is debited by one ledger entry and
one row per receiver is written. If the account cannot pay the whole job, nothing
is written and nothing is debited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.encoding import TextInfo, analyze
from textos.domain import priority
from textos.domain.numbers import FastReceivers, InvalidReceiver
from textos.domain.senders import check_sender, sender_type
from textos.storage import ledger
from textos.domain.errors import BadRequest, Forbidden
from textos.storage.fastsql import db_time, run, run_many
from textos.storage.models import Account, Job, Sender, utcnow

PRIORITY_RANK = priority.RANK
MAX_PARTS = 255


@dataclass
class SendRequest:
    """The body of ``POST /sms/{serviceName}/jobs``, validated for types."""

    message: str
    receivers: list[str] = field(default_factory=list)
    sender: str | None = None
    sender_for_response: bool = False
    no_stop_clause: bool = False
    message_class: str | None = None
    differed_period: int = 0
    validity_period: int = 2880
    priority: str = "high"
    tag: str = ""


@dataclass(frozen=True)
class SendingReport:
    ids: list[int]
    valid_receivers: list[str]
    invalid_receivers: list[str]
    total_credits_removed: float
    tag: str


def compose_text(message: str, no_stop_clause: bool, settings: Settings) -> str:
    """The text as it reaches the handset: the STOP clause is part of it unless waived."""
    return message if no_stop_clause else message + settings.stop_clause


def describe_text(text: str) -> TextInfo:
    """Encoding and parts of ``text``; refuses texts networks cannot carry."""
    info = analyze(text)
    if info.parts > MAX_PARTS:
        raise BadRequest(f"message: {info.parts} parts, more than the {MAX_PARTS} a concatenated SMS can have")
    return info


def resolve_sender(session: Session, account: Account, req: SendRequest, settings: Settings) -> tuple[str, str]:
    """The sender to use and its type; an explicit sender must be registered and enabled."""
    if req.sender and req.sender_for_response:
        raise BadRequest("sender: cannot be used together with senderForResponse")
    if req.sender_for_response:
        return settings.response_short_code, "shortcode"
    if not req.sender:
        sender = account.default_sender or settings.default_sender
        return sender, sender_type(sender)
    problem = check_sender(req.sender)
    if problem:
        raise BadRequest(f"sender: {req.sender!r} {problem}")
    row = session.scalar(select(Sender).where(Sender.account_id == account.id, Sender.sender == req.sender))
    if row is None:
        raise BadRequest(f"sender: {req.sender!r} is not a sender of this account (POST /sms/{account.service_name}/senders)")
    if row.status != "enable":
        raise Forbidden(f"sender: {req.sender!r} is {row.status}, not enabled")
    return row.sender, row.type or sender_type(row.sender)


def sort_receivers(
    raw: Sequence[str], allowed: Sequence[str], region: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """Split receivers into valid ``(e164, country)`` pairs (deduplicated) and invalid raw strings."""
    allowed_set = {c.upper() for c in allowed}
    parse = FastReceivers(region).parse
    valid: list[tuple[str, str]] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for item in raw:
        try:
            receiver = parse(str(item))
        except InvalidReceiver:
            invalid.append(str(item))
            continue
        if receiver.country not in allowed_set:
            invalid.append(str(item))
            continue
        if receiver.e164 not in seen:
            seen.add(receiver.e164)
            valid.append((receiver.e164, receiver.country))
    return valid, invalid


def accept_job(session: Session, account: Account, req: SendRequest, settings: Settings, actor: str) -> SendingReport:
    """Validate, price, debit and persist one job; all or nothing."""
    if account.status != "enable":
        raise Forbidden(f"serviceName: the SMS account {account.service_name} is disabled")
    if not req.message or not req.message.strip():
        raise BadRequest("message: must not be empty")
    if not req.receivers:
        raise BadRequest("receivers: at least one receiver is required (receivers, receiversDocumentUrl or receiversSlotId)")
    sender, kind = resolve_sender(session, account, req, settings)
    text = compose_text(req.message, req.no_stop_clause, settings)
    info = describe_text(text)
    allowed = account.allowed_countries or list(settings.allowed_countries)
    if req.sender_for_response:
        allowed = [c for c in allowed if c.upper() == "FR"]
    valid, invalid = sort_receivers(req.receivers, allowed, settings.default_region)
    if not valid:
        raise BadRequest(
            "receivers: no valid receiver (invalid or outside allowed countries "
            f"{', '.join(sorted(allowed))}): {', '.join(invalid[:10])}"
        )
    costs = [ledger.to_milli(info.parts * settings.rates.per_part(country)) for _, country in valid]
    total = sum(costs)
    now = utcnow()
    send_at = now + dt.timedelta(minutes=req.differed_period)
    expires_at = send_at + dt.timedelta(minutes=req.validity_period)
    job = Job(
        account_id=account.id,
        text=text,
        sender=sender,
        sender_type=kind,
        tag=req.tag,
        priority=req.priority,
        message_class=req.message_class,
        no_stop_clause=req.no_stop_clause,
        sender_for_response=req.sender_for_response,
        differed_period=req.differed_period,
        validity_period=req.validity_period,
        receivers=len(valid),
        credits_milli=total,
        actor=actor,
        created_at=now,
    )
    session.add(job)
    session.flush()
    ledger.debit_job(session, account.id, job.id, total, actor=actor, messages=len(valid))
    common = (
        account.id, job.id, sender, req.tag, info.encoding.value, info.characters, info.parts,
        PRIORITY_RANK[req.priority], req.differed_period,
        db_time(session, send_at), db_time(session, expires_at), db_time(session, now),
    )  # fmt: skip
    run_many(
        session,
        "INSERT INTO messages (receiver, country, credits_milli, account_id, job_id, sender, tag, encoding, characters,"
        " parts, priority, differed_period, send_at, expires_at, created_at, status, ptt, dlr, attempts, hidden)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, 0, 0, ?)",
        [(e164, country, cost, *common, False) for (e164, country), cost in zip(valid, costs)],
    )
    ids = [row[0] for row in run(session, "SELECT id FROM messages WHERE job_id = ? ORDER BY id", (job.id,)).fetchall()]
    return SendingReport(
        ids=ids,
        valid_receivers=[e164 for e164, _ in valid],
        invalid_receivers=invalid,
        total_credits_removed=ledger.to_credits(total),
        tag=req.tag,
    )
