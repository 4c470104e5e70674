"""Accepting a job: the one path every way of sending goes through.

    check_sendable → price every receiver → Job row → ledger debit → queued messages

All or nothing: the job, the debit of its whole cost (one ledger entry) and one
``messages`` row per distinct valid receiver commit in one transaction; an account
that cannot pay the whole job gets nothing written and nothing debited. Each
receiver is charged for the parts its text is sent in on its own route
(``concat_for``, see ``services.recipients``).

**How a caller uses it.** Build a :class:`SendRequest` (what to send, how), then call
:func:`accept` with the database, the account id, the settings, ``actor`` (who
acts, written in the ledger) and the deployment's ``concat_for`` (``AppState.concat_for``;
None: 8-bit UDH everywhere). Receivers are either ``req.receivers`` (a list: one
short transaction) or a :class:`~textos.services.campaigns.Source` (a document URL,
a receiver slot, a local CSV: read as a stream, any size). A caller already inside
a transaction with a list of receivers calls :func:`accept_job` with its session:
the same path. To follow a long acceptance (progress, cancel, its job in the same
transaction), pass a :class:`Follower` (``services.batches`` does, for batches).

Documents are priced with no transaction held (a write lock on SQLite), then
written: on SQLite from a spool file in one short transaction; on PostgreSQL while
they are read (``_accept_streamed``), in one transaction that commits at the end.
Message rows are written by ``storage.message_rows``.

**STOP**: a commercial job's (``noStopClause`` false) receivers blacklisted for its account
(``services.blacklists``) are written ``blacklisted`` at 0 credits, never queued, and left out of
its cost: one query per group of listed jobs, one per document, none for a non-commercial job.

Report size: for a list, ``SmsSendingReport`` is complete; for a document,
``ids`` and ``validReceivers`` are complete up to ``REPORT_LIMIT`` receivers (empty
above: follow the batch), and ``invalidReceivers`` lists at most ``REPORT_LIMIT``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import pickle
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain import priority
from textos.domain.clock import utcnow
from textos.domain.encoding import check_characters
from textos.domain.errors import BadRequest, Conflict, Forbidden, NotEnoughCredits, NotFound, TextosError
from textos.domain.lifecycle import PENDING, MessageStatus
from textos.domain.senders import sender_type
from textos.services import blacklists, campaigns, conversations, quotas, senders, virtual_numbers
from textos.services.campaigns import Source
from textos.services.recipients import ConcatFor, Priced, Recipients, Texts, compose_text, price
from textos.storage import job_rows, ledger, message_rows, quota_rows
from textos.storage.db import Database
from textos.storage.job_rows import NewJob
from textos.storage.message_rows import Row, Shared
from textos.storage.messages import close_unsent
from textos.storage.models import Account, Job, Message

__all__ = [
    "REPORT_LIMIT", "BalanceMoved", "Follower", "Listed", "SendRequest", "Sendable", "SendingReport", "accept", "accept_job", "accept_listed",
    "check_sendable", "new_job", "resolve_sender",
]  # fmt: skip

REPORT_LIMIT = 10_000

log = logging.getLogger("textos.accept")


@dataclass
class SendRequest:
    """What to send and how: the body of ``POST /sms/{serviceName}/jobs``, validated for types."""

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
    virtual_number: str | None = None
    """Send from this virtual number of the account (E.164; ``services.virtual_numbers``) instead of a sender."""
    reply_from: str | None = None
    """Not from the API: send from this short number (an automatic answer to a reply, ``services.replies``)."""
    user_id: int | None = None
    """Sent as this user of the account (``/users/{login}/jobs``, http2sms): recorded on the job;
    an active quota of the user pays for it (``services.quotas``)."""


@dataclass(frozen=True)
class SendingReport:
    """``sms.SmsSendingReport``."""

    ids: list[int]
    valid_receivers: list[str]
    invalid_receivers: list[str]
    total_credits_removed: float
    tag: str


@dataclass(frozen=True)
class Sendable:
    """An account allowed to send a request, and what the request resolves to."""

    account_id: int
    sender: str
    sender_type: str
    allowed: frozenset[str]
    """Destination countries (ISO alpha-2, upper case)."""
    text: str
    """The text as sent (STOP clause included); mail merge renders it per receiver."""
    outside: str = ""
    """Why destinations are restricted beyond the account's countries (said when none is valid)."""


