"""Delivery receipts: match carrier ids to messages and parts, whatever their form, and settle.

Part of the message lifecycle (``storage.messages``): sent messages become delivered
or failed here, by ``domain.lifecycle.outcome_of`` of what the carrier reported. A
final receipt arriving after ``receipt_timeout`` still settles its *no_receipt*
message: the real outcome wins (``lifecycle.AWAITING_RECEIPT``); a late intermediate
one (enroute, accepted) leaves it as it is.

Carriers answer ``submit_sm`` with an id in one form and sometimes report it in
receipts in another (hex ``1a2b`` in the response, decimal ``6699`` in the receipt).
Ids are stored canonically (``canonical_carrier_id``); a receipt is looked up by its
canonical form first, then by its other forms (``carrier_id_variants``). The forms are
ambiguous: a hex id of digits only read as decimal is another id (``10036`` is 65590, whose
hex is ``65590``), often a message settled long ago. So a receipt matched only by another
form counts as matched when it settles something; otherwise it is kept, for the message
its own form will name once its submit result is stored (it may have overtaken it).

Single-part messages (the vast majority) are settled straight from
``messages.carrier_id``; long messages through ``message_parts``: delivered when
every part is, failed as soon as one part fails.

Carriers number their ids each on their own, so one id may name a message sent through each
of two carriers: a batch is applied connector by connector (``Receipt.connector``), and a
receipt settles only a single-part message sent through its own carrier (a receipt or a
message without a connector matches any); kept, it keeps its connector.

A receipt that matches nothing yet (it raced ahead of the submit result being
stored) is kept in ``pending_receipts`` and applied when the id appears: a receipt is
never dropped.

The messages a receipt settles are noted for ``Database.changes`` (``storage.events``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from typing import Iterable, NamedTuple, Protocol, Sequence

from sqlalchemy.orm import Session

from textos.domain.clock import naive_utc, utcnow
from textos.domain.lifecycle import AWAITING_RECEIPT, FINAL, IN_FLIGHT, DeliveryState, MessageStatus, codes_of, outcome_of
from textos.storage import events
from textos.storage.fastsql import db_time, literal, marks, read_time, run, run_many, time_formatter, update_returning
from textos.storage.models import PendingReceipt
from textos.storage.report_counts import Tally

_HEX = set("0123456789abcdef")
CHUNK = 5000
_ID_LENGTH: int = PendingReceipt.__table__.c.carrier_id.type.length  # type: ignore[attr-defined]
_ERROR_LENGTH: int = PendingReceipt.__table__.c.error_code.type.length  # type: ignore[attr-defined]


def _statuses(statuses: Iterable[MessageStatus | DeliveryState]) -> str:
    return "(" + ", ".join(sorted(literal(s.value) for s in statuses)) + ")"


_SET = "UPDATE messages SET status = ?, ptt = ?, dlr = ?, delivered_at = ?, error = ?"
_SETTLE_FINAL = f"{_SET}, settled_at = ? WHERE id = ? AND status IN {_statuses(IN_FLIGHT)}"
"""A final outcome settles a message in flight (a receipt may overtake its submit result) and
records when (``settled_at``); then, for those it did not settle, ``_SETTLE_LATE``."""
_SETTLE_LATE = f"{_SET}, settled_at = ? WHERE id = ? AND status IN {_statuses(AWAITING_RECEIPT - IN_FLIGHT)}"
"""A final outcome also settles a message given up on (*no_receipt*): the real outcome wins."""
_SETTLE_INTERMEDIATE = f"{_SET} WHERE id = ? AND status IN {_statuses(IN_FLIGHT)}"
_GIVEN_UP = (MessageStatus.NO_RECEIPT.value, int(codes_of(MessageStatus.NO_RECEIPT)[0]))
"""What a late receipt's message was before (``storage.report_counts``)."""
_FINAL = frozenset(s.value for s in FINAL)
_SET_PART = (
    "UPDATE message_parts SET state = ?, error_code = ?, done_at = ? WHERE id = ? AND (state IS NULL OR state IN "
    + _statuses(s for s in DeliveryState if not s.is_final) + ")"
)
"""A part's report, unless a final one came first: a late or repeated receipt does not undo it."""
_PART_OPEN = " AND (state IS NULL OR state IN " + _statuses(s for s in DeliveryState if not s.is_final) + ")"
"""Parts ``_SET_PART`` may still change."""
_MESSAGE_OPEN = f" AND status IN {_statuses(AWAITING_RECEIPT)}"
"""Messages a final receipt may still settle."""
_DELIVERED = MessageStatus.DELIVERED.value
_FAILED = MessageStatus.FAILED.value


