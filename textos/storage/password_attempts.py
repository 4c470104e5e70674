"""Password checks counted per name and per client address: the ``password_attempts`` rows.

Plain SQL on the caller's write transaction. ``hold`` locks a row (creating it when missing)
until that transaction ends, so checks of the same name or address made by any process
(``--workers``) are counted one after the other. The policy is ``services.password_guard``'s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, TextClause, bindparam, text
from sqlalchemy.orm import Session

SUBJECT_LENGTH = 255
"""Longer subjects are cut to this length (no name that long exists)."""



def _timed(sql: str, *names: str) -> TextClause:
    """A statement whose datetime parameters are stored as the backend stores DateTime columns."""
    return text(sql).bindparams(*(bindparam(name, type_=DateTime()) for name in names))


_INSERT = _timed(
    "INSERT INTO password_attempts (scope, subject, failures, lockouts, locked_until, last_seen) "
    "VALUES (:scope, :subject, 0, 0, NULL, :now) ON CONFLICT DO NOTHING",
    "now",
)
_SELECT = "SELECT failures, lockouts, locked_until FROM password_attempts WHERE scope = :scope AND subject = :subject"
_SAVE = _timed(
    "UPDATE password_attempts SET failures = :failures, lockouts = :lockouts, locked_until = :locked_until, last_seen = :now "
    "WHERE scope = :scope AND subject = :subject",
    "now", "locked_until",
)
_GIVE_BACK = text(
    "UPDATE password_attempts SET failures = failures - 1 WHERE scope = :scope AND subject = :subject AND failures > 0"
)
_FORGET = text("DELETE FROM password_attempts WHERE scope = :scope AND subject = :subject")
_PRUNE = (
    "DELETE FROM password_attempts WHERE (scope, subject) IN "
    "(SELECT scope, subject FROM password_attempts WHERE last_seen < :before{lock})"
)


@dataclass
class Attempts:
    """One subject's record: checks taken since its last lockout, lockouts so far, the current one's end."""

    failures: int = 0
    lockouts: int = 0
    locked_until: dt.datetime | None = None


def _row_lock(session: Session, clause: str) -> str:
    """PostgreSQL locks the rows read (SQLite's ``BEGIN IMMEDIATE`` already holds the whole file)."""
    return clause if session.get_bind().dialect.name == "postgresql" else ""


def _subject(subject: str) -> str:
    return subject[:SUBJECT_LENGTH]


def prune(session: Session, before: dt.datetime) -> None:
    """Forget the subjects not seen since ``before`` (rows another transaction holds are left)."""
    session.execute(_timed(_PRUNE.format(lock=_row_lock(session, " FOR UPDATE SKIP LOCKED")), "before"), {"before": before})


def hold(session: Session, scope: str, subject: str, now: dt.datetime) -> Attempts:
    """The record of ``subject``, locked until the transaction ends (a fresh one when unknown)."""
    key = {"scope": scope, "subject": _subject(subject)}
    session.execute(_INSERT, {**key, "now": now})
    select = text(_SELECT + _row_lock(session, " FOR UPDATE")).columns(failures=Integer(), lockouts=Integer(), locked_until=DateTime())
    failures, lockouts, locked_until = session.execute(select, key).one()
    return Attempts(failures, lockouts, locked_until)


def save(session: Session, scope: str, subject: str, attempts: Attempts, now: dt.datetime) -> None:
    """Store a held record, seen ``now``."""
    session.execute(
        _SAVE,
        {"scope": scope, "subject": _subject(subject), "now": now, "failures": attempts.failures,
         "lockouts": attempts.lockouts, "locked_until": attempts.locked_until},
    )


def give_back(session: Session, scope: str, subject: str) -> None:
    """Return one check taken (it was not a failure)."""
    session.execute(_GIVE_BACK, {"scope": scope, "subject": _subject(subject)})


def forget(session: Session, scope: str, subject: str) -> None:
    """Drop a subject's record: its failures and lockouts start again from nothing."""
    session.execute(_FORGET, {"scope": scope, "subject": _subject(subject)})