class Follower(Protocol):
    """Follows one acceptance (a batch): hears its progress, may stop it, records its job."""

    @property
    def batch_id(self) -> str | None: ...

    def progress(self, rows: int, estimated_milli: int | None = None) -> None:
        """Rows read so far (and, once priced, the cost); may raise to stop."""

    def accepted(self, session: Session, job: NewJob, priced: Priced, send_at: dt.datetime) -> None:
        """The job and its messages are written, in ``session``'s transaction; may raise to roll it back."""


def resolve_sender(session: Session, account: Account, req: SendRequest, settings: Settings) -> tuple[str, str]:
    """The sender to use and its type; an explicit sender must be usable (``services.senders``)."""
    if req.sender and req.sender_for_response:
        raise BadRequest("sender: cannot be used together with senderForResponse")
    if req.virtual_number is not None:
        if req.sender or req.sender_for_response:
            raise BadRequest("sender: a job sent from a virtual number has no other sender")
        return virtual_numbers.owned(session, account.id, req.virtual_number).number, "virtual"
    if req.sender_for_response:
        return settings.response_short_code, "shortcode"  # each message's own: services.conversations
    if req.reply_from:
        return req.reply_from, "shortcode"
    if not req.sender:
        sender = account.default_sender or settings.default_sender
        return sender, sender_type(sender)
    row = senders.usable(session, account, req.sender)
    return row.sender, row.type or sender_type(row.sender)


def check_sendable(session: Session, account: Account, req: SendRequest, settings: Settings, *, listed: bool = False) -> Sendable:
    """The one check that ``account`` may send ``req``: account enabled, message not empty,
    receivers given (``listed``: in ``req.receivers``), sender allowed; countries it may reach."""
    if account.status != "enable":
        raise Forbidden(f"serviceName: the SMS account {account.service_name} is disabled")
    if not req.message or not req.message.strip():
        raise BadRequest("message: must not be empty")
    check_characters(req.message)
    if listed and not req.receivers:
        raise BadRequest("receivers: at least one receiver is required (receivers, receiversDocumentUrl or receiversSlotId)")
    sender, kind = resolve_sender(session, account, req, settings)
    allowed = _countries(tuple(account.allowed_countries or settings.allowed_countries))
    outside = ""
    if req.sender_for_response or req.reply_from:
        allowed = frozenset(c for c in allowed if c == "FR")
        outside = "senderForResponse: replies are possible only towards France"
    return Sendable(account.id, sender, kind, allowed, compose_text(req.message, req.no_stop_clause, settings), outside)


@functools.lru_cache(maxsize=256)
def _countries(names: tuple[str, ...]) -> frozenset[str]:
    """Destination countries as ``Sendable.allowed`` holds them (upper case); once per list, not per job."""
    return frozenset(c.upper() for c in names)


def new_job(
    session: Session, sendable: Sendable, req: SendRequest, *, actor: str, created_at: dt.datetime,
    batch_id: str | None = None, priced: Priced | None = None,
) -> NewJob:
    """The one way a ``Job`` row is built and written (``storage.job_rows``: plain SQL, the object
    is not in the session; it has its id). Its totals come from ``priced``, or are set when it is
    charged (a job written while it is priced)."""
    return job_rows.insert(session, _job_object(sendable, req, actor=actor, created_at=created_at, batch_id=batch_id, priced=priced))


