"""Receipts (``storage.receipts``): the carrier-id rule production uses, settling single and
long messages, and receipts racing ahead of their submit results (kept, then applied once)."""

from __future__ import annotations

import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text, update

from lifecycle_helpers import new_account, send, statuses
from textos.delivery.connector import Receipt, SubmitOutcome, SubmitResult
from textos.domain.lifecycle import DeliveryState, MessageStatus, outcome_of
from textos.storage import messages
from textos.storage.fastsql import run
from textos.storage.models import Account, Message, MessagePart, PendingReceipt, utcnow
from textos.storage.receipts import apply_receipts, canonical_carrier_id, carrier_id_variants, forget_kept, replay_pending


@pytest.fixture
def account(db):
    return new_account(db)


def claim(db) -> None:
    with db.session() as s:
        messages.claim_due(s, 100, lambda *fields: fields)


def store_sent(session, mid: int, *part_ids: str) -> None:
    messages.store_sent(session, [SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids)], {mid: "sim"}, {mid: len(part_ids)})


def sent_as(db, account, *carrier_ids: str) -> list[int]:
    """One-part messages, claimed and stored as sent under these carrier ids (in this order)."""
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(1, len(carrier_ids) + 1)])
    claim(db)
    with db.session() as s:
        for mid, carrier_id in zip(ids, carrier_ids):
            store_sent(s, mid, carrier_id)
    return ids


def kept(db) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(PendingReceipt)).scalar_one()


def outcome(db, mid: int) -> tuple[str, int, int]:
    with db.read() as s:
        m = s.get_one(Message, mid)
        return m.status, m.ptt, m.dlr


# The carrier-id rule


@pytest.mark.parametrize(
    "given, canonical",
    [("1A2B", "1a2b"), ("00001a2b", "1a2b"), (" 42 ", "42"), ("0042", "42"), ("000", "0"), ("0", "0"), ("Msg-7", "msg-7")],
)
def test_a_carrier_id_is_stored_lower_case_trimmed_without_leading_zeros(given, canonical):
    assert canonical_carrier_id(given) == canonical


@pytest.mark.parametrize(
    "given, forms",
    [
        ("1A2B", {"1a2b", "6699"}),  # hex, and its decimal
        ("6699", {"6699", "1a2b", "26265"}),  # decimal (its hex), or hex written with digits only
        ("00042", {"42", "2a", "66"}),
        ("FF", {"ff", "255"}),
        ("msg-7", {"msg-7"}),  # neither: itself only
        ("1" * 40, {"1" * 40}),  # too long to be a number a carrier converts
    ],
)
def test_a_carrier_id_may_come_back_in_its_other_base(given, forms):
    assert carrier_id_variants(given) == forms


def test_a_receipt_finds_its_message_whatever_form_each_side_used(db, account):
    hex_id, dec_id, padded = sent_as(db, account, "0001A2B", "6700", "00ABC")
    with db.session() as s:
        changed, pending = apply_receipts(
            s, [Receipt("6699", DeliveryState.DELIVERED), Receipt("1A2C", DeliveryState.DELIVERED), Receipt("abc", DeliveryState.EXPIRED)]
        )
    assert (sorted(changed), pending) == (sorted([hex_id, dec_id, padded]), 0)
    assert statuses(db, [hex_id, dec_id, padded]) == ["delivered", "delivered", "failed"]


# Settling


def test_each_reported_state_settles_a_message_as_the_lifecycle_says(db, account):
    states = list(DeliveryState)
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(len(states))])
    claim(db)
    with db.session() as s:
        for i, mid in enumerate(ids):
            store_sent(s, mid, f"s{i}")
    with db.session() as s:
        apply_receipts(s, [Receipt(f"s{i}", state, "042") for i, state in enumerate(states)])
    for mid, state in zip(ids, states):
        status, ptt, dlr = outcome_of(state)
        assert outcome(db, mid) == (status.value, ptt, dlr), state


