"""Traffic through the real message lifecycle, for the campaign report tests: jobs accepted (in
batches or not, long, to blacklisted numbers), claims, submit results (sent, sent in fewer parts,
rejected, retried), receipts (early, late, duplicate, long messages part by part), the receipt
deadline, expiry, cancellation and replies; and the check that the counts kept by the writers
agree with the messages themselves."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.delivery.connector import Receipt, SubmitOutcome, SubmitResult
from textos.domain.lifecycle import DeliveryState, FINAL, MessageStatus
from textos.services import admin, reports
from textos.services.jobs import SendRequest, accept_job
from textos.storage import messages, report_counts
from textos.storage.db import Database
from textos.storage.fastsql import db_time, read_time, run
from textos.storage.models import Account, Blacklist, IncomingSms, Job, utcnow
from textos.storage.models_bulk import Batch
from textos.storage.receipts import apply_receipts

SETTINGS = Settings()
TAGS = ("spring", "otp", "")
LONG_TEXT = "x" * 200  # two parts of GSM 7-bit
STATES = tuple(DeliveryState)
DELAYS = (-30.0, 0.0, 0.2, 3.0, 45.0, 7200.0, 3 * 86400.0, 9 * 86400.0, None)
"""Receipt ``done_at`` after ``sent_at``, in seconds (None: the receipt says nothing, now)."""


@dataclass
class BatchFollower:
    """A batch's follower, as ``services.batches`` passes one: only its id matters here."""

    batch_id: str

    def progress(self, rows: int, estimated_milli: int | None = None) -> None:
        pass

    def accepted(self, session: Session, job: Job, priced: Any, send_at: dt.datetime) -> None:
        pass


def new_account(db: Database, credits: float = 10_000) -> int:
    """A new customer's SMS account holding ``credits``; its id."""
    nic = f"rt{secrets.token_hex(4)}-test"
    with db.session() as s:
        admin.create_customer(s, nic, "pw")
        return admin.create_account(s, nic, credits).id


def _number(rng: random.Random) -> str:
    return f"+3361{rng.randrange(10**7):07d}"


def _part_ids(mid: int, parts: int) -> tuple[str, ...]:
    return (f"c{mid}",) if parts == 1 else tuple(f"c{mid}x{i}" for i in range(parts))


class Traffic:
    """One account's traffic on ``db``, driven step by step (``apply``)."""

    def __init__(self, db: Database, account_id: int, rng: random.Random) -> None:
        self.db, self.account_id, self.rng = db, account_id, rng
        self.batches: list[str] = []

    def _ids(self, session: Session, statuses: tuple[str, ...], k: int) -> list[tuple[int, int]]:
        """Up to ``k`` of the account's messages in ``statuses`` (id, parts), picked at random."""
        marks = ", ".join("?" * len(statuses))
        rows = run(session, f"SELECT id, parts FROM messages WHERE account_id = ? AND status IN ({marks}) ORDER BY id",
                   (self.account_id, *statuses)).fetchall()
        return sorted(self.rng.sample(rows, min(k, len(rows))))

    def send(self, tag: str, n: int, batch: bool = False, long: bool = False, blacklisted: bool = False) -> list[int]:
        receivers = [_number(self.rng) for _ in range(n)]
        follower = None
        if batch:
            follower = BatchFollower(str(uuid.uuid4()))
            self.batches.append(follower.batch_id)
        with self.db.session() as s:
            if follower is not None:
                s.add(Batch(id=follower.batch_id, account_id=self.account_id, tag=tag, status="INSERTING"))
            if blacklisted:
                s.add(Blacklist(account_id=self.account_id, number=receivers[0], tag=tag, created_at=utcnow()))
                s.flush()
            req = SendRequest(message=LONG_TEXT if long else "hi", receivers=receivers, no_stop_clause=not blacklisted, tag=tag)
            return list(accept_job(s, s.get_one(Account, self.account_id), req, SETTINGS, "test", follower=follower).ids)

    def claim(self, k: int) -> None:
        with self.db.session() as s:
            messages.claim_due(s, k, lambda *fields: fields)

    def sent(self, k: int, fewer_parts: bool = False) -> None:
        """Submit results: sent (a long one possibly in one part, refunded the difference)."""
        with self.db.session() as s:
            picked = self._ids(s, ("submitting",), k)
            results = [SubmitResult(mid, SubmitOutcome.ACCEPTED, _part_ids(mid, 1 if fewer_parts else parts)) for mid, parts in picked]
            messages.store_sent(s, results, {mid: "sim" for mid, _ in picked}, {mid: parts for mid, parts in picked})

    def early(self, k: int, state: DeliveryState) -> None:
        """Receipts racing ahead of their submit results: kept until the result is stored."""
        with self.db.session() as s:
            picked = self._ids(s, ("submitting",), k)
            apply_receipts(s, [Receipt(cid, state) for mid, parts in picked for cid in _part_ids(mid, parts)])

    def rejected(self, k: int) -> None:
        with self.db.session() as s:
            messages.store_rejected(s, [SubmitResult(mid, SubmitOutcome.REJECTED, error="0x0b") for mid, _ in self._ids(s, ("submitting",), k)])

    def retry(self, k: int) -> None:
        with self.db.session() as s:
            picked = self._ids(s, ("submitting",), k)
            messages.store_retries(s, [SubmitResult(mid, SubmitOutcome.RETRY, retry_after=0.0) for mid, _ in picked])

    def receipts(self, k: int, state: DeliveryState, delay: float | None, some_parts: bool = False) -> None:
        """Receipts for messages sent, given up on (late ones) or settled already (duplicates)."""
        with self.db.session() as s:
            picked = self._ids(s, ("sent", "no_receipt", "delivered", "failed"), k)
            out = []
            for mid, parts in picked:
                sent_at = read_time(run(s, "SELECT sent_at FROM messages WHERE id = ?", (mid,)).fetchone()[0])
                done = None if delay is None or sent_at is None else sent_at + dt.timedelta(seconds=delay)
                cids = run(s, "SELECT carrier_id FROM message_parts WHERE message_id = ? ORDER BY part_no", (mid,)).fetchall()
                ids = [c[0] for c in cids] or [f"c{mid}"]
                out += [Receipt(cid, state, "001" if state is not DeliveryState.DELIVERED else None, done)
                        for cid in (ids[:1] if some_parts else ids)]
            apply_receipts(s, out)

    def no_receipt(self) -> None:
        with self.db.session() as s:
            messages.close_without_receipt(s, 0)

    def expire(self, k: int) -> None:
        with self.db.session() as s:
            picked = [mid for mid, _ in self._ids(s, ("queued",), k)]
            for mid in picked:  # their validity ends now: the test's clock, not a writer
                run(s, "UPDATE messages SET expires_at = ? WHERE id = ?", (db_time(s, utcnow() - dt.timedelta(seconds=1)), mid))
            messages.expire_overdue(s)

    def cancel(self, k: int) -> None:
        with self.db.session() as s:
            messages.close_unsent(s, [mid for mid, _ in self._ids(s, ("queued",), k)], from_statuses=("queued",),
                                  to_status="cancelled", actor="test", reason="test")

    def reply(self, k: int) -> None:
        """Incoming messages answering sent messages (what ``services.incoming`` records of a reply)."""
        with self.db.session() as s:
            for mid, _ in self._ids(s, ("sent", "delivered", "no_receipt", "failed"), k):
                s.add(IncomingSms(account_id=self.account_id, sender=_number(self.rng), receiver="36001", text="ok", message_id=mid))
                s.flush()
                report_counts.replied(s, mid)

    def fold(self) -> None:
        reports.fold_counts(self.db)

    def apply(self, op: tuple[Any, ...]) -> None:
        getattr(self, op[0])(*op[1:])

    def scopes(self) -> list[reports.Scope]:
        """Every way to look at the traffic: the account, each tag, each batch, the hour, tag and hour."""
        now = utcnow()
        hour = now.replace(minute=0, second=0, microsecond=0)
        a = self.account_id
        return [
            reports.Scope(a), *(reports.Scope(a, tag=t) for t in TAGS), *(reports.Scope(a, batch_id=b) for b in self.batches),
            reports.Scope(a, since=hour, until=hour + dt.timedelta(hours=1)), reports.Scope(a, tag="spring", since=now - dt.timedelta(minutes=5)),
            reports.Scope(a, since=hour - dt.timedelta(hours=3), until=hour),
        ]


