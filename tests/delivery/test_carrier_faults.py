"""Carrier faults: the real dispatcher and SMPP connector against an SMSC that misbehaves.

One harness, one row per fault (in the spirit of nyaruka/courier's shared handler tests):
a job of ten one-part messages and one of three parts is accepted through the accept path,
a ``FaultySmsc`` (``tests/fault_smsc.py``) is scripted with the fault, and a ``Dispatcher``
with an ``SmppConnector`` runs until every message is final. Then the fault ends, and one
more message must go through the same dispatcher and link. Every row asserts:

* every accepted message ends in the row's final state (delivered unless said otherwise),
  with an error for those not sent, and the ledger verifies (what was not sent is refunded);
* nothing is lost: every id the SMSC gave is stored on a message (or a part), or is the id of
  a submit whose answer never reached us, whose receipt is then kept in ``pending_receipts``;
* duplicates (parts the SMSC took twice) stay within the row's bound, which is the
  dispatcher's documented one (``delivery.dispatcher``: what was in flight, ``window`` parts);
* the dispatcher's loop still runs, the link is up, and the message sent after the fault is
  delivered; for faults that need not cost the link, the first bind is still the only one.

Faults whose traces are stored differently (receipts, ids, incoming messages, what a lost
answer leaves) run on both backends: SQLite's one writer and PostgreSQL's three (receipts
racing results). Faults of the link alone (binds, nacks, throttling, framing) change nothing
the storage sees but retries, and run on the first backend selected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import pytest
from sqlalchemy import update

from fault_smsc import FaultySmsc, accept_as, answer, answer_with, nack, pdu_bytes, write_then
from helpers import BACKENDS
from lifecycle_helpers import credits, new_account, send
from textos.delivery.connectors.smpp import SmppConnector
from textos.delivery.dispatcher import Dispatcher
from textos.delivery.routing import Router
from textos.domain.lifecycle import FINAL, REFUNDED
from textos.simulator.scenario import Rule
from textos.simulator.smsc import _Outbound
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.receipt_text import MessageState
from textos.storage.db import Database
from textos.storage.fastsql import run
from textos.storage.models import Message
from textos.storage.receipts import canonical_carrier_id

pytestmark = pytest.mark.timeout(60)

SHORT = [f"+336100000{i:02d}" for i in range(10)]
LONG_TO = "+33610000099"
AFTER_TO = "+33610000077"
LONG = "Rendez-vous jeudi [salle B] a 14 h, apportez vos badges. " * 7  # 3 parts of 153 septets
WINDOW = 8
FINAL_NAMES = {s.value for s in FINAL}
REFUNDED_NAMES = {s.value for s in REFUNDED}


def config(port: int) -> SmppCarrierConfig:
    """Short timers, so that a fault costs about a second; the response timeout long enough that
    a loaded machine does not make one of its own (it drops the link, and what it holds goes twice)."""
    return SmppCarrierConfig(
        port=port, system_id="acme", password="secret", window=WINDOW, response_timeout=1.0, enquire_link_interval=0.5,
        reconnect_backoff=(0.05, 0.2), throttle_backoff=0.05, submit_deadline=0.5,
    )


@dataclass(frozen=True)
class Fault:
    name: str
    script: Callable[[FaultySmsc], None]
    final: dict[str, int] = field(default_factory=lambda: {"delivered": 11})
    """How many of the eleven messages end in each state."""
    duplicates: int = 0
    """At most this many parts taken twice by the SMSC."""
    keeps_link: bool = False
    """The fault must not cost the link: one bind from start to end."""
    unknown_receipts: int = 0
    """Receipts for ids the SMSC never gave (kept in ``pending_receipts``)."""
    incoming: int = 0
    """Incoming messages the SMSC sent meanwhile, to be stored."""
    receipt_timeout: float | None = None
    valid_for: float | None = None
    """Seconds the messages stay valid (None: the default two days)."""
    stored: bool = False
    """What the fault leaves is stored differently per backend: run on both."""


def every_submit(handler_of: Callable[[], object], n: int) -> Callable[[FaultySmsc], None]:
    def script(smsc: FaultySmsc) -> None:
        smsc.next_submits.extend(handler_of() for _ in range(n))  # type: ignore[misc]

    return script


def on_submit(n: int, handler: object) -> Callable[[FaultySmsc], None]:
    """``handler`` for the n-th submit (1-based), the simulator for the others."""

    def script(smsc: FaultySmsc) -> None:
        smsc.next_submits.extend([lambda session, pdu: False] * (n - 1) + [handler])  # type: ignore[list-item]

    return script


def setting(**values: object) -> Callable[[FaultySmsc], None]:
    def script(smsc: FaultySmsc) -> None:
        for name, value in values.items():
            setattr(smsc, name, value)

    return script


def unknown_id(message_id: str) -> tuple[str, MessageState]:
    return format(0xF000_0000 + int(message_id, 16), "x"), MessageState.DELIVERED


def mo_with_truncated_udh(smsc: FaultySmsc) -> None:
    """An incoming message whose UDH says 5 octets and holds 3; the SMSC sends it until answered."""
    body = P.short_message_body(P.ShortMessage(
        P.CommandId.DELIVER_SM, source_addr_ton=1, source_addr="33610000055", destination_addr="36111", esm_class=0x40,
        short_message=bytes((5, 0, 3, 9)),
    ))
    smsc._ready.append(_Outbound("acme", body, "mo"))


TRUNCATED_DELIVER_SM = pdu_bytes(P.CommandId.DELIVER_SM, b"\0\x01\x01336")  # source address never terminated

FAULTS = [
    # the link
    Fault("link dropped mid-window", setting(drop_after=4), duplicates=WINDOW, stored=True),
    Fault("hung: reads and answers nothing", setting(deaf_after=3)),
    Fault("stops answering, still takes submits", setting(mute_after=3), duplicates=WINDOW),
    Fault("refuses the first binds", setting(refuse_binds=3)),
    Fault("refuses every bind", setting(refuse_binds=None), final={"expired": 11}, valid_for=1.0),
    # refusals
    Fault("generic_nack without a status", every_submit(lambda: nack(0), 3)),
    Fault("generic_nack ESME_RSYSERR", every_submit(lambda: nack(P.Status.ESME_RSYSERR), 3)),
    Fault("generic_nack ESME_RINVCMDLEN (permanent)", every_submit(lambda: nack(P.Status.ESME_RINVCMDLEN), 2),
          final={"rejected": 2, "delivered": 9}),
    Fault("generic_nack naming no request (sequence 0)", every_submit(lambda: nack(P.Status.ESME_RSYSERR, sequence=0), 2)),
    Fault("throttles (ESME_RTHROTTLED)", every_submit(lambda: answer(P.Status.ESME_RTHROTTLED), 6), keeps_link=True),
    Fault("queue full (ESME_RMSGQFUL)", every_submit(lambda: answer(P.Status.ESME_RMSGQFUL), 6), keeps_link=True),
    # receipts
    Fault("receipts for ids it never gave", setting(extra_receipt=unknown_id), keeps_link=True, unknown_receipts=13),
    Fault("every receipt twice", setting(extra_receipt=lambda mid: (mid, MessageState.DELIVERED)), keeps_link=True),
    Fault("a second receipt contradicting the first", setting(extra_receipt=lambda mid: (mid, MessageState.UNDELIVERABLE)),
          keeps_link=True, stored=True),
    Fault("an enroute notification after the final receipt", setting(extra_receipt=lambda mid: (mid, MessageState.ENROUTE)),
          keeps_link=True, stored=True),
    Fault("receipt before the submit response", setting(receipt_first=True), keeps_link=True, stored=True),
    # malformed PDUs
    Fault("malformed: command_length 3", on_submit(3, write_then(pdu_bytes(P.CommandId.DELIVER_SM, length=3), "length 3")),
          duplicates=WINDOW),
    Fault("malformed: command_length of 1 MB", on_submit(3, write_then(pdu_bytes(P.CommandId.DELIVER_SM, length=1 << 20), "1 MB")),
          duplicates=WINDOW),
    Fault("malformed: truncated deliver_sm", on_submit(3, write_then(TRUNCATED_DELIVER_SM, "truncated")), keeps_link=True),
    Fault("malformed: unknown command", on_submit(3, write_then(pdu_bytes(0x0000_0099, b"??"), "0x99")), keeps_link=True),
    Fault("malformed: a response to no request", on_submit(3, write_then(pdu_bytes(P.CommandId.SUBMIT_SM_RESP, b"ab\0"), "stray")),
          keeps_link=True),
    Fault("malformed: submit answered by an enquire_link_resp", every_submit(lambda: answer_with(P.CommandId.ENQUIRE_LINK_RESP), 2)),
    Fault("malformed: submit_sm_resp without a message id", on_submit(1, accept_as("")),
          final={"no_receipt": 1, "delivered": 10}, keeps_link=True, receipt_timeout=0.5),
    Fault("malformed: submit_sm_resp with a 100-character id", on_submit(1, accept_as("7" * 100)), keeps_link=True, stored=True),
    Fault("malformed: receipt with a 40-character err", setting(rules=[Rule("336", "undeliverable", error="E" * 40)]),
          final={"failed": 11}, keeps_link=True, stored=True),
    Fault("malformed: receipt id holding a NUL", setting(extra_receipt=lambda mid: ("\0" + unknown_id(mid)[0], MessageState.DELIVERED)),
          keeps_link=True, unknown_receipts=13, stored=True),
    Fault("malformed: incoming message with a truncated UDH", mo_with_truncated_udh, keeps_link=True, incoming=1),
    Fault("malformed: incoming message holding U+0000", lambda smsc: smsc.inject_mo("+33610000055", "36111", "a\0b", system_id="acme"),
          keeps_link=True, incoming=1, stored=True),
]


def stored_carrier_ids(db) -> set[str]:
    with db.read() as s:
        return {r[0] for t in ("messages", "message_parts") for r in run(s, f"SELECT carrier_id FROM {t} WHERE carrier_id IS NOT NULL")}


def kept_receipts(db) -> set[str]:
    with db.read() as s:
        return {r[0] for r in run(s, "SELECT carrier_id FROM pending_receipts")}


def settled(db, ids: list[int]) -> bool:
    with db.read() as s:
        return all(r[0] in FINAL_NAMES for r in run(s, f"SELECT status FROM messages WHERE id IN ({', '.join(map(str, ids))})"))


def outcomes(db, ids: list[int]) -> list[Message]:
    with db.read() as s:
        rows = [s.get_one(Message, i) for i in ids]
        s.expunge_all()
        return rows


def count_incoming(db) -> int:
    with db.read() as s:
        return run(s, "SELECT COUNT(*) FROM incoming").fetchone()[0]


async def until(predicate: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


CASES = [pytest.param(b, f, id=f"{b}-{f.name}") for f in FAULTS for b in (BACKENDS if f.stored else BACKENDS[:1])]


@pytest.fixture
def make_db(databases):  # type: ignore[no-untyped-def]
    """A fresh database at the latest revision on the backend asked for."""
    made: list[Database] = []

    def make(backend: str) -> Database:
        made.append(Database(databases.migrated(backend)))
        return made[-1]

    yield make
    for db in made:
        db.dispose()
        databases.discard(db.url)


@pytest.mark.parametrize("backend, fault", CASES)
def test_every_accepted_message_ends_final_through_a_carrier_fault(make_db, record_property, backend: str, fault: Fault) -> None:
    db = make_db(backend)
    account = new_account(db)
    ids = send(db, account, SHORT) + send(db, account, [LONG_TO], message=LONG)
    if fault.valid_for is not None:
        with db.session() as s:
            s.execute(update(Message).where(Message.id.in_(ids)).values(
                expires_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=fault.valid_for)))
    smsc = FaultySmsc(port=0, accounts={"acme": "secret"}, receipt_delay=0.01)

    async def main() -> list[int]:
        await smsc.start()
        fault.script(smsc)
        connector = SmppConnector(config(smsc.port))
        dispatcher = Dispatcher(db, Router.single(connector), interval=0.01, receipt_timeout=fault.receipt_timeout)
        await dispatcher.start()
        try:
            await until(lambda: settled(db, ids), "every message final")
            smsc.heal()
            after = send(db, account, [AFTER_TO])
            await until(lambda: settled(db, after), "the message sent after the fault")
            assert dispatcher._task is not None and not dispatcher._task.done(), "the dispatcher's loop stopped"
            assert connector.is_up
            issued = {canonical_carrier_id(r.message_id) for r in smsc.records}
            stored = stored_carrier_ids(db)
            await until(lambda: issued - stored <= kept_receipts(db), "a receipt for each id never learned")
            return after
        finally:
            await dispatcher.stop()
            await smsc.stop()

    after = asyncio.run(asyncio.wait_for(main(), 45))
    messages = outcomes(db, ids)
    assert Counter(m.status for m in messages) == Counter(fault.final), [(m.id, m.status, m.error) for m in messages]
    assert outcomes(db, after)[0].status == "delivered"
    assert all(m.error for m in messages if m.status in REFUNDED_NAMES), "a message not sent says why"
    charged = sum(m.parts for m in messages if m.status not in REFUNDED_NAMES) + 1
    assert credits(db, account) == 100 - charged
    taken = Counter(r.destination_addr for r in smsc.records)
    duplicates = sum(max(0, n - (3 if to == LONG_TO[1:] else 1)) for to, n in taken.items())
    for name, value in (("duplicates", duplicates), ("binds", smsc.binds), ("kept", len(kept_receipts(db)))):
        record_property(name, value)  # the figures of docs/RELIABILITY.md (pytest --junitxml)
    assert duplicates <= fault.duplicates, f"{duplicates} parts taken twice: over the bound"
    issued = {canonical_carrier_id(r.message_id) for r in smsc.records}
    stored = stored_carrier_ids(db)
    kept = kept_receipts(db)
    assert len(kept - issued) == fault.unknown_receipts
    assert kept & stored == set(), "a kept receipt names a stored part"
    delivered_ids = {m.carrier_id for m in messages + outcomes(db, after) if m.status == "delivered"}
    assert delivered_ids <= issued | {None}
    if fault.keeps_link:
        assert smsc.binds == 1, f"the link was bound {smsc.binds} times"
    assert count_incoming(db) == fault.incoming