def _job_object(
    sendable: Sendable, req: SendRequest, *, actor: str, created_at: dt.datetime, batch_id: str | None, priced: Priced | None,
) -> NewJob:
    return NewJob(
        account_id=sendable.account_id, text=sendable.text, sender=sendable.sender, sender_type=sendable.sender_type,
        tag=req.tag, priority=req.priority, message_class=req.message_class, no_stop_clause=req.no_stop_clause,
        sender_for_response=req.sender_for_response, differed_period=req.differed_period,
        validity_period=req.validity_period, receivers=priced.count if priced else 0,
        credits_milli=priced.total_milli if priced else 0, actor=actor, created_at=created_at, batch_id=batch_id,
        user_id=req.user_id, quota_paid=False,
    )  # fmt: skip


def _charge(session: Session, job: NewJob, priced: Priced, settings: Settings) -> None:
    """The job's totals, and the debit of its whole cost (``NotEnoughCredits``: nothing debited):
    from its user's active quota if it has one (``services.quotas``), else the account's credits."""
    if (job.receivers, job.credits_milli) != (priced.count, priced.total_milli):  # a job written while it was priced
        job_rows.set_totals(session, job, priced.count, priced.total_milli)
    if job.user_id is not None:
        quota_rows.lock_account(session, job.account_id)
        consumed = quotas.pay(session, job.user_id, priced.total_milli)
        if consumed is not None:
            job_rows.set_quota_paid(session, job)
            ledger.post_many(session, job.account_id, quotas.quota_movements(job.id, priced.total_milli, actor=job.actor, messages=priced.count))
            if consumed.crossed:
                _alert(session, session.get_one(Account, job.account_id), [consumed], settings, None)
            return
    ledger.debit_job(session, job.account_id, job.id, priced.total_milli, actor=job.actor, messages=priced.count)


def _alert(
    session: Session, account: Account, crossed: list[quota_rows.Consumed], settings: Settings, concat_for: ConcatFor | None,
) -> None:
    """Users' quotas that crossed their alert threshold: their alerts (``services.quotas``); an SMS
    alert is a job of the account accepted here, in the same transaction, and charged to it."""
    if not crossed:
        return

    def send_sms(alert: quotas.Alert) -> None:
        req = SendRequest(message=alert.text, receivers=[alert.number], no_stop_clause=True, tag="quota-alert")
        outcome = accept_listed(session, [Listed(account, req, f"quota-alert:{alert.login}")], settings, concat_for=concat_for)[0]
        if isinstance(outcome, TextosError):
            log.warning("quota alert SMS for user %s of %s not sent: %s", alert.login, account.service_name, outcome.message)

    quotas.send_alerts(session, quotas.alerts_for(session, account, crossed), settings, send_sms)


def _shared(job: NewJob, req: SendRequest, send_at: dt.datetime | None) -> Shared:
    """What the job's messages share; ``send_at`` defaults to the request's deferral."""
    now = job.created_at
    if send_at is None:
        send_at = now + dt.timedelta(minutes=req.differed_period)
    return Shared(
        account_id=job.account_id, job_id=job.id, sender=job.sender, tag=req.tag, priority=priority.RANK[req.priority],
        differed_period=req.differed_period, send_at=send_at, expires_at=send_at + dt.timedelta(minutes=req.validity_period),
        created_at=now,
    )  # fmt: skip


def _write_job(
    session: Session, sendable: Sendable, req: SendRequest, priced: Priced, write: Callable[[Shared], list[int] | None], *,
    actor: str, follower: Follower | None, send_at: dt.datetime | None, report_limit: int, settings: Settings, refused: "_Refused",
) -> list[int]:
    """A priced job in the session's transaction: its row, its debit, its messages (``write``: their
    ids if it has them at hand; then those ``refused`` as blacklisted), its follower's record;
    returns the ids to report."""
    job = new_job(session, sendable, req, actor=actor, created_at=utcnow(), priced=priced, batch_id=_batch_of(follower))
    _charge(session, job, priced, settings)
    shared = _shared(job, req, send_at)
    ids = write(shared)
    if refused.rows:
        message_rows.insert_blacklisted(session, [(shared, refused.rows)], job.created_at)
        ids = _in_receiver_order(session, job.id, priced, report_limit)
    return _written(session, job, shared, priced, follower, report_limit, settings, ids)


