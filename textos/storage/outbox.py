"""The callbacks outbox: events for customers' URLs, written with the change that causes them.

A delivery status change, a STOP or a reply is told to the customer's URL (``callBack``,
``stopCallBack``, ``smsResponse.cgiUrl``) by a row of ``callback_events`` written in the
same transaction as the change itself: if the change commits, so does its event, and a
crash can lose neither alone. A callbacks worker (``delivery.callbacks``) then delivers
the pending rows (HTTP GET with ``params`` added to the URL's query string), in id order
per ``order_key``.

Delivery events are not written by each path that changes a message: ``Database.session()``
calls :func:`note_deliveries` before every commit, and one ``INSERT … SELECT`` turns the
message ids the transaction noted (``storage.events.changed``) into events for those with a
``callBack`` to tell: the user's who sent them, else the account's (nothing is inserted, and
nothing else is read, when neither has one).

A row's life: *pending* (due at ``next_attempt_at``) → *delivered* (a 2xx answer) or
*failed* (no 2xx before ``callback_max_age``); ``replay`` makes any row pending again.
A worker *leases* the rows it sends (``next_attempt_at`` moved past the request's time-out,
``claimed_by`` its instance number): a worker that dies mid-request leaves them pending, due
again when the lease ends, or as soon as another worker finds it gone (``release_leases``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.lifecycle import PENDING
from textos.domain.ptt import DLR_DESCRIPTIONS
from textos.storage import events
from textos.storage.fastsql import db_time, is_sqlite, marks, run
from textos.storage.models import CallbackEvent, utcnow

__all__ = [
    "KINDS", "STATUSES", "Claimed", "Outcome", "claim", "due_exists", "enqueue", "get_event", "lease_owners", "list_ids",
    "note_deliveries", "record", "release_leases", "replay", "url_host",
]  # fmt: skip

KINDS = ("delivery", "stop", "reply")
"""``delivery`` → ``callBack``; ``stop`` → ``stopCallBack``; ``reply`` → ``smsResponse.cgiUrl``."""
STATUSES = ("pending", "delivered", "failed")

DELIVERY_PARAMS = ("id", "ptt", "date", "description", "descriptionDlr", "dlr")
"""What a delivery event adds to ``callBack``'s query string (OVH's names; ``dlr`` repeats
``description`` as integrations read it). No ``tag``: OVH does not send it, and a
``callBack`` URL may carry a ``tag`` of its own that it would replace."""

_CHUNK = 5000


def url_host(url: str) -> str:
    """The host requests in flight are counted by (lower case, IPv6 without brackets)."""
    try:
        return httpx.URL(url).host or ""
    except (httpx.InvalidURL, TypeError):
        return ""


_FILLED = "textos.outbox_filled"


def _filled(session: Session) -> None:
    """Note that the transaction adds due events (``take_filled``: the worker is woken after its commit)."""
    session.info[_FILLED] = True


def take_filled(session: Session) -> bool:
    """Whether ``session``'s transaction added due events (``enqueue``, ``replay``, ``note_deliveries``); forgotten."""
    return bool(session.info.pop(_FILLED, False))


