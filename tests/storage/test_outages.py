"""Which database errors say "away for now" (a 503, tried again later), and how an outage is said in the log."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from textos.storage.outages import Outage, unavailable


def sqlite_error(code: int, message: str) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


def wrapped(orig: Exception, kind: type[sa_exc.DBAPIError] = sa_exc.OperationalError) -> sa_exc.DBAPIError:
    return kind("INSERT …", {}, orig)


@pytest.mark.parametrize("error", [
    wrapped(psycopg.OperationalError("connection failed: the database system is shutting down")),
    wrapped(psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")),
    psycopg.OperationalError("the connection is lost"),  # raw, as the dispatcher's lock connection raises it
    wrapped(sqlite_error(13, "database or disk is full")),
    wrapped(sqlite_error(5, "database is locked")),
    wrapped(sqlite_error(10 | (12 << 8), "disk I/O error")),  # SQLITE_IOERR_SHMSIZE: an extended code
    sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
], ids=["pg shutting down", "pg connection lost", "raw psycopg", "sqlite full", "sqlite busy", "sqlite ioerr shmsize", "pool timeout"])
def test_an_away_database_is_unavailable(error):
    assert unavailable(error)


@pytest.mark.parametrize("error", [
    wrapped(sqlite_error(1, 'near "SELEC": syntax error')),  # a wrong statement is a bug: a 500, not a 503
    wrapped(sqlite_error(11, "database disk image is malformed"), sa_exc.DatabaseError),  # corrupt: not "for now"
    wrapped(psycopg.errors.UniqueViolation("duplicate key"), sa_exc.IntegrityError),
    wrapped(psycopg.errors.NumericValueOutOfRange("out of range"), sa_exc.DataError),
    ValueError("not a database error"),
], ids=["sqlite syntax", "sqlite corrupt", "pg unique", "pg data", "other"])
def test_a_wrong_statement_or_value_or_a_corrupt_file_is_not(error):
    assert not unavailable(error)


def test_an_outage_is_said_in_a_line_then_every_few_seconds_then_once_over(caplog, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("textos.storage.outages.time.monotonic", lambda: clock[0])
    outage = Outage(logging.getLogger("textos.test"), "the loop", every=10.0)
    away = wrapped(psycopg.OperationalError("connection refused\nand a second line"))
    caplog.set_level(logging.INFO, logger="textos.test")
    said = lambda: [r.getMessage() for r in caplog.records]

    assert outage.failed(ValueError("a bug")) is False and not outage.down  # not an outage: the caller logs it in full
    for _ in range(40):  # five seconds of failures, eight a second
        assert outage.failed(away) is True
        clock[0] += 0.125
    assert outage.down and said() == ["the loop: the database is unavailable ((psycopg.OperationalError) connection refused); trying again"]
    assert all(r.exc_info is None for r in caplog.records)
    for _ in range(48):  # six more
        outage.failed(away)
        clock[0] += 0.125
    assert said()[1:] == [("the loop: the database is still unavailable after 10 s, 80 failure(s) since last said "
                           "((psycopg.OperationalError) connection refused)")]

    outage.succeeded()
    outage.succeeded()
    assert not outage.down
    assert said()[2:] == ["the loop: the database answers again after 11.0 s"]


def test_a_failure_after_a_quiet_while_is_a_new_outage_for_callers_that_never_see_success(caplog, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("textos.storage.outages.time.monotonic", lambda: clock[0])
    outage = Outage(logging.getLogger("textos.test"), "the API", every=5.0)
    caplog.set_level(logging.INFO, logger="textos.test")
    away = wrapped(sqlite_error(13, "database or disk is full"))
    outage.failed(away)
    clock[0] = 3600.0
    outage.failed(away)
    assert [r.getMessage() for r in caplog.records] == [
        "the API: the database is unavailable ((sqlite3.OperationalError) database or disk is full); trying again"] * 2