def _in_receiver_order(session: Session, job_id: int, priced: Priced, report_limit: int) -> list[int] | None:
    """A job's ids in the order of its valid receivers (as reported) when some of its messages were
    written apart (blacklisted, after the others); None when there are too many to report."""
    if priced.count > report_limit:
        return None
    by_receiver = message_rows.job_message_ids_by_receiver(session, job_id)
    return [by_receiver[receiver] for receiver in priced.valid_sample]


class _Refused:
    """A document's rows whose receiver is blacklisted (``blacklists.active_numbers``, read once
    before pricing; empty for a job with ``noStopClause``): taken out of the chunks as they are
    priced (a set lookup per row, only when the account has a blacklist), kept at 0 credits, and
    written as ``blacklisted`` with the job; their cost is taken off the job's total."""

    def __init__(self, numbers: frozenset[str] | set[str] = frozenset()) -> None:
        self.numbers = numbers
        self.rows: list[Row] = []
        self.milli = 0

    def screen(self, emit: Callable[[list[Row]], None]) -> Callable[[list[Row]], None]:
        numbers = self.numbers
        if not numbers:
            return emit

        def screened(chunk: list[Row]) -> None:
            kept = [row for row in chunk if row[0] not in numbers]
            if len(kept) != len(chunk):
                for row in chunk:
                    if row[0] in numbers:
                        self.rows.append((*row[:6], 0))
                        self.milli += row[6]
            if kept:
                emit(kept)

        return screened

    def settle(self, priced: Priced) -> None:
        """The job costs what it sends: the refused rows' credits off its total."""
        priced.total_milli -= self.milli


def _written(
    session: Session, job: NewJob, shared: Shared, priced: Priced, follower: Follower | None, report_limit: int,
    settings: Settings, ids: list[int] | None = None,
) -> list[int]:
    """Last step in the job's transaction: a ``senderForResponse`` job's messages get their short
    numbers (``conversations.allocate``; nothing for other jobs); the follower records it; the ids
    to report (if not too many): ``ids`` when the writing returned them, else read back."""
    if job.sender_for_response:
        lent = message_rows.job_receivers(session, job.id, to_send=True)
        conversations.allocate(session, job.account_id, lent, shared.tag, shared.send_at, settings)
    if follower is not None:
        follower.accepted(session, job, priced, shared.send_at)
    if priced.count > report_limit:
        return []
    return ids if ids is not None else message_rows.job_message_ids(session, job.id)


def _report(priced: Priced, ids: list[int], tag: str, report_limit: int) -> SendingReport:
    return SendingReport(
        ids=ids,
        valid_receivers=priced.valid_sample if priced.count <= report_limit else [],
        invalid_receivers=priced.invalid,
        total_credits_removed=ledger.to_credits(priced.total_milli),
        tag=tag,
    )


def _stop_clause(req: SendRequest, settings: Settings) -> str:
    """What ``compose_text`` appends to each text of the job (empty when waived)."""
    return compose_text("", req.no_stop_clause, settings)


def _batch_of(follower: Follower | None) -> str | None:
    return follower.batch_id if follower is not None else None


# --------------------------------------------------------------------------- entries