def enqueue(
    session: Session, *, account_id: int, kind: str, url: str, params: Mapping[str, object], order_key: str,
    user_login: str | None = None,
) -> None:
    """Add one event to the outbox, in ``session``'s transaction (delivered once it commits).

    ``params`` are added to ``url``'s query string (values as text); events sharing an
    ``order_key`` (``message:<id>``, ``incoming:<id>``) are delivered in the order they were added.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown callback kind {kind!r}")
    now = utcnow()
    session.add(
        CallbackEvent(
            account_id=account_id, user_login=user_login, kind=kind, url=url, host=url_host(url),
            params={k: "" if v is None else str(v) for k, v in params.items()}, order_key=order_key,
            status="pending", attempts=0, next_attempt_at=now, created_at=now,
        )
    )
    _filled(session)


# Delivery events: one INSERT … SELECT per commit


def _dlr_text() -> str:
    cases = " ".join(f"WHEN {code} THEN '{text}'" for code, text in DLR_DESCRIPTIONS.items())
    return f"CASE m.dlr {cases} ELSE '' END"


_NOT_YET_SENT = ", ".join(f"'{s.value}'" for s in PENDING)
_DLR_DATE = "COALESCE(m.delivered_at, m.settled_at, m.sent_at, m.created_at)"


_URL = "COALESCE(NULLIF(u.callback, ''), a.callback)"
"""Where a message's delivery event goes: its user's ``callBack`` when the message is a user's
job's and the user has one, else the account's (``u``: the job's user, none for the account's jobs)."""


def _insert_deliveries(sqlite: bool) -> str:
    if sqlite:
        text = "CAST({} AS TEXT)"
        params = "json_object({})"
        date = f"strftime('%Y-%m-%dT%H:%M:%S', {_DLR_DATE}) || '+00:00'"
        host = f"textos_url_host({_URL})"
        key = "'message:' || m.id"
    else:
        text = "CAST({} AS TEXT)"
        params = "json_build_object({})"
        date = f"to_char({_DLR_DATE}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00'"
        # No "?" (fastsql's placeholder) in the pattern: \x3F is the query string's mark.
        bare = rf"regexp_replace({_URL}, '^[A-Za-z][A-Za-z0-9+.-]*://([^@/#\x3F]*@)*', '')"
        host = rf"lower(btrim(substring({bare} from '^(\[[^]]*\]|[^:/#\x3F]*)'), '[]'))"
        key = "'message:' || m.id::text"
    fields = {
        "id": text.format("m.id"), "ptt": text.format("m.ptt"), "date": date, "description": text.format("m.dlr"),
        "descriptionDlr": _dlr_text(), "dlr": text.format("m.dlr"),
    }
    assert tuple(fields) == DELIVERY_PARAMS
    built = params.format(", ".join(f"'{name}', {value}" for name, value in fields.items()))
    return (
        "INSERT INTO callback_events (account_id, user_login, kind, url, host, params, order_key, status, attempts, next_attempt_at, created_at) "
        f"SELECT m.account_id, CASE WHEN u.callback <> '' THEN u.login END, 'delivery', {_URL}, {host}, {built}, {key}, 'pending', 0, ?, ? "
        "FROM messages m JOIN accounts a ON a.id = m.account_id JOIN jobs j ON j.id = m.job_id LEFT JOIN sms_users u ON u.id = j.user_id "
        f"WHERE {_ANY_URL} AND {_URL} <> '' AND m.status NOT IN ({_NOT_YET_SENT}) AND m.id IN ({{ids}}) "
        "ORDER BY m.id"
    )


_ANY_URL = "(EXISTS (SELECT 1 FROM accounts WHERE callback <> '') OR EXISTS (SELECT 1 FROM sms_users WHERE callback <> ''))"
"""Implied by ``_URL <> ''``, asked first: evaluated once per statement (the partial indexes
``ix_accounts_callback``, ``ix_sms_users_callback``), and when no account or user has a ``callBack``
the messages are not even joined."""


_INSERTS = {True: _insert_deliveries(True), False: _insert_deliveries(False)}


def note_deliveries(session: Session) -> int:
    """Before a commit: a delivery event for each message the transaction changed (``events.changed``)
    with a ``callBack`` to tell: a user's job's message goes to the user's ``callBack`` (the event's
    ``user_login`` is the user's) and, when the user has none, to the account's; the account's
    ``callBack`` does not hear of the messages of a user that has its own (the user's replaces
    it for its sends). Returns the events written."""
    ids = events.peek_changed(session)
    if not ids:
        return 0
    sqlite = is_sqlite(session)
    now = db_time(session, utcnow())
    written = 0
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        written += run(session, _INSERTS[sqlite].replace("{ids}", marks(len(chunk))), (now, now, *chunk)).rowcount or 0
    if written:
        _filled(session)
    return written


# The worker's side


@dataclass(frozen=True)
class Claimed:
    """An event leased to a worker: send it, then ``record`` the outcome."""

    id: int
    url: str
    host: str
    params: dict[str, str]
    order_key: str
    attempts: int
    """Attempts so far, this one included."""
    deadline: dt.datetime
    """After this (``callback_max_age`` from its creation or replay), a failed attempt is the last."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: ``status`` the HTTP answer (None: none), ``retry_at`` when to try again."""

    id: int
    delivered: bool
    http_status: int | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None
    """None after a failure: the event is *failed* for good."""


_DUE = (
    "FROM callback_events e WHERE e.status = 'pending' AND e.next_attempt_at <= ? {hosts}"
    "AND NOT EXISTS (SELECT 1 FROM callback_events p WHERE p.order_key = e.order_key AND p.status = 'pending' AND p.id < e.id) "
)


def due_exists(session: Session) -> bool:
    """Whether any pending event is due (a read: the worker claims only then)."""
    sql = "SELECT 1 FROM callback_events WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1"
    return run(session, sql, (db_time(session, utcnow()),)).fetchone() is not None


def claim(
    session: Session, *, capacity: Mapping[str, int], default_capacity: int, limit: int, lease: float, max_age: float,
    claimed_by: int = 1, past_full_hosts: bool = True,
) -> list[Claimed]:
    """Lease due events to worker ``claimed_by``, oldest first, never one whose ``order_key`` has an
    earlier pending event, at most ``capacity[host]`` (else ``default_capacity``) per host.
    PostgreSQL: rows other workers are claiming are skipped (``SKIP LOCKED``).

    The oldest ``limit`` claimable events are read first (a short range of the due index). Only
    if hosts at their bound filled that read, and ``past_full_hosts``, is the due index read
    again leaving those hosts out (``host`` is in the index: no table row is read for theirs):
    a backlog of one saturated host costs that second read, which the worker makes at most
    every ``POLL`` seconds, and never hides the other hosts' events for longer."""
    sqlite = is_sqlite(session)
    now = utcnow()
    rows = _due(session, sqlite, now, [], limit)
    full = {host for host, left in capacity.items() if left <= 0}
    skipped = {row[2] for row in rows if row[2] in full}
    if len(rows) == limit and skipped and past_full_hosts:
        rows = _due(session, sqlite, now, sorted(full), limit)
    left = dict(capacity)
    chosen: list[Claimed] = []
    for id_, url, host, params, key, attempts, created, replayed in rows:
        if left.setdefault(host, default_capacity) <= 0:
            continue
        left[host] -= 1
        start = _as_datetime(replayed or created)
        chosen.append(Claimed(
            id_, url, host, params if isinstance(params, dict) else _json(params), key, attempts + 1,
            start + dt.timedelta(seconds=max_age),
        ))
    if chosen:
        ids = [c.id for c in chosen]
        run(
            session,
            f"UPDATE callback_events SET attempts = attempts + 1, next_attempt_at = ?, claimed_by = ? WHERE id IN ({marks(len(ids))})",
            (db_time(session, now + dt.timedelta(seconds=lease)), claimed_by, *ids),
        )
    return chosen