def long_message_sent(db, account, *part_ids: str) -> int:
    mid = send(db, account, ["+33612345678"], message="y" * 400)[0]  # 3 parts
    claim(db)
    with db.session() as s:
        store_sent(s, mid, *part_ids)
    return mid


def report(db, *receipts: Receipt) -> None:
    with db.session() as s:
        apply_receipts(s, list(receipts))


def test_a_long_message_is_delivered_when_every_part_is(db, account):
    mid = long_message_sent(db, account, "d1", "d2", "d3")
    report(db, Receipt("d1", DeliveryState.DELIVERED), Receipt("d2", DeliveryState.ACCEPTED))
    assert outcome(db, mid)[0] == MessageStatus.SENT.value
    report(db, Receipt("d2", DeliveryState.DELIVERED), Receipt("d3", DeliveryState.DELIVERED))
    assert outcome(db, mid) == ("delivered", *outcome_of(DeliveryState.DELIVERED)[1:])
    with db.read() as s:
        assert set(s.scalars(select(MessagePart.state).where(MessagePart.message_id == mid))) == {"delivered"}


def test_a_long_message_fails_when_one_part_fails(db, account):
    mid = long_message_sent(db, account, "b1", "b2", "b3")
    report(db, Receipt("b1", DeliveryState.DELIVERED), Receipt("b2", DeliveryState.DELIVERED))
    assert statuses(db, [mid]) == ["sent"]
    report(db, Receipt("b3", DeliveryState.UNDELIVERABLE, "001"))
    with db.read() as s:
        m = s.get_one(Message, mid)
        assert (m.status, m.ptt, m.dlr, m.error) == ("failed", *outcome_of(DeliveryState.UNDELIVERABLE)[1:], "001")


def test_a_receipt_that_comes_again_changes_nothing_and_is_not_told_again(db, account):
    """An SMSC resends a receipt we did not answer (the link dropped, the process was killed after
    the commit): the message stays as it is, nothing is noted, no second callback event is written."""
    single = send(db, account, ["+33612345601"])[0]
    claim(db)
    with db.session() as s:
        store_sent(s, single, "again1")
        s.execute(update(Account).where(Account.id == account.id).values(callback="https://crm.example.com/dlr"))
    long = long_message_sent(db, account, "r1", "r2", "r3")
    receipts = [Receipt("again1", DeliveryState.DELIVERED), *(Receipt(f"r{i}", DeliveryState.DELIVERED) for i in (1, 2, 3))]
    with db.session() as s:
        assert sorted(apply_receipts(s, receipts)[0]) == sorted([single, long])

    def told() -> list[tuple[str, str]]:
        with db.read() as s:
            return sorted((key, params if isinstance(params, str) else json.dumps(params, sort_keys=True))
                          for key, params in s.execute(text("SELECT order_key, params FROM callback_events")).all())

    before = told()
    assert len(before) == 4  # sent and delivered, of each message
    for again in (receipts, [Receipt("again1", DeliveryState.ENROUTE), Receipt("r2", DeliveryState.ACCEPTED)]):
        with db.session() as s:
            assert apply_receipts(s, again) == ([], 0)
        assert told() == before
        assert statuses(db, [single, long]) == ["delivered", "delivered"]


# Carriers number their ids each on their own: one id may name a message of each


def sent_via(db, account, *sent: tuple[str, str]) -> list[int]:
    """One-part messages, claimed and stored as sent under these (carrier id, connector) pairs."""
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(1, len(sent) + 1)])
    claim(db)
    with db.session() as s:
        for mid, (carrier_id, connector) in zip(ids, sent):
            messages.store_sent(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, [carrier_id])], {mid: connector}, {mid: 1})
    return ids


