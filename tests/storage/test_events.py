"""Message state changes (``storage.events``): listeners are told after the commit, never
after a rollback, each id once, and nothing they do breaks what committed."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from lifecycle_helpers import new_account, send, statuses
from textos.storage.events import Changes, changed
from textos.storage.messages import close_unsent


@pytest.fixture
def account(db):
    return new_account(db)


def cancel(session, ids: list[int]) -> list[int]:
    return close_unsent(session, ids, from_statuses=["queued"], to_status="cancelled", actor="test", reason="stopped")


def test_listeners_are_told_once_the_change_is_committed(db, account):
    ids = send(db, account, ["+33612345678", "+33612345679"])
    heard: list[tuple[list[int], list[str]]] = []
    db.changes.subscribe(lambda changed_ids: heard.append((changed_ids, statuses(db, changed_ids))))
    with db.session() as s:
        cancel(s, ids)
        assert heard == []  # not yet committed
    assert heard == [(ids, ["cancelled", "cancelled"])]  # what a listener reads is already true


def test_nothing_is_told_of_a_transaction_rolled_back(db, account):
    ids = send(db, account, ["+33612345678"])
    heard: list[list[int]] = []
    db.changes.subscribe(heard.append)
    with pytest.raises(RuntimeError), db.session() as s:
        cancel(s, ids)
        raise RuntimeError("something else failed")
    assert heard == [] and statuses(db, ids) == ["queued"]
    with db.session() as s:  # the next transaction does not tell the one rolled back either
        pass
    assert heard == []


def test_each_id_is_told_once_per_commit(db):
    heard: list[list[int]] = []
    db.changes.subscribe(heard.append)
    with db.session() as s:
        changed(s, [3, 1])
        changed(s, [1, 2])
    assert heard == [[3, 1, 2]]


def test_a_failing_listener_breaks_neither_the_commit_nor_the_other_listeners(db, account, caplog):
    ids = send(db, account, ["+33612345678"])
    heard: list[list[int]] = []

    def broken(_: list[int]) -> None:
        raise ValueError("listener bug")

    db.changes.subscribe(broken)
    db.changes.subscribe(heard.append)
    with caplog.at_level(logging.ERROR, logger="textos.events"), db.session() as s:
        cancel(s, ids)
    assert heard == [ids] and statuses(db, ids) == ["cancelled"]
    assert "message state listener failed" in caplog.text


def test_a_listener_in_an_event_loop_is_called_there_without_blocking_the_committer():
    changes = Changes()

    async def main() -> tuple[list[int], threading.Thread]:
        told: asyncio.Future[tuple[list[int], threading.Thread]] = asyncio.get_running_loop().create_future()
        changes.subscribe(lambda ids: told.set_result((ids, threading.current_thread())), loop=asyncio.get_running_loop())
        committer = threading.Thread(target=changes.publish, args=([5, 6],))
        committer.start()
        committer.join()  # returned before the listener ran: the loop was not free
        assert not told.done()
        return await asyncio.wait_for(told, 5)

    ids, thread = asyncio.run(main())
    assert ids == [5, 6] and thread is threading.main_thread()


def test_an_unsubscribed_listener_is_told_nothing():
    changes = Changes()
    heard: list[list[int]] = []
    unsubscribe = changes.subscribe(heard.append)
    changes.publish([1])
    unsubscribe()
    changes.publish([2])
    assert heard == [[1]]