def _due(session: Session, sqlite: bool, now: dt.datetime, without_hosts: list[str], limit: int) -> list[Any]:
    hosts = f"AND e.host NOT IN ({marks(len(without_hosts))}) " if without_hosts else ""
    sql = (
        "SELECT e.id, e.url, e.host, e.params, e.order_key, e.attempts, e.created_at, e.replayed_at "
        + _DUE.format(hosts=hosts) + "ORDER BY e.next_attempt_at, e.id LIMIT ?"
        + ("" if sqlite else " FOR UPDATE OF e SKIP LOCKED")
    )
    return run(session, sql, (db_time(session, now), *without_hosts, limit)).fetchall()


def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Store what attempts gave: *delivered*, due again at ``retry_at``, or *failed*."""
    now = db_time(session, utcnow())
    for o in outcomes:
        error = (o.error or "")[:500] or None
        if o.delivered:
            run(session, "UPDATE callback_events SET status = 'delivered', delivered_at = ?, next_attempt_at = ?, "
                "last_status = ?, last_error = NULL, claimed_by = NULL WHERE id = ?", (now, now, o.http_status, o.id))
        elif o.retry_at is not None:
            run(session, "UPDATE callback_events SET next_attempt_at = ?, last_status = ?, last_error = ?, claimed_by = NULL "
                "WHERE id = ?",
                (db_time(session, o.retry_at), o.http_status, error, o.id))
        else:
            run(session, "UPDATE callback_events SET status = 'failed', next_attempt_at = ?, last_status = ?, last_error = ?, "
                "claimed_by = NULL WHERE id = ?", (now, o.http_status, error, o.id))


def release_leases(session: Session, owner: int | None = None) -> int:
    """Make due now the pending events leased to worker ``owner`` (gone, or stopping); ``owner`` None:
    every pending event (SQLite, at the start of its one worker: leases of a worker that died
    included; retries waiting for their backoff are tried at once)."""
    now = db_time(session, utcnow())
    params: tuple[Any, ...]
    if owner is None:
        sql, params = "UPDATE callback_events SET next_attempt_at = ?, claimed_by = NULL WHERE status = 'pending' AND next_attempt_at > ?", (now, now)
    else:
        sql = ("UPDATE callback_events SET next_attempt_at = ?, claimed_by = NULL "
               "WHERE status = 'pending' AND next_attempt_at > ? AND claimed_by = ?")
        params = (now, now, owner)
    return run(session, sql, params).rowcount or 0


def lease_owners(session: Session, lease: float) -> set[int]:
    """The workers holding leases now (a range of the due index: leases end within ``lease`` seconds)."""
    now = utcnow()
    sql = ("SELECT DISTINCT claimed_by FROM callback_events WHERE status = 'pending' AND next_attempt_at > ? "
           "AND next_attempt_at <= ? AND claimed_by IS NOT NULL")
    rows = run(session, sql, (db_time(session, now), db_time(session, now + dt.timedelta(seconds=lease + 1)))).fetchall()
    return {row[0] for row in rows}


# Visible and replayable


def list_ids(session: Session, *, account_id: int | None = None, status: str | None = None, kind: str | None = None,
             limit: int | None = None) -> list[int]:
    """Event ids (newest first), of one account and/or status and/or kind."""
    query = select(CallbackEvent.id).order_by(CallbackEvent.id.desc())
    if account_id is not None:
        query = query.where(CallbackEvent.account_id == account_id)
    if status is not None:
        query = query.where(CallbackEvent.status == status)
    if kind is not None:
        query = query.where(CallbackEvent.kind == kind)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def get_event(session: Session, event_id: int, *, account_id: int | None = None) -> CallbackEvent | None:
    event = session.get(CallbackEvent, event_id)
    if event is None or (account_id is not None and event.account_id != account_id):
        return None
    return event


def replay(session: Session, event: CallbackEvent) -> None:
    """Send ``event`` again (whatever its status): pending, due now, a new ``callback_max_age`` from now."""
    now = utcnow()
    event.status = "pending"
    event.next_attempt_at = now
    event.replayed_at = now
    event.delivered_at = None
    event.claimed_by = None
    _filled(session)


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _json(value: Any) -> dict[str, str]:
    return json.loads(value) if value else {}