class Receipt(Protocol):
    """What a receipt tells about one part (``delivery.connector.Receipt`` is one)."""

    @property
    def carrier_id(self) -> str: ...
    @property
    def state(self) -> DeliveryState: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def done_at(self) -> dt.datetime | None: ...
    @property
    def connector(self) -> str | None: ...


class KeptReceipt(NamedTuple):
    """A receipt read back from ``pending_receipts``; kept again, it keeps ``received_at`` (when
    it first came), so ``forget_kept`` ages it however often replays take it."""

    carrier_id: str
    state: DeliveryState
    error_code: str | None
    done_at: dt.datetime | None
    connector: str | None = None
    received_at: dt.datetime | None = None


def canonical_carrier_id(carrier_id: str) -> str:
    """Lower case, trimmed, without leading zeros (``"00001A2B"`` → ``"1a2b"``) nor NULs. An id
    longer than the columns hold (64 characters, as SMPP's message_id) becomes its first 47, ``~``
    and 16 hex digits of its SHA-256: the same id always gives the same key, and fits."""
    text = carrier_id.strip().lower()
    if "\0" in text:
        text = text.replace("\0", "").strip()
    text = text.lstrip("0") or "0"
    if len(text) > _ID_LENGTH:
        text = text[:47] + "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return text


def _error_code(code: str | None) -> str | None:
    """A carrier's error code as stored: without NULs, at most as long as the column (16)."""
    if code is None or (len(code) <= _ERROR_LENGTH and "\0" not in code):
        return code
    return code.replace("\0", "")[:_ERROR_LENGTH]


def carrier_id_variants(carrier_id: str) -> set[str]:
    """Every canonical form the same id may have been stored under (itself, hex↔decimal)."""
    text = canonical_carrier_id(carrier_id)
    forms = {text}
    if text.isdigit() and len(text) < 40:
        forms.add(format(int(text), "x"))
    if set(text) <= _HEX and len(text) < 32:
        forms.add(str(int(text, 16)))
    return forms


def _naive(moment: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    return now if moment is None else naive_utc(moment)


class _Times:
    """Receipt times of one batch as the backend stores them: ``now`` read once, each
    distinct ``done_at`` converted once (receipts of a batch share a handful of values)."""

    def __init__(self, session: Session) -> None:
        self.now = utcnow()
        self.fmt = time_formatter(session)
        self._done: dict[dt.datetime | None, object] = {}

    def done(self, moment: dt.datetime | None) -> object:
        try:
            return self._done[moment]
        except KeyError:
            value = self._done[moment] = self.fmt(_naive(moment, self.now))
            return value

    def received(self, receipt: Receipt) -> object:
        """When the receipt came: now, or, for one kept before (:class:`KeptReceipt`), when it was first kept."""
        first = receipt.received_at if isinstance(receipt, KeptReceipt) else None
        return self.done(first)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _outcome(state: str) -> tuple[str, int, int]:
    status, ptt, dlr = outcome_of(state)
    return status.value, ptt, dlr


def apply_receipts(session: Session, receipts: Sequence[Receipt]) -> tuple[list[int], int]:
    """Apply receipts and settle their messages.

    Returns the ids of messages whose state changed (also noted for ``Database.changes``)
    and the number of receipts that matched nothing yet (kept as pending).
    """
    by_connector: dict[str | None, list[Receipt]] = {}
    for r in receipts:  # carriers number their ids each on their own: one id may name a message of each
        by_connector.setdefault(r.connector, []).append(r)
    changed: list[int] = []
    kept = 0
    for own in by_connector.values():
        kept += _apply_one_carrier(session, own, changed)
    events.changed(session, changed)
    return changed, kept


def _apply_one_carrier(session: Session, receipts: Sequence[Receipt], changed: list[int]) -> int:
    """``apply_receipts`` for the receipts of one connector; the ids it changed go to ``changed``;
    returns how many were kept."""
    by_id: dict[str, Receipt] = {canonical_carrier_id(r.carrier_id): r for r in receipts}
    if len(by_id) < len(receipts):  # one part reported more than once in this batch
        by_id = _first_final(receipts)
    times = _Times(session)
    unmatched = _match(session, by_id, changed, times)
    if unmatched:  # the carrier may report ids in another base
        alias: dict[str, str] = {}
        for cid in unmatched:
            for form in carrier_id_variants(cid) - {cid}:
                alias[form] = cid
        if alias:
            still = _match(session, {form: unmatched[cid] for form, cid in alias.items()}, changed, times, alias=True)
            for form in set(alias) - set(still):
                unmatched.pop(alias[form], None)
    if unmatched:
        run_many(
            session,
            "INSERT INTO pending_receipts (carrier_id, state, error_code, done_at, received_at, connector) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (cid, r.state.value, _error_code(r.error_code), times.done(r.done_at), times.received(r), r.connector)
                for cid, r in unmatched.items()
            ],
        )
    return len(unmatched)


