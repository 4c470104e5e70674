"""Batches (services/batches.py): progress, cancel, outcome recorded, moved on by a writer only."""

from __future__ import annotations

import sys

import datetime as dt
import logging
import threading

import pytest
from sqlalchemy import event, select, update

from textos.config import Settings
from textos.domain.clock import utcnow
from textos.domain.errors import BadRequest, Conflict
from textos.domain.lifecycle import DeliveryState, MessageStatus
from textos.services import admin, batches
from textos.services.batches import BatchStatus, Canceled, complete_finished
from textos.services.campaigns import local_source
from textos.services.jobs import SendRequest
from textos.storage import ledger, messages, receipts
from textos.storage.models import Account, Job, Message
from textos.storage.models_bulk import Batch

SETTINGS = Settings()


@pytest.fixture
def account(db) -> Account:
    with db.session() as s:
        admin.create_customer(s, "bt12345-test", "pw")
        return admin.create_account(s, "bt12345-test", 100)


def _new(db, account, receivers=("+33612345678", "+33612345679"), **kw) -> tuple[str, SendRequest]:  # type: ignore[no-untyped-def]
    req = SendRequest(message="hi", receivers=list(receivers), no_stop_clause=True, **kw)
    with db.session() as s:
        return batches.new_batch(s, s.get_one(Account, account.id), req, "spring").id, req


def _run(db, account, batch_id, req, **kw):  # type: ignore[no-untyped-def]
    return batches.run(db, SETTINGS, account.id, req, "test", batch_id, **kw)


def _batch(db, batch_id: str) -> Batch:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return s.get_one(Batch, batch_id)


def _credits(db, account) -> float:  # type: ignore[no-untyped-def]
    with db.read() as s:
        assert ledger.verify(s, account.id)
        return ledger.to_credits(s.get_one(Account, account.id).credits_milli)


def _age(db, batch_id: str, status: BatchStatus, seconds: float) -> None:
    with db.session() as s:
        s.execute(update(Batch).where(Batch.id == batch_id).values(
            status=status.value, updated_at=utcnow() - dt.timedelta(seconds=seconds)))


def _settle(db, batch_id: str, status: MessageStatus) -> None:
    with db.session() as s:
        job_id = s.get_one(Batch, batch_id).job_id
        s.execute(update(Message).where(Message.job_id == job_id).values(status=status.value))


def test_a_run_inserts_the_job_and_records_it_on_the_batch(db, account):
    batch_id, req = _new(db, account, ["+33612345678", "nonsense", "+33612345678"])
    report = _run(db, account, batch_id, req)
    batch = _batch(db, batch_id)
    assert (batch.status, batch.processed_records, batch.total_records, batch.credits_milli) == ("INSERTED", 3, 3, 1000)
    assert batch.errors == [{"message": "invalid receiver or destination not allowed", "receiver": "nonsense"}]
    with db.read() as s:
        assert s.get_one(Job, batch.job_id).batch_id == batch_id
        assert [m.job_id for m in s.scalars(select(Message).where(Message.id.in_(report.ids)))] == [batch.job_id]
    assert _credits(db, account) == 99.0