@pytest.mark.parametrize("batches", ["one batch", "primary first", "uk first"])
def test_one_id_from_two_carriers_settles_each_carriers_own_message(db, account, batches):
    """Two SMSCs both answered ``10001``: each receipt settles the message its own carrier sent, whether
    the two receipts come in one batch (they were once folded into one, the other lost) or one after the other."""
    primary, uk = sent_via(db, account, ("10001", "primary"), ("10001", "uk"))
    delivered = Receipt("10001", DeliveryState.DELIVERED, connector="primary")
    undeliverable = Receipt("10001", DeliveryState.UNDELIVERABLE, "001", connector="uk")
    rounds = {"one batch": [[delivered, undeliverable]], "primary first": [[delivered], [undeliverable]],
              "uk first": [[undeliverable], [delivered]]}[batches]
    changed: list[int] = []
    for receipts in rounds:
        with db.session() as s:
            settled, pending = apply_receipts(s, receipts)
        changed += settled
        assert pending == 0
    assert sorted(changed) == sorted([primary, uk])
    assert statuses(db, [primary, uk]) == ["delivered", "failed"]


def test_a_receipt_ahead_of_its_result_never_settles_another_carriers_message_under_its_id(db, account):
    """``10001`` of the uk carrier comes before its submit result is stored, while primary's ``10001``
    is in flight: it is kept (with its connector), primary's message stays as it is, and storing the
    uk message's result applies the kept receipt to that one (``messages.store_sent`` replays)."""
    primary, uk = send(db, account, ["+33612345601", "+447400123456"])
    claim(db)

    def stored(mid: int, connector: str) -> None:
        with db.session() as s:
            messages.store_sent(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, ["10001"])], {mid: connector}, {mid: 1})

    stored(primary, "primary")
    with db.session() as s:
        assert apply_receipts(s, [Receipt("10001", DeliveryState.UNDELIVERABLE, "001", connector="uk")]) == ([], 1)
    assert statuses(db, [primary]) == ["sent"]
    stored(uk, "uk")
    assert statuses(db, [primary, uk]) == ["sent", "failed"]
    assert kept(db) == 0
    report(db, Receipt("10001", DeliveryState.DELIVERED, connector="primary"))
    assert statuses(db, [primary, uk]) == ["delivered", "failed"]
    assert kept(db) == 0


def test_one_part_id_from_two_carriers_settles_each_carriers_own_long_message(db, account):
    """Parts too: two SMSCs each numbered the parts of a long message ``20001``–``20003``. Primary's
    receipts settle primary's message and leave the uk message's parts as they were; the uk's then
    settle the uk's."""
    primary, uk = send(db, account, ["+33612345601", "+447400123456"], message="y" * 400)  # 3 parts each
    claim(db)
    part_ids = ["20001", "20002", "20003"]
    with db.session() as s:
        for mid, connector in ((primary, "primary"), (uk, "uk")):
            messages.store_sent(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids)], {mid: connector}, {mid: 3})
    report(db, *(Receipt(cid, DeliveryState.DELIVERED, connector="primary") for cid in part_ids))
    assert statuses(db, [primary, uk]) == ["delivered", "sent"]
    with db.read() as r:
        assert r.scalars(select(MessagePart.state).where(MessagePart.message_id == uk)).all() == [None, None, None]
    report(db, Receipt("20002", DeliveryState.UNDELIVERABLE, "001", connector="uk"))
    assert statuses(db, [primary, uk]) == ["delivered", "failed"]
    assert kept(db) == 0


# Receipts after the receipt deadline (the real outcome wins over "no receipt")


def given_up(db, *mids: int) -> None:
    """As ``receipt_timeout`` leaves them: sent long ago, settled as *no_receipt*."""
    with db.session() as s:
        s.execute(update(Message).where(Message.id.in_(mids)).values(sent_at=utcnow() - dt.timedelta(hours=1)))
    with db.session() as s:
        assert sorted(messages.close_without_receipt(s, timeout=60)) == sorted(mids)