def _first_final(receipts: Sequence[Receipt]) -> dict[str, Receipt]:
    """One receipt per part, as if each had come alone: a later intermediate report
    (enroute, accepted) replaces an earlier one, and nothing replaces a final one — the
    same rule the guarded updates apply between batches."""
    by_id: dict[str, Receipt] = {}
    for r in receipts:
        cid = canonical_carrier_id(r.carrier_id)
        kept = by_id.get(cid)
        if kept is None or not kept.state.is_final:
            by_id[cid] = r
    return by_id


def _same_carrier(receipt: Receipt, connector: str | None) -> bool:
    """Whether a message (or a part of one) sent through ``connector`` may be the receipt's: carriers
    number their ids each on their own, so an id names the message of the carrier the receipt came
    through (either side unknown: any)."""
    return receipt.connector is None or connector is None or connector == receipt.connector


def _match(session: Session, by_id: dict[str, Receipt], changed: list[int], times: _Times, *, alias: bool = False) -> dict[str, Receipt]:
    """Apply receipts whose id is stored; returns those that matched nothing. With ``alias``
    (ids in another form than the receipt's own), a receipt matches only what it changes: a
    message it settles, a part not reported final yet; the others are returned unmatched."""
    left = dict(by_id)
    singles: list[tuple[int, Receipt]] = []
    form_of: dict[int, str] = {}  # message id → the id form that matched it
    for chunk in _chunks(list(by_id)):
        rows = run(
            session, f"SELECT id, carrier_id, parts, connector FROM messages WHERE carrier_id IN ({marks(len(chunk))})", chunk
        ).fetchall()
        for mid, cid, parts, connector in rows:
            if parts != 1:
                continue
            r = left.get(cid)
            if r is None or not _same_carrier(r, connector):
                continue  # another carrier's message under the same id: not this receipt's
            del left[cid]
            singles.append((mid, r))
            form_of[mid] = cid
    if singles:
        updates = []
        done = times.done
        for mid, r in singles:
            status, ptt, dlr = _outcome(r.state.value)
            delivered = done(r.done_at) if status == _DELIVERED else None
            updates.append((status, ptt, dlr, delivered, _error_code(r.error_code) if status == _FAILED else None, mid))
        settled = _settle(session, updates)
        changed.extend(settled)
        if alias:  # matched only by another form and changed nothing: not its message
            for mid in set(form_of) - set(settled):
                left[form_of[mid]] = by_id[form_of[mid]]
    if not left:
        return left
    touched: set[int] = set()
    part_updates = []
    found: set[str] = set()
    for chunk in _chunks(list(left)):
        rows = run(
            session,
            "SELECT p.id, p.message_id, p.carrier_id, m.connector FROM message_parts p JOIN messages m ON m.id = p.message_id"
            f" WHERE p.carrier_id IN ({marks(len(chunk))}){_PART_OPEN if alias else ''}",
            chunk,
        ).fetchall()
        for pid, mid, cid, connector in rows:
            r = left[cid]
            if not _same_carrier(r, connector):
                continue  # a part of another carrier's message under the same id
            part_updates.append((r.state.value, _error_code(r.error_code), times.done(r.done_at), pid))
            touched.add(mid)
            found.add(cid)
    run_many(session, _SET_PART, part_updates)
    for cid in found:
        del left[cid]
    changed.extend(settle_messages(session, touched))
    return left