def test_a_run_leaves_the_process_wide_switch_interval_alone(db, account, monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr(sys, "setswitchinterval", seen.append)  # a service must not retune the whole process
    batch_id, req = _new(db, account, ["+33612345678"])
    _run(db, account, batch_id, req)
    assert seen == []


def test_a_refusal_is_recorded_as_failed_and_costs_nothing(db, account):
    batch_id, req = _new(db, account, ["garbage"])
    with pytest.raises(BadRequest):
        _run(db, account, batch_id, req)
    batch = _batch(db, batch_id)
    assert batch.status == "FAILED" and batch.finished_at is not None
    assert batch.errors[0]["message"].startswith("receivers: no valid receiver")
    assert _credits(db, account) == 100.0


def test_a_cancel_while_reading_stops_the_batch_and_nothing_is_kept(db, account, tmp_path, monkeypatch):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number\n" + "".join(f"+3361{i:07d}\n" for i in range(20_001)))
    batch_id, req = _new(db, account, [])
    progress = batches._BatchFollower.progress

    def cancel_then_progress(self, rows, estimated_milli=None):  # type: ignore[no-untyped-def]
        batches.cancel_batch(db, self.batch_id, "test")
        progress(self, rows, estimated_milli)

    monkeypatch.setattr(batches._BatchFollower, "progress", cancel_then_progress)
    with pytest.raises(Canceled):
        _run(db, account, batch_id, req, source=local_source(contacts))
    assert _batch(db, batch_id).status == "CANCELED"
    assert _credits(db, account) == 100.0
    with db.read() as s:
        assert s.scalars(select(Job.id)).all() == []


def test_a_cancel_racing_the_end_of_reading_wins(db, account, monkeypatch):
    batch_id, req = _new(db, account)
    accepted = batches._BatchFollower.accepted

    def cancel_first(self, session, job, priced, send_at):  # type: ignore[no-untyped-def]
        session.execute(update(Batch).where(Batch.id == self.batch_id).values(status=BatchStatus.TO_CANCEL.value))
        accepted(self, session, job, priced, send_at)

    monkeypatch.setattr(batches._BatchFollower, "accepted", cancel_first)
    with pytest.raises(Canceled):
        _run(db, account, batch_id, req)
    assert _batch(db, batch_id).status == "CANCELED"
    assert _credits(db, account) == 100.0


def test_a_cancel_before_the_run_starts_is_kept(db, account):
    batch_id, req = _new(db, account)
    batches.cancel_batch(db, batch_id, "test")
    assert _batch(db, batch_id).status == "TO_CANCEL"
    with pytest.raises(Canceled):
        _run(db, account, batch_id, req)
    assert _batch(db, batch_id).status == "CANCELED"
    assert _credits(db, account) == 100.0


def test_a_cancel_is_known_by_its_type_not_by_its_words(db, account, monkeypatch):
    def refuse(*args, **kw):  # type: ignore[no-untyped-def]
        raise Conflict("sender: the campaign 'canceled offers' conflicts")

    monkeypatch.setattr(batches, "accept", refuse)
    batch_id, req = _new(db, account)
    with pytest.raises(Conflict):
        _run(db, account, batch_id, req)
    assert _batch(db, batch_id).status == "FAILED"


def test_an_unexpected_error_is_logged_with_the_batch_id_and_recorded(db, account, monkeypatch, caplog):
    def crash(*args, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(batches, "accept", crash)
    batch_id, req = _new(db, account)
    with caplog.at_level(logging.ERROR, logger="textos.batches"):
        batches.start(db, SETTINGS, account.id, req, "test", batch_id).join()
    assert _batch(db, batch_id).status == "FAILED"
    assert _batch(db, batch_id).errors == [{"message": "internal error: RuntimeError", "receiver": ""}]
    assert any(batch_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_failure_that_cannot_be_recorded_is_logged_not_swallowed(db, account, monkeypatch, caplog):
    def crash(*args, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    set_batch = batches._set

    def database_gone(db, batch_id, *conditions, **values):  # type: ignore[no-untyped-def]
        if values.get("status") == BatchStatus.FAILED.value:
            raise ConnectionError("database gone")
        return set_batch(db, batch_id, *conditions, **values)

    monkeypatch.setattr(batches, "accept", crash)
    monkeypatch.setattr(batches, "_set", database_gone)
    batch_id, req = _new(db, account)
    with caplog.at_level(logging.ERROR, logger="textos.batches"):
        batches.start(db, SETTINGS, account.id, req, "test", batch_id).join()
    assert any(batch_id in r.getMessage() and "could not record" in r.getMessage() for r in caplog.records)


def test_the_ingesting_process_keeps_its_batch_fresh(db, account, monkeypatch):
    monkeypatch.setattr(batches, "HEARTBEAT", 0.05)
    monkeypatch.setattr(batches, "ABANDONED_AFTER", 0.2)
    batch_id, req = _new(db, account)
    release = threading.Event()
    seen: list[dt.datetime] = []

    def slow_accept(*args, **kw):  # type: ignore[no-untyped-def]
        _age(db, batch_id, BatchStatus.INSERTING, 60)
        batches._running.discard(batch_id)  # as if another process ran it: only the heartbeat protects it
        release.wait(5)
        seen.append(_batch(db, batch_id).updated_at)
        raise BadRequest("receivers: stop here")

    monkeypatch.setattr(batches, "accept", slow_accept)
    thread = batches.start(db, SETTINGS, account.id, req, "test", batch_id)
    threading.Event().wait(0.3)
    assert complete_finished(db) == 0  # not abandoned: its updated_at is fresh
    release.set()
    thread.join()
    assert utcnow() - seen[0] < dt.timedelta(seconds=5)


def test_a_batch_completes_only_once_every_message_is_final(db, account):
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req)
    assert complete_finished(db) == 0  # messages still queued
    assert _batch(db, batch_id).status == "INSERTED"
    _settle(db, batch_id, MessageStatus.SENT)
    assert complete_finished(db, batch_id) == 0  # sent: their receipts may still come
    assert _batch(db, batch_id).status == "INSERTED"
    _settle(db, batch_id, MessageStatus.NO_RECEIPT)  # receipt_timeout gave up on them: final
    assert complete_finished(db, batch_id) == 1
    batch = _batch(db, batch_id)
    assert batch.status == "COMPLETED" and batch.finished_at is not None
    assert complete_finished(db) == 0


def test_a_batch_finished_when_its_last_message_settled_however_late_it_is_seen(db, account, monkeypatch):
    """``finishedAt`` is when the last message settled (a receipt, the receipt deadline), not
    when ``complete_finished`` noticed: here it runs an hour later, and changes nothing of it."""
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req)
    with db.session() as s:
        first, second = s.scalars(select(Message.id).where(Message.job_id == _batch(db, batch_id).job_id).order_by(Message.id))
        s.execute(update(Message).where(Message.id == first).values(status="sent", sent_at=utcnow(), carrier_id="c1"))
        s.execute(update(Message).where(Message.id == second).values(status="sent", sent_at=utcnow()))
    before = utcnow()
    with db.session() as s:
        receipts.apply_receipts(s, [receipts.KeptReceipt("c1", DeliveryState.DELIVERED, None, None)])
    with db.session() as s:
        assert messages.close_without_receipt(s, timeout=0) == [second]
    after = utcnow()
    assert (_batch(db, batch_id).status, _batch(db, batch_id).finished_at) == ("INSERTED", None)  # read: nothing written
    monkeypatch.setattr(batches, "utcnow", lambda: after + dt.timedelta(hours=1))
    assert complete_finished(db, batch_id) == 1
    batch = _batch(db, batch_id)
    assert batch.status == "COMPLETED" and before <= batch.finished_at <= after
    assert batch.updated_at == after + dt.timedelta(hours=1)  # the row changed then


def test_renaming_a_batch_changes_its_updated_at(db, account, monkeypatch):
    batch_id, _ = _new(db, account)
    created = _batch(db, batch_id).updated_at
    monkeypatch.setattr(batches, "utcnow", lambda: created + dt.timedelta(minutes=5))
    with db.session() as s:
        batches.rename_batch(s.get_one(Batch, batch_id), "summer")
    assert (_batch(db, batch_id).name, _batch(db, batch_id).updated_at) == ("summer", created + dt.timedelta(minutes=5))


def test_a_batch_still_sending_is_checked_less_and_less_often(db, account, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(batches, "_clock", lambda: now[0])
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req)
    checked: list[float] = []
    unfinished_left = batches._unfinished_left
    monkeypatch.setattr(batches, "_unfinished_left", lambda s, job_id: checked.append(now[0]) or unfinished_left(s, job_id))
    for _ in range(40):  # 20 s, half a second at a time
        complete_finished(db)
        now[0] += 0.5
    assert [t - 1000 for t in checked] == [0, 1, 3, 7, 15]
    _settle(db, batch_id, MessageStatus.DELIVERED)
    now[0] = 1000 + 31
    assert complete_finished(db) == 1


@pytest.mark.parametrize("left, ended", [(BatchStatus.INSERTING, "FAILED"), (BatchStatus.PENDING, "FAILED"), (BatchStatus.TO_CANCEL, "CANCELED")])
def test_complete_finished_ends_batches_left_by_a_stopped_process(db, account, left, ended):
    stale, fresh = _new(db, account)[0], _new(db, account)[0]
    _age(db, stale, left, batches.ABANDONED_AFTER + 5)
    _age(db, fresh, left, 1)
    assert complete_finished(db) == 1
    assert (_batch(db, stale).status, _batch(db, fresh).status) == (ended, left.value)
    assert _batch(db, stale).errors == [{"message": batches.INTERRUPTED, "receiver": ""}]


def test_complete_finished_opens_no_write_transaction_when_nothing_moves(db, account):
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req)
    writes: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.split()[0].upper() in ("UPDATE", "INSERT", "DELETE") or "IMMEDIATE" in statement:
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert complete_finished(db) == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert writes == []


def test_cancel_an_inserted_batch_refunds_its_queued_messages(db, account):
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req, deferred=utcnow() + dt.timedelta(days=1))
    assert _credits(db, account) == 98.0
    batches.cancel_batch(db, batch_id, "test")
    assert _batch(db, batch_id).status == "CANCELED"
    assert _credits(db, account) == 100.0
    with db.read() as s:
        stats = batches.batch_stats(s, _batch(db, batch_id))
    assert (stats.cancelled, stats.pending, stats.credits_milli) == (2, 0, 0)
    with pytest.raises(Conflict, match="CANCELED and cannot be canceled"):
        batches.cancel_batch(db, batch_id, "test")


