"""Dispatcher instances (``delivery.ownership``): who holds which number, and who may
queue again what a dispatcher left in flight."""

from __future__ import annotations

import pytest

from helpers import wait_until
from lifecycle_helpers import new_account, send, statuses
from textos.delivery.connector import OutboundMessage
from textos.delivery.ownership import AnotherDispatcher, Instance, requeue_orphans
from textos.storage.messages import claim_due


def test_a_dispatcher_instance_holds_its_number_and_sees_who_is_gone(db):
    first = Instance(db)
    try:
        if db.is_sqlite:
            with pytest.raises(AnotherDispatcher):
                Instance(db)
            return
        second = Instance(db)
        assert second.number != first.number
        assert not second.owner_gone(first.number)  # alive: its lock is held
        first._conn.close()  # its connection drops (a crash, a network cut)
        # the server releases the lock when it has seen the connection go: not at once
        wait_until(lambda: second.owner_gone(first.number), timeout=10, what="the gone dispatcher's lock")
        second.release(first.number)
        assert first.alive() is False  # noticed, and took its number again
        assert first.alive() is True and not second.owner_gone(first.number)
        second.close()
    finally:
        first.close()


def test_only_the_messages_of_dispatchers_that_are_gone_are_queued_again(db):
    if db.is_sqlite:
        pytest.skip("SQLite has one dispatcher, which queues again everything in flight at its start")
    account = new_account(db)
    ours, alive, gone, unnumbered = send(db, account, ["+33612345601", "+33612345602", "+33612345603", "+33612345604"])
    me, other = Instance(db), Instance(db)
    try:
        for instance in (me.number, other.number, 424242, None):  # in the order of the ids
            with db.session() as s:
                claim_due(s, 1, OutboundMessage, instance=instance)
        assert requeue_orphans(db, me) == 1
        assert statuses(db, [ours, alive, gone, unnumbered]) == ["submitting", "submitting", "queued", "submitting"]
        assert other.owner_gone(424242)  # the gone one's lock was let go once its messages were queued again
        other.release(424242)
        assert requeue_orphans(db, me, at_start=True) == 1  # claimed before instance numbers: at start only
        assert statuses(db, [ours, alive, unnumbered]) == ["submitting", "submitting", "queued"]
    finally:
        other.close()
        me.close()