def settle_messages(session: Session, message_ids: set[int] | list[int]) -> list[int]:
    """Derive each long message's status from its parts: delivered when all are, failed when one fails."""
    ids = list(message_ids)
    if not ids:
        return []
    parts: dict[int, list[tuple[str | None, str | None, dt.datetime | None]]] = defaultdict(list)
    for mid, state, error, done in run(
        session, f"SELECT message_id, state, error_code, done_at FROM message_parts WHERE message_id IN ({marks(len(ids))})", ids
    ).fetchall():
        parts[mid].append((state, error, read_time(done)))
    updates = []
    for mid, items in parts.items():
        states = [p[0] for p in items]
        failed = next((p for p in items if p[0] and _outcome(p[0])[0] == _FAILED), None)
        if failed is not None:
            status, ptt, dlr = _outcome(failed[0] or DeliveryState.UNKNOWN.value)
            updates.append((status, ptt, dlr, None, failed[1], mid))
        elif states and all(s == DeliveryState.DELIVERED.value for s in states):
            done = max((p[2] for p in items if p[2] is not None), default=utcnow())
            status, ptt, dlr = _outcome(DeliveryState.DELIVERED.value)
            updates.append((status, ptt, dlr, db_time(session, done), None, mid))
        elif any(s in (DeliveryState.ENROUTE.value, DeliveryState.ACCEPTED.value) for s in states):
            status, ptt, dlr = _outcome(DeliveryState.ENROUTE.value)
            updates.append((status, ptt, dlr, None, None, mid))
    return _settle(session, updates)


def _settle(session: Session, updates: Sequence[tuple[object, ...]]) -> list[int]:
    """Write ``(status, ptt, dlr, delivered_at, error, id)`` outcomes, each guarded by the status it
    may settle; the messages a final one settled count in their campaign's report. Returns the ids
    of the messages it changed (a repeated receipt, or one for a message already settled, changes none)."""
    now = db_time(session, utcnow())
    changed: list[int] = []
    final: dict[object, tuple[object, ...]] = {}
    for u in updates:
        if u[0] in _FINAL:
            final.setdefault(u[-1], (*u[:-1], now, u[-1]))  # a message settled twice at once: the first wins
    if final:
        moved: Counter[tuple[object, ...]] = Counter()  # a batch's messages share a job, outcome and times: tallied once
        for mid, job_id, sent_at in update_returning(session, _SETTLE_FINAL, list(final.values()), _RETURNING):
            status, ptt, _, delivered_at, *_ = final.pop(mid)
            moved[(job_id, status, ptt, sent_at, delivered_at, None)] += 1
            changed.append(mid)
        if final:
            for mid, job_id, sent_at in update_returning(session, _SETTLE_LATE, list(final.values()), _RETURNING):
                status, ptt, _, delivered_at, *_ = final[mid]
                moved[(job_id, status, ptt, sent_at, delivered_at, _GIVEN_UP)] += 1
                changed.append(mid)
        tally = Tally()
        for (job_id, status, ptt, sent_at, delivered_at, was), n in moved.items():
            tally.moved(job_id, status, ptt, was=was, sent_at=sent_at, delivered_at=delivered_at, n=n)  # type: ignore[arg-type]
        tally.write(session)
    intermediate = [u for u in updates if u[0] not in _FINAL]
    if intermediate:
        changed += [row[0] for row in update_returning(session, _SETTLE_INTERMEDIATE, intermediate, ("id",))]
    return changed