SCRIPT = [
    ("send", "spring", 6, True, False, True), ("send", "spring", 3, False, True, False), ("send", "otp", 4, False, False, False),
    ("send", "", 3, True, True, False), ("claim", 9), ("early", 2, DeliveryState.DELIVERED), ("sent", 3, False), ("sent", 2, True),
    ("rejected", 1), ("retry", 1), ("receipts", 2, DeliveryState.DELIVERED, 3.0, False),
    ("receipts", 1, DeliveryState.UNDELIVERABLE, 45.0, False), ("fold",), ("claim", 20), ("sent", 20, False),
    ("receipts", 1, DeliveryState.ENROUTE, None, False), ("receipts", 1, DeliveryState.DELIVERED, 7200.0, True),
    ("no_receipt",), ("receipts", 3, DeliveryState.DELIVERED, 9 * 86400.0, False), ("receipts", 2, DeliveryState.EXPIRED, 0.2, False),
    ("receipts", 4, DeliveryState.UNKNOWN, -30.0, False), ("send", "otp", 5, False, False, False), ("expire", 2), ("cancel", 2),
    ("reply", 3), ("receipts", 3, DeliveryState.DELIVERED, 0.0, False),
]
"""One of everything: what a property test may take a while to draw."""


def assert_counts_agree(db: Database, traffic: Traffic) -> None:
    """Every report read from the counts equals the one read from the messages, and the final
    states per account (``/metrics``) equal the messages' own."""
    with db.read() as s:
        for scope in traffic.scopes():
            assert reports.report(s, scope) == reports.read_exactly(s, reports.whole_hours(scope)), scope
        final = {st.value for st in FINAL}
        exact = {
            (name, status): n for name, status, n in run(
                s, "SELECT a.service_name, m.status, COUNT(*) FROM messages m JOIN accounts a ON a.id = m.account_id "
                "GROUP BY a.service_name, m.status").fetchall()
            if status in final
        }
        assert {(name, status): n for name, status, n in report_counts.final_by_account(s) if n} == exact


def statuses_seen(db: Database, account_id: int) -> set[str]:
    with db.read() as s:
        return {row[0] for row in run(s, "SELECT DISTINCT status FROM messages WHERE account_id = ?", (account_id,)).fetchall()}


ALL_STATUSES = {s.value for s in MessageStatus}