def test_a_final_receipt_after_the_deadline_settles_the_message_with_its_real_outcome(db, account):
    delivered, failed = send(db, account, ["+33612345601", "+33612345602"])
    claim(db)
    with db.session() as s:
        store_sent(s, delivered, "late1")
        store_sent(s, failed, "late2")
    given_up(db, delivered, failed)
    with db.session() as s:
        changed, pending = apply_receipts(s, [Receipt("late1", DeliveryState.DELIVERED), Receipt("late2", DeliveryState.UNDELIVERABLE, "001")])
    assert (sorted(changed), pending) == (sorted([delivered, failed]), 0)
    assert outcome(db, delivered) == ("delivered", 4, 1)
    assert outcome(db, failed) == ("failed", 5, 2)


def test_a_late_intermediate_receipt_leaves_a_message_without_receipt_as_it_is(db, account):
    mid = send(db, account, ["+33612345601"])[0]
    claim(db)
    with db.session() as s:
        store_sent(s, mid, "slow")
    given_up(db, mid)
    report(db, Receipt("slow", DeliveryState.ENROUTE))
    assert outcome(db, mid) == ("no_receipt", 6, 2)  # not back to "sent": that would only wait for the deadline again


def test_a_long_message_without_receipt_is_settled_by_its_late_parts(db, account):
    mid = long_message_sent(db, account, "l1", "l2", "l3")
    report(db, Receipt("l1", DeliveryState.DELIVERED))
    given_up(db, mid)
    report(db, Receipt("l2", DeliveryState.DELIVERED), Receipt("l3", DeliveryState.ACCEPTED))
    assert outcome(db, mid)[0] == "no_receipt"  # one part still unknown
    report(db, Receipt("l3", DeliveryState.DELIVERED))
    assert outcome(db, mid) == ("delivered", 4, 1)


# Receipts ahead of their submit results


def test_receipt_before_submit_result_is_kept_and_applied(db, account):
    mid = send(db, account, ["+33612345678"], message="x" * 200)[0]  # 2 parts
    claim(db)
    with db.session() as s:  # receipts arrive first, part 2 in decimal form
        changed, pending = apply_receipts(s, [Receipt("a1", DeliveryState.DELIVERED), Receipt(str(0xA2), DeliveryState.DELIVERED)])
        assert (changed, pending) == ([], 2)
    assert kept(db) == 2
    with db.session() as s:
        store_sent(s, mid, "A1", "A2")
    assert outcome(db, mid) == ("delivered", *outcome_of(DeliveryState.DELIVERED)[1:])
    assert kept(db) == 0


def test_a_receipt_ahead_of_its_result_is_kept_though_its_id_read_in_the_other_base_is_a_settled_message(db, account):
    """Carrier ids in hex made of digits only read as decimal name another message:
    ``10036`` (hex) is 65590, so a receipt for ``65590`` that overtakes its submit result
    must not be spent on the message stored as ``10036``, long settled, but kept."""
    old, new = send(db, account, ["+33612345601", "+33612345602"])
    claim(db)
    with db.session() as s:
        store_sent(s, old, "10036")
    report(db, Receipt("10036", DeliveryState.DELIVERED))
    with db.session() as s:  # the receipt of the message not stored yet
        assert apply_receipts(s, [Receipt("65590", DeliveryState.DELIVERED)]) == ([], 1)
    assert kept(db) == 1
    with db.session() as s:  # a replay meanwhile leaves it kept
        assert replay_pending(s, ["65590"]) == 0
    assert kept(db) == 1
    with db.session() as s:
        store_sent(s, new, "65590")
    assert statuses(db, [old, new]) == ["delivered", "delivered"]
    assert kept(db) == 0


def test_a_receipt_in_the_other_base_for_a_message_in_flight_still_settles_it(db, account):
    (mid,) = sent_as(db, account, "10036")
    report(db, Receipt("65590", DeliveryState.DELIVERED))
    assert statuses(db, [mid]) == ["delivered"]
    assert kept(db) == 0