_RETURNING = ("id", "job_id", "sent_at")
_KEPT = "id, carrier_id, state, error_code, done_at, connector, received_at"


def replay_pending(session: Session, carrier_ids: Sequence[str] | None = None) -> int:
    """Apply kept receipts whose message or part is now stored (those of ``carrier_ids``,
    in any form, or the oldest ones); returns how many were applied.

    Only kept receipts that match something are taken (deleted, then applied): by their
    own form, or by another form a message or part still awaiting a receipt is stored
    under (``_match``'s rule); the others stay as they are, and one taken that does not
    apply after all is kept again. Taking is by ``DELETE … RETURNING``: of two transactions
    replaying the same receipt at once, only the one whose delete removed it applies it.
    """
    if run(session, "SELECT 1 FROM pending_receipts LIMIT 1").fetchone() is None:
        return 0
    if carrier_ids is None:
        rows = run(session, f"SELECT {_KEPT} FROM pending_receipts ORDER BY id LIMIT 10000").fetchall()
    else:
        wanted: set[str] = set()
        for cid in carrier_ids:
            wanted |= carrier_id_variants(cid)
        rows = []
        for chunk in _chunks(sorted(wanted)):
            rows += run(
                session,
                f"SELECT {_KEPT} FROM pending_receipts WHERE carrier_id IN ({marks(len(chunk))})",
                chunk,
            ).fetchall()
    if not rows:
        return 0
    own = {row[0]: canonical_carrier_id(row[1]) for row in rows}
    known = _stored_ids(session, sorted(set(own.values())))
    # Other forms are looked up only for the receipts whose own form is not stored (most are).
    others = {row[0]: carrier_id_variants(row[1]) - {own[row[0]]} for row in rows if own[row[0]] not in known}
    open_ = _stored_ids(session, sorted(set().union(*others.values())), open_only=True) if others else set()
    ids = [row[0] for row in rows if own[row[0]] in known or others[row[0]] & open_]
    taken: set[int] = set()
    for i in range(0, len(ids), CHUNK):
        chunk_ids = ids[i : i + CHUNK]
        taken.update(r[0] for r in run(session, f"DELETE FROM pending_receipts WHERE id IN ({marks(len(chunk_ids))}) RETURNING id", chunk_ids).fetchall())
    rows = [row for row in rows if row[0] in taken]
    if not rows:
        return 0
    receipts = [
        KeptReceipt(cid, DeliveryState(state), error, read_time(done), connector, read_time(received))
        for _, cid, state, error, done, connector, received in rows
    ]
    _, still = apply_receipts(session, receipts)
    return len(receipts) - still


def forget_kept(session: Session, older_than: float) -> int:
    """Delete the kept receipts received more than ``older_than`` seconds ago; returns how many.

    A kept receipt waits for its message's submit result, which comes within seconds; one
    still kept after a receipt deadline names nothing this Textos stored (an id it never
    gave, a repeat in another base of a receipt already applied) and never will. Without
    this the table only grew, and the dispatcher's sweep (``replay_pending`` of the oldest)
    would end up reading only those."""
    cutoff = db_time(session, utcnow() - dt.timedelta(seconds=older_than))
    return run(session, "DELETE FROM pending_receipts WHERE received_at < ?", (cutoff,)).rowcount or 0


def _stored_ids(session: Session, forms: list[str], *, open_only: bool = False) -> set[str]:
    """Which of these carrier ids a message or a part is stored under (with ``open_only``,
    one still awaiting a receipt)."""
    found: set[str] = set()
    guards = {"messages": _MESSAGE_OPEN, "message_parts": _PART_OPEN} if open_only else {"messages": "", "message_parts": ""}
    for chunk in _chunks(forms):
        for table, guard in guards.items():
            found.update(
                r[0] for r in run(session, f"SELECT carrier_id FROM {table} WHERE carrier_id IN ({marks(len(chunk))}){guard}", chunk).fetchall()
            )
    return found