def test_a_batch_handed_to_a_carrier_cannot_be_canceled(db, account):
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req)
    _settle(db, batch_id, MessageStatus.SENT)
    with pytest.raises(Conflict, match="already handed to a carrier"):
        batches.cancel_batch(db, batch_id, "test")


def test_statistics_count_messages_by_outcome(db, account):
    batch_id, req = _new(db, account, ["+33612345678", "+33612345679", "+33612345670"])
    _run(db, account, batch_id, req)
    with db.session() as s:
        ids = sorted(s.scalars(select(Message.id).where(Message.job_id == s.get_one(Batch, batch_id).job_id)))
        for message_id, status in zip(ids, (MessageStatus.DELIVERED, MessageStatus.EXPIRED)):
            s.execute(update(Message).where(Message.id == message_id).values(status=status.value))
    with db.read() as s:
        stats = batches.batch_stats(s, s.get_one(Batch, batch_id))
    assert (stats.delivered, stats.failed, stats.pending, stats.sent, stats.total) == (1, 1, 1, 0, 3)


def test_statistics_count_messages_without_receipt_as_failed_and_on_their_own(db, account):
    batch_id, req = _new(db, account, ["+33612345678", "+33612345679", "+33612345670"])
    _run(db, account, batch_id, req)
    with db.session() as s:
        ids = sorted(s.scalars(select(Message.id).where(Message.job_id == s.get_one(Batch, batch_id).job_id)))
        for message_id, status in zip(ids, (MessageStatus.NO_RECEIPT, MessageStatus.FAILED, MessageStatus.SENT)):
            s.execute(update(Message).where(Message.id == message_id).values(status=status.value))
    with db.read() as s:
        batch = s.get_one(Batch, batch_id)
        view = batches.statistics_view(batch, batches.batch_stats(s, batch))
    assert (view["failed"], view["noReceipt"], view["sent"], view["pending"]) == (2, 1, 1, 0)


def test_only_an_ended_batch_is_removed_and_its_job_stays(db, account):
    batch_id, req = _new(db, account)
    _run(db, account, batch_id, req)
    with pytest.raises(Conflict, match="INSERTED"):
        with db.session() as s:
            batches.remove_batch(s, s.get_one(Batch, batch_id))
    _settle(db, batch_id, MessageStatus.DELIVERED)
    with db.session() as s:  # finished, even if no writer moved it to COMPLETED yet
        batches.remove_batch(s, s.get_one(Batch, batch_id))
    with db.read() as s:
        assert s.get(Batch, batch_id) is None
        assert s.scalars(select(Job.batch_id)).all() == [None]