def claimed_with_two_writers(db, account) -> int:
    """A message claimed, on a backend where receipts and results are written at once (PostgreSQL)."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the two transactions cannot overlap")
    mid = send(db, account, ["+33612345678"])[0]
    claim(db)
    return mid


def test_receipt_kept_while_its_result_commits_concurrently_is_applied_by_the_follow_up_replay(db, account):
    """PostgreSQL writes receipts and submit results on two connections: a receipt can be
    kept by a transaction that cannot see the result, while the result's transaction
    cannot see the kept receipt. The receipt writer replays after committing."""
    mid = claimed_with_two_writers(db, account)
    receipts = db.session()
    r = receipts.__enter__()
    assert apply_receipts(r, [Receipt("c1", DeliveryState.DELIVERED)]) == ([], 1)  # not committed yet
    with db.session() as s:  # the result commits; its replay cannot see the kept receipt
        store_sent(s, mid, "C1")
    receipts.__exit__(None, None, None)
    assert statuses(db, [mid]) == ["sent"]
    with db.session() as s:  # the receipt writer's replay
        assert replay_pending(s, ["c1"]) == 1
    assert statuses(db, [mid]) == ["delivered"]
    assert kept(db) == 0


def test_receipt_replayed_before_its_result_commits_stays_kept_for_the_result_writer(db, account):
    """The other order: the receipt writer's replay runs while the result is still
    uncommitted. It must leave the kept receipt alone; the result writer's replay after
    its commit applies it."""
    mid = claimed_with_two_writers(db, account)
    results = db.session()
    res = results.__enter__()
    store_sent(res, mid, "E1")
    with db.session() as s:
        assert apply_receipts(s, [Receipt("e1", DeliveryState.DELIVERED)]) == ([], 1)
    with db.session() as s:  # the receipt writer's replay: the message is not visible yet
        assert replay_pending(s, ["e1"]) == 0
    assert kept(db) == 1
    results.__exit__(None, None, None)
    with db.session() as s:  # the result writer's replay
        assert replay_pending(s, ["e1"]) == 1
    assert statuses(db, [mid]) == ["delivered"]


def test_a_kept_receipt_is_applied_by_one_replay_only(db, account):
    """Two replays of the same kept receipt: the second finds it already taken."""
    mid = send(db, account, ["+33612345678"])[0]
    claim(db)
    with db.session() as s:
        apply_receipts(s, [Receipt("d1", DeliveryState.DELIVERED)])
    with db.session() as s:
        run(s, "UPDATE messages SET status = ?, carrier_id = 'd1' WHERE id = ?", (MessageStatus.SENT.value, mid))
    if db.is_sqlite:
        with db.session() as s:
            assert replay_pending(s, ["d1"]) == 1
        with db.session() as s:
            assert replay_pending(s, ["d1"]) == 0
        return
    first = db.session()
    a = first.__enter__()
    assert replay_pending(a, ["d1"]) == 1  # holds the deleted row until it commits
    with ThreadPoolExecutor(1) as pool:
        def second() -> int:
            with db.session() as s:
                return replay_pending(s, ["d1"])

        later = pool.submit(second)
        deadline = time.monotonic() + 30
        while not _someone_waits_for_a_lock(db):  # the second replay is blocked on the row
            assert time.monotonic() < deadline and not later.done()
            time.sleep(0.01)
        first.__exit__(None, None, None)
        assert later.result(timeout=30) == 0
    assert statuses(db, [mid]) == ["delivered"]


def _someone_waits_for_a_lock(db) -> bool:
    with db.read() as s:
        return bool(s.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar())


# What a faulty carrier sends (``tests/delivery/test_carrier_faults.py`` runs them end to end)


def test_in_one_batch_a_final_report_is_not_undone_by_a_later_one(db, account):
    """Two reports of one part in one batch count as if each came alone: a later intermediate one
    (enroute) or another final one does not replace the first final one."""
    enroute_after, failed_after, enroute_first = sent_as(db, account, "e1", "f1", "g1")
    report(db, Receipt("e1", DeliveryState.DELIVERED), Receipt("e1", DeliveryState.ENROUTE),
           Receipt("f1", DeliveryState.DELIVERED), Receipt("F1", DeliveryState.UNDELIVERABLE, "001"),
           Receipt("g1", DeliveryState.ENROUTE), Receipt("g1", DeliveryState.DELIVERED))
    assert statuses(db, [enroute_after, failed_after, enroute_first]) == ["delivered"] * 3


def test_a_part_reported_final_stays_so_when_a_late_report_comes(db, account):
    mid = long_message_sent(db, account, "p1", "p2", "p3")
    report(db, Receipt("p1", DeliveryState.DELIVERED))
    report(db, Receipt("p1", DeliveryState.ENROUTE))  # a late notification, or the SMSC's own resend
    report(db, Receipt("p2", DeliveryState.DELIVERED), Receipt("p3", DeliveryState.DELIVERED))
    assert statuses(db, [mid]) == ["delivered"]


def test_a_repeated_receipt_changes_nothing_and_tells_nobody(db, account):
    [mid] = sent_as(db, account, "r1")
    with db.session() as s:
        assert apply_receipts(s, [Receipt("r1", DeliveryState.DELIVERED)]) == ([mid], 0)
    with db.session() as s:
        assert apply_receipts(s, [Receipt("r1", DeliveryState.DELIVERED)]) == ([], 0)  # no second change event
        assert apply_receipts(s, [Receipt("R1", DeliveryState.UNDELIVERABLE)]) == ([], 0)
    assert statuses(db, [mid]) == ["delivered"]


def test_ids_and_error_codes_longer_than_their_columns_or_holding_nul_are_stored_and_matched(db, account):
    """An SMSC's message_id of 100 characters, one with a NUL, and an ``err:`` of 40 characters: on
    PostgreSQL each failed the whole transaction (and every receipt and result written with it)."""
    long_id, nul_id = "7" * 100, "ab\0cd"
    mid, other = sent_as(db, account, long_id, nul_id)
    assert len(canonical_carrier_id(long_id)) == 64 and canonical_carrier_id(long_id) != canonical_carrier_id("7" * 99 + "8")
    report(db, Receipt(long_id, DeliveryState.UNDELIVERABLE, "E" * 40), Receipt("abcd", DeliveryState.DELIVERED),
           Receipt("\0" + "9" * 80, DeliveryState.DELIVERED, "x\0y"))
    with db.read() as s:
        assert (s.get_one(Message, mid).status, s.get_one(Message, mid).error) == ("failed", "E" * 16)
        assert s.get_one(Message, other).status == "delivered"
        assert s.scalars(select(PendingReceipt.error_code)).all() == ["xy"]


def test_a_receipt_kept_again_by_a_replay_keeps_its_age_and_is_forgotten_past_the_deadline(db, account):
    """A replay takes a kept receipt whose other form names a message still awaiting its receipt
    (given up on); an intermediate report does not change it, so the receipt is kept again, as old
    as it was: replays do not keep it young forever."""
    given_up(db, *sent_as(db, account, "10036"))
    report(db, Receipt("65590", DeliveryState.ENROUTE))  # 0x10036 read as decimal: kept
    assert kept(db) == 1
    with db.session() as s:
        s.execute(update(PendingReceipt).values(received_at=utcnow() - dt.timedelta(hours=73)))
    with db.session() as s:
        assert replay_pending(s) == 0
    assert kept(db) == 1
    with db.session() as s:
        assert forget_kept(s, 72 * 3600) == 1
    assert kept(db) == 0


def test_receipts_kept_past_the_deadline_are_forgotten_the_newer_stay(db):
    """A receipt kept for an id never stored waits at most a receipt deadline (``forget_kept``)."""
    with db.session() as s:
        apply_receipts(s, [Receipt("dead1", DeliveryState.DELIVERED), Receipt("dead2", DeliveryState.UNDELIVERABLE)])
        s.execute(update(PendingReceipt).values(received_at=utcnow() - dt.timedelta(hours=73)))
        apply_receipts(s, [Receipt("fresh", DeliveryState.DELIVERED)])
    with db.session() as s:
        assert forget_kept(s, 72 * 3600) == 2
    with db.read() as s:
        assert s.execute(select(PendingReceipt.carrier_id)).scalars().all() == ["fresh"]