def accept_job(
    session: Session, account: Account, req: SendRequest, settings: Settings, actor: str, *,
    concat_for: ConcatFor | None = None, follower: Follower | None = None, send_at: dt.datetime | None = None,
) -> SendingReport:
    """Accept ``req.receivers`` in the caller's transaction: checked, priced, debited, queued."""
    outcome = accept_listed(session, [Listed(account, req, actor, follower, send_at)], settings, concat_for=concat_for)[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass(frozen=True)
class Listed:
    """A job whose receivers are listed in ``req.receivers``, for :func:`accept_listed`."""

    account: Account
    req: SendRequest
    actor: str
    follower: Follower | None = None
    send_at: dt.datetime | None = None


@dataclass(frozen=True)
class _Priced:
    index: int
    job: Listed
    sendable: Sendable
    priced: Priced
    rows: list[Row]


class BalanceMoved(Exception):
    """``accept_listed(balance_as_read=True)``: an account's credits were spent by another transaction
    between this one's read and its debit; nothing may be committed: write the jobs again (locking)."""


def accept_listed(
    session: Session, jobs: list[Listed], settings: Settings, *, concat_for: ConcatFor | None = None,
    balance_as_read: bool = False,
) -> list[SendingReport | TextosError]:
    """Accept several listed jobs in the caller's transaction, each as :func:`accept_job` would,
    written together: one statement for their job rows, one balance update and one statement of
    entries per account, one statement for their messages (``services.accept_writer``'s groups).

    Each job is checked and priced on its own; a refused job (its :class:`TextosError` in its
    place) writes nothing. An account pays its jobs in their order, each that its credits still
    cover (``ledger.affordable``); accounts are charged in the order of their ids, the order in
    which transfers lock them too, so a group never deadlocks with one.

    Each account's debit is the last write of its jobs (their rows and messages come first), so
    that its row is locked as briefly as can be. ``balance_as_read``: what the accounts can pay is
    judged on their credits as read in this transaction (``Listed.account``), without locking
    their rows first (``ledger.affordable(left=…)``); should another transaction have spent them
    since, the debit refuses and :class:`BalanceMoved` is raised (the caller rolls back and
    writes them again without it). Two writers of one account then overlap all but the debit
    and the commit."""
    outcomes: list[SendingReport | TextosError | None] = [None] * len(jobs)
    texts = Texts(concat_for)
    by_account: dict[int, list[_Priced]] = {}
    for index, job in enumerate(jobs):
        try:
            sendable = check_sendable(session, job.account, job.req, settings, listed=True)
            rows: list[Row] = []
            priced = price(
                Recipients.of_list(job.req.receivers), job.req.message, _stop_clause(job.req, settings), sendable.allowed,
                settings, texts, rows.extend, report_limit=len(job.req.receivers), outside=sendable.outside,
            )
        except TextosError as exc:
            outcomes[index] = exc
            continue
        by_account.setdefault(sendable.account_id, []).append(_Priced(index, job, sendable, priced, rows))
    refused = _screen_listed(session, by_account)
    payable: list[_Priced] = []
    from_quota: dict[int, quota_rows.Consumed] = {}
    for account_id in sorted(by_account):
        waiting = by_account[account_id]
        left = waiting[0].job.account.credits_milli if balance_as_read else None
        if any(w.job.req.user_id is not None for w in waiting):  # users' quotas: the account's row locked first
            quota_rows.lock_account(session, account_id)
            waiting = _pay_from_quotas(session, waiting, from_quota, outcomes, payable)
            left = None  # read again under the lock
        for item, refusal in zip(waiting, ledger.affordable(session, account_id, [w.priced.total_milli for w in waiting], left=left)):
            if refusal is None:
                payable.append(item)
            else:
                outcomes[item.index] = refusal
    if payable:
        payable.sort(key=lambda p: (p.sendable.account_id, p.index))
        now = utcnow()
        objects: list[NewJob] = []
        for p in payable:
            row = _job_object(p.sendable, p.job.req, actor=p.job.actor, created_at=now, batch_id=_batch_of(p.job.follower), priced=p.priced)
            row.quota_paid = p.index in from_quota
            objects.append(row)
        written = job_rows.insert_many(session, objects)
        shared = [_shared(row, p.job.req, p.job.send_at) for p, row in zip(payable, written)]
        ids = message_rows.insert_jobs(session, [(sh, p.rows) for p, sh in zip(payable, shared)])
        if refused:
            refused_ids = message_rows.insert_blacklisted(session, [(sh, refused.get(p.index, [])) for p, sh in zip(payable, shared)], now)
            for p, row in zip(payable, written):
                if row.id in refused_ids:
                    ids[row.id] = _in_receiver_order(session, row.id, p.priced, len(p.job.req.receivers)) or []
        for p, row, sh in zip(payable, written, shared):
            limit = len(p.job.req.receivers)
            reported = _written(session, row, sh, p.priced, p.job.follower, limit, settings, ids[row.id])
            outcomes[p.index] = _report(p.priced, reported, p.job.req.tag, limit)
        for account_id in sorted(by_account):
            debits: list[ledger.Movement] = []
            for p, row in zip(payable, written):
                if row.account_id != account_id:
                    continue
                if p.index in from_quota:
                    debits.extend(quotas.quota_movements(row.id, p.priced.total_milli, actor=row.actor, messages=p.priced.count))
                else:
                    debits.append(ledger.job_debit(row.id, p.priced.total_milli, actor=row.actor, messages=p.priced.count))
            try:
                ledger.post_many(session, account_id, debits)
            except NotEnoughCredits as exc:
                if not balance_as_read:
                    raise
                raise BalanceMoved(f"account {account_id}: its credits were spent by another transaction") from exc
        for account_id in sorted(by_account):
            crossed = [c for p in payable if (c := from_quota.get(p.index)) is not None and c.crossed and p.sendable.account_id == account_id]
            if crossed:
                _alert(session, by_account[account_id][0].job.account, crossed, settings, concat_for)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def _pay_from_quotas(
    session: Session, waiting: list[_Priced], from_quota: dict[int, quota_rows.Consumed],
    outcomes: list[SendingReport | TextosError | None], payable: list[_Priced],
) -> list[_Priced]:
    """The jobs of users with an active quota paid from it, in order (each by one conditional
    update, ``quotas.pay``; refused when the quota is short); the others, for the account to pay."""
    rest: list[_Priced] = []
    for w in waiting:
        if w.job.req.user_id is None:
            rest.append(w)
            continue
        try:
            consumed = quotas.pay(session, w.job.req.user_id, w.priced.total_milli)
        except TextosError as exc:
            outcomes[w.index] = exc
            continue
        if consumed is None:
            rest.append(w)
        else:
            from_quota[w.index] = consumed
            payable.append(w)
    return rest


def _screen_listed(session: Session, by_account: dict[int, list[_Priced]]) -> dict[int, list[Row]]:
    """Take the rows of blacklisted receivers out of the commercial jobs (``noStopClause`` false)
    of a group: one query for the whole group (``blacklists.Screen``), none if it has no
    commercial job. Their rows at 0 credits by job index; each job's total is what it sends."""
    wanted: dict[int, set[str]] = {}
    for account_id, items in by_account.items():
        for p in items:
            if not p.job.req.no_stop_clause:
                wanted.setdefault(account_id, set()).update(row[0] for row in p.rows)
    if not wanted:
        return {}
    screen = blacklists.Screen.for_accounts(session, wanted)
    if not screen:
        return {}
    refused: dict[int, list[Row]] = {}
    for account_id in wanted:
        numbers = screen.numbers(account_id)
        for p in by_account[account_id]:
            if p.job.req.no_stop_clause or not numbers.intersection(row[0] for row in p.rows):
                continue
            out = _Refused(numbers)
            kept: list[Row] = []
            out.screen(kept.extend)(p.rows)
            out.settle(p.priced)
            p.rows[:] = kept
            refused[p.index] = out.rows
    return refused


def accept(
    db: Database, account_id: int, req: SendRequest, settings: Settings, *, actor: str,
    source: Source | None = None, concat_for: ConcatFor | None = None, follower: Follower | None = None,
    send_at: dt.datetime | None = None,
) -> SendingReport:
    """Accept a job for ``account_id``: receivers from ``req.receivers``, or from ``source``'s document.

    ``send_at`` overrides ``req.differed_period`` (a batch deferred to a date). Blocking:
    a document is fetched, read and written before this returns."""
    if source is None:
        with db.session() as session:
            return accept_job(session, session.get_one(Account, account_id), req, settings, actor,
                              concat_for=concat_for, follower=follower, send_at=send_at)
    with db.read() as session:
        sendable = check_sendable(session, session.get_one(Account, account_id), req, settings)
        refused = _Refused(frozenset() if req.no_stop_clause else blacklists.active_numbers(session, account_id))
    with campaigns.open_source(db, account_id, source, settings) as recipients:
        accept_document = _accept_spooled if db.is_sqlite else _accept_streamed
        return accept_document(db, sendable, req, recipients, settings, Texts(concat_for), actor, follower, send_at, refused)


# --------------------------------------------------------------------------- documents


def _accept_spooled(
    db: Database, sendable: Sendable, req: SendRequest, recipients: Recipients, settings: Settings, texts: Texts,
    actor: str, follower: Follower | None, send_at: dt.datetime | None, refused: _Refused,
) -> SendingReport:
    """SQLite: price into a spool file with no lock held, then write everything in one short transaction."""
    with tempfile.TemporaryFile(prefix="textos-campaign-") as spool:

        def emit(rows: list[Row]) -> None:
            pickle.dump(rows, spool, protocol=pickle.HIGHEST_PROTOCOL)

        priced = price(
            recipients, req.message, _stop_clause(req, settings), sendable.allowed, settings, texts, refused.screen(emit),
            report_limit=REPORT_LIMIT, progress=follower.progress if follower else None, outside=sendable.outside,
        )
        refused.settle(priced)
        if follower is not None:
            follower.progress(priced.rows_read, priced.total_milli)
        with db.session() as session:
            ids = _write_job(session, sendable, req, priced, lambda shared: message_rows.insert_chunks(session, shared, _unspool(spool)),
                             actor=actor, follower=follower, send_at=send_at, report_limit=REPORT_LIMIT, settings=settings, refused=refused)
    return _report(priced, ids, req.tag, REPORT_LIMIT)


def _unspool(spool: IO[bytes]) -> Iterator[list[Row]]:
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


_END = object()


class _Abandoned(Exception):
    """Internal: the other side of a streamed document gave up."""


def _accept_streamed(
    db: Database, sendable: Sendable, req: SendRequest, recipients: Recipients, settings: Settings, texts: Texts,
    actor: str, follower: Follower | None, send_at: dt.datetime | None, refused: _Refused,
) -> SendingReport:
    """PostgreSQL: price and write at the same time, still in one transaction.

    A writer thread opens the transaction, creates the job and ``COPY``s each chunk of
    rows as :func:`price` produces it, so the database's work (rows, indexes) runs on
    the server meanwhile instead of after. When pricing is done the job is charged and
    the transaction commits; if pricing fails (a refusal, a cancel) it is rolled back:
    nothing is kept or charged. Rows written but not committed are invisible to others.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=4)
    outcome: dict[str, Any] = {}

    def writer() -> None:
        try:
            with db.session() as session:
                job = new_job(session, sendable, req, actor=actor, created_at=utcnow(),
                              batch_id=_batch_of(follower))
                shared = _shared(job, req, send_at)
                message_rows.insert_chunks(session, shared, iter(chunks.get, _END))
                priced: Priced | None = chunks.get()
                if priced is None:  # pricing failed: roll back
                    raise _Abandoned()
                ids = None
                if refused.rows:  # read once pricing is done (the queue orders it after the last chunk)
                    message_rows.insert_blacklisted(session, [(shared, refused.rows)], job.created_at)
                    ids = _in_receiver_order(session, job.id, priced, REPORT_LIMIT)
                _charge(session, job, priced, settings)
                outcome["ids"] = _written(session, job, shared, priced, follower, REPORT_LIMIT, settings, ids)
        except _Abandoned:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc
            while True:  # unblock the producer
                try:
                    chunks.get_nowait()
                except queue.Empty:
                    if outcome.get("done"):
                        break
                    time.sleep(0.01)

    def put(item: Any) -> None:
        while True:
            if "error" in outcome:
                raise _Abandoned()
            try:
                chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=writer, name="textos-campaign-writer", daemon=True)
    thread.start()
    priced: Priced | None = None
    try:
        try:
            priced = price(
                recipients, req.message, _stop_clause(req, settings), sendable.allowed, settings, texts, refused.screen(put),
                report_limit=REPORT_LIMIT, progress=follower.progress if follower else None, outside=sendable.outside,
            )
            refused.settle(priced)
        except _Abandoned:
            pass
        if priced is not None and "error" not in outcome:
            if follower is not None:
                follower.progress(priced.rows_read, priced.total_milli)
            put(_END)
            put(priced)
    except BaseException:
        if "error" not in outcome:
            with contextlib.suppress(_Abandoned):
                put(_END)
                put(None)
        raise
    finally:
        outcome["done"] = True
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    assert priced is not None
    return _report(priced, outcome["ids"], req.tag, REPORT_LIMIT)


# --------------------------------------------------------------------------- jobs after acceptance


def pending_ids(session: Session, account_id: int, *, sender: str | None = None, user_id: int | None = None) -> list[int]:
    """``GET /sms/{s}/jobs``: the account's messages not yet handed to a carrier (sent from
    ``sender`` when given: a virtual number's jobs; sent as ``user_id`` when given: a user's jobs)."""
    stmt = select(Message.id).where(Message.account_id == account_id, Message.status.in_([s.value for s in PENDING]))
    if sender is not None:
        stmt = stmt.where(Message.sender == sender)
    if user_id is not None:
        stmt = stmt.join(Job, Job.id == Message.job_id).where(Job.user_id == user_id)
    return list(session.scalars(stmt.order_by(Message.id)))


def get_pending_job(
    session: Session, account_id: int, message_id: int, *, sender: str | None = None, user_id: int | None = None,
) -> tuple[Message, Job]:
    """A job (one message) of the account not yet handed to a carrier, and its job row: as for
    ``pending_ids``, a job is gone (404) once sent (it is in ``/outgoing`` then) or cancelled,
    or when it is not sent from ``sender`` or as ``user_id`` (if given)."""
    message = session.scalar(select(Message).where(Message.id == message_id, Message.account_id == account_id))
    if message is None or not MessageStatus(message.status).is_pending or (sender is not None and message.sender != sender):
        raise NotFound(f"id: job {message_id} does not exist")
    job = session.get_one(Job, message.job_id)
    if user_id is not None and job.user_id != user_id:
        raise NotFound(f"id: job {message_id} does not exist")
    return message, job


def stop_job(
    session: Session, account_id: int, message_id: int, *, actor: str, sender: str | None = None, user_id: int | None = None,
) -> None:
    """``DELETE /sms/{s}/jobs/{id}``: cancel a message still queued, and refund it (a user's
    message paid from its quota: to that quota while it is active, ``services.quotas``)."""
    message, _job = get_pending_job(session, account_id, message_id, sender=sender, user_id=user_id)
    moved = close_unsent(
        session, [message.id], from_statuses=(MessageStatus.QUEUED.value,), to_status=MessageStatus.CANCELLED.value,
        actor=actor, reason=f"job {message.id} deleted before sending",
    )
    if not moved:
        raise Conflict(f"id: job {message_id} is already {message.status} and can no longer be stopped")
