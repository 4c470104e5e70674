"""The callbacks outbox (``storage.outbox``): delivery events written in the transaction of the
state change (one per change, only for accounts with a ``callBack``), claiming in order per key
with a per-host bound, leases, outcomes and replay."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from lifecycle_helpers import new_account, send
from textos.delivery.connector import Receipt, SubmitOutcome, SubmitResult
from textos.domain.lifecycle import DeliveryState
from textos.storage import messages, outbox
from textos.storage.models import Account, CallbackEvent, utcnow
from textos.storage.receipts import apply_receipts

HOOK = "https://hooks.example.com:8443/dlr?token=abc"


@pytest.fixture
def account(db):
    return new_account(db)


def set_callback(db, account, url: str | None) -> None:
    with db.session() as s:
        s.get_one(Account, account.id).callback = url


def events(db) -> list[CallbackEvent]:
    with db.read() as s:
        return list(s.scalars(select(CallbackEvent).order_by(CallbackEvent.id)))


def sent_then(db, ids: list[int], state: DeliveryState | None = None) -> None:
    with db.session() as s:
        messages.claim_due(s, 100, lambda *fields: fields)
    with db.session() as s:
        results = [SubmitResult(mid, SubmitOutcome.ACCEPTED, (f"c{mid}",)) for mid in ids]
        messages.store_sent(s, results, {mid: "sim" for mid in ids}, {mid: 1 for mid in ids})
    if state is not None:
        with db.session() as s:
            apply_receipts(s, [Receipt(f"c{mid}", state) for mid in ids])


def test_each_state_change_of_a_message_with_a_callback_is_an_event_with_ovh_parameters(db, account):
    set_callback(db, account, HOOK)
    [mid] = send(db, account, ["+33612345678"])
    assert events(db) == []  # queued: nothing to tell yet
    sent_then(db, [mid], DeliveryState.DELIVERED)
    sent, delivered = events(db)
    assert (sent.kind, sent.url, sent.host, sent.order_key, sent.status) == ("delivery", HOOK, "hooks.example.com", f"message:{mid}", "pending")
    assert {k: v for k, v in sent.params.items() if k != "date"} == {
        "id": str(mid), "ptt": "3", "description": "4", "descriptionDlr": "Pending", "dlr": "4",
    }
    assert {k: v for k, v in delivered.params.items() if k != "date"} == {
        "id": str(mid), "ptt": "4", "description": "1", "descriptionDlr": "Success", "dlr": "1",
    }
    date = dt.datetime.fromisoformat(delivered.params["date"])
    assert date.tzinfo is not None and abs(date - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    assert sent.id < delivered.id


def test_a_message_refunded_before_it_was_sent_is_told_too(db, account):
    set_callback(db, account, HOOK)
    [mid] = send(db, account, ["+33612345678"])
    with db.session() as s:
        messages.close_unsent(s, [mid], from_statuses=["queued"], to_status="cancelled", actor="t", reason="t")
    [event] = events(db)
    assert (event.params["ptt"], event.params["description"], event.params["descriptionDlr"]) == ("0", "16", "Error, not billed")


def test_no_event_without_a_callback_nor_after_a_rollback(db, account):
    [mid] = send(db, account, ["+33612345678"])
    sent_then(db, [mid])
    assert events(db) == []
    set_callback(db, account, HOOK)
    with pytest.raises(RuntimeError), db.session() as s:
        apply_receipts(s, [Receipt(f"c{mid}", DeliveryState.DELIVERED)])
        raise RuntimeError("rolled back")
    assert events(db) == []


def test_only_accounts_with_a_callback_get_events(db, account):
    with db.session() as s:
        from textos.services import admin

        other = admin.create_account(s, "pp12345-test", 100)
    set_callback(db, account, "http://[2001:db8::1]:81/x")
    mine = send(db, account, ["+33612345678", "+33612345679"])
    theirs = send(db, other, ["+33612345670"])
    sent_then(db, mine + theirs)
    assert [(e.params["id"], e.host) for e in events(db)] == [(str(m), "2001:db8::1") for m in mine]


def test_outbox_filled_fires_after_commits_that_add_events_and_only_those(db, account):
    fired = []
    db.outbox_filled.subscribe(lambda: fired.append(len(events(db))))
    [mid] = send(db, account, ["+33612345678"])
    sent_then(db, [mid])  # changes without a callBack: no event, the worker sleeps on
    assert fired == []
    set_callback(db, account, HOOK)
    with pytest.raises(RuntimeError), db.session() as s:
        apply_receipts(s, [Receipt(f"c{mid}", DeliveryState.DELIVERED)])
        raise RuntimeError("rolled back")
    assert fired == []
    with db.session() as s:
        apply_receipts(s, [Receipt(f"c{mid}", DeliveryState.DELIVERED)])
    assert fired == [1]  # told once, after the commit: the event is there to claim
    enqueue(db, account, "http://a.example/x", "k")
    assert fired == [1, 2]
    with db.session() as s:
        outbox.replay(s, s.get_one(CallbackEvent, events(db)[0].id))
    assert fired == [1, 2, 2]


def claim(db, capacity=None, default=8, lease=30.0, max_age=3600.0) -> list[outbox.Claimed]:
    with db.session() as s:
        return outbox.claim(s, capacity=capacity or {}, default_capacity=default, limit=100, lease=lease, max_age=max_age)


def enqueue(db, account, url: str, key: str, n: int = 1) -> None:
    with db.session() as s:
        for i in range(n):
            outbox.enqueue(s, account_id=account.id, kind="stop", url=url, params={"i": i}, order_key=key)


def test_claims_follow_the_order_of_each_key_and_lease_what_they_take(db, account):
    enqueue(db, account, "http://a.example/x", "k1", 3)
    enqueue(db, account, "http://b.example/x", "k2", 1)
    first = claim(db)
    assert [(c.order_key, c.params, c.attempts) for c in first] == [("k1", {"i": "0"}, 1), ("k2", {"i": "0"}, 1)]
    assert claim(db) == []  # leased, and k1's next waits for its first
    with db.session() as s:
        outbox.record(s, [outbox.Outcome(first[0].id, True, 200), outbox.Outcome(first[1].id, False, 500, "HTTP 500", utcnow())])
    again = claim(db)
    assert [(c.order_key, c.params, c.attempts) for c in again] == [("k1", {"i": "1"}, 1), ("k2", {"i": "0"}, 2)]


def test_a_failed_event_lets_the_next_of_its_key_go(db, account):
    enqueue(db, account, "http://a.example/x", "k", 2)
    [c] = claim(db)
    with db.session() as s:
        outbox.record(s, [outbox.Outcome(c.id, False, None, "refused", None)])
    assert [e.status for e in events(db)] == ["failed", "pending"]
    assert [x.params for x in claim(db)] == [{"i": "1"}]


def test_a_host_at_its_bound_is_not_claimed_and_others_are(db, account):
    for i in range(5):
        enqueue(db, account, "http://slow.example/x", f"s{i}")
    enqueue(db, account, "http://fast.example/x", "f")
    taken = claim(db, capacity={"slow.example": 2}, default=8)
    assert sorted(c.host for c in taken) == ["fast.example", "slow.example", "slow.example"]
    assert claim(db, capacity={"slow.example": 0}) == []
    assert len(claim(db, capacity={"slow.example": 1})) == 1


def test_a_lease_ends_and_sqlite_releases_all_at_start(db, account):
    enqueue(db, account, "http://a.example/x", "k")
    [c] = claim(db, lease=0.0)
    [again] = claim(db)  # a lease of 0 s: due again at once (as after a worker died)
    assert again.id == c.id and again.attempts == 2
    assert claim(db) == []
    with db.session() as s:
        assert outbox.release_leases(s) == 1
    assert [x.id for x in claim(db)] == [c.id]


def test_replay_makes_any_event_pending_with_a_new_max_age(db, account):
    enqueue(db, account, "http://a.example/x", "k")
    with db.session() as s:
        s.execute(update(CallbackEvent).values(created_at=utcnow() - dt.timedelta(days=2)))
    [c] = claim(db, max_age=86400)
    assert c.deadline < utcnow()
    with db.session() as s:
        outbox.record(s, [outbox.Outcome(c.id, False, 503, "HTTP 503", None)])
        outbox.replay(s, s.get_one(CallbackEvent, c.id))
    [again] = claim(db, max_age=86400)
    assert again.deadline > utcnow() + dt.timedelta(hours=23)


def test_leases_are_known_by_owner_and_released_by_owner(db, account):
    enqueue(db, account, "http://a.example/x", "k1")
    enqueue(db, account, "http://b.example/x", "k2")
    with db.session() as s:
        [first] = outbox.claim(s, capacity={"b.example": 0}, default_capacity=8, limit=10, lease=30, max_age=60, claimed_by=7)
        [second] = outbox.claim(s, capacity={}, default_capacity=8, limit=10, lease=30, max_age=60, claimed_by=9)
    with db.read() as s:
        assert outbox.lease_owners(s, 30) == {7, 9}
    with db.session() as s:
        assert outbox.release_leases(s, 7) == 1
    assert [c.id for c in claim(db)] == [first.id]
    with db.read() as s:
        assert outbox.lease_owners(s, 30) == {1, 9}


def test_a_saturated_hosts_backlog_hides_other_hosts_only_until_the_claim_reads_past_it(db, account):
    for i in range(5):
        enqueue(db, account, "http://slow.example/x", f"s{i}")
    enqueue(db, account, "http://fast.example/x", "f")
    with db.session() as s:  # the 3 oldest due events are the saturated host's: a short read sees nothing else
        assert outbox.claim(s, capacity={"slow.example": 0}, default_capacity=8, limit=3, lease=30, max_age=60,
                            past_full_hosts=False) == []
    with db.session() as s:
        [taken] = outbox.claim(s, capacity={"slow.example": 0}, default_capacity=8, limit=3, lease=30, max_age=60)
    assert taken.host == "fast.example"


def test_with_no_callback_anywhere_the_changed_messages_are_not_even_joined(db, account):
    """The delivery events' statement asks first whether any account or user has a ``callBack``
    (through the partial indexes of migration 0030): when none has, its join is never executed."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's plan tells whether the join ran")
    ids = send(db, account, ["+33612345678", "+33612345679"])
    sent_then(db, ids)
    sql = outbox._INSERTS[False].replace("{ids}", "%s, %s").replace("?", "%s")
    with db.session() as s:
        cur = s.connection().connection.driver_connection.cursor()
        now = utcnow()
        plan = [row[0] for row in cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, (now, now, *ids)).fetchall()]
        s.rollback()
    joined = [line for line in plan if "messages m" in line]
    assert joined and all("never executed" in line for line in joined), plan
    set_callback(db, account, HOOK)
    with db.session() as s:
        apply_receipts(s, [Receipt(f"c{mid}", DeliveryState.DELIVERED) for mid in ids])
    assert [e.params["id"] for e in events(db)] == [str(mid) for mid in ids]  # one account with a callBack: written
