"""The credit ledger: every movement is an immutable entry; balances follow from it.

Two balances of an account are caches of its entries, updated in the same
transaction as the entry is written, by one conditional UPDATE that cannot take
either below zero:

- ``Account.credits_milli`` (``creditsLeft``, the *free* credits) is the sum of
  all the account's entries;
- ``Account.credits_held_milli`` (``creditsHoldByQuota``) is minus the sum of its
  ``quota_hold`` / ``quota_release`` entries: holding credits for a user's quota
  takes them out of the free credits (as OVH does: give 150 of 200 credits to a
  user and the account keeps 50), releasing gives them back.

``verify`` recomputes both from the entries.

Automatic top-up: a debit that takes the free credits below the account's
``creditThresholdForAutomaticRecredit`` is reported to ``threshold_observers``, in the
same transaction (``services.topup`` creates one automatic purchase order of
``automaticRecreditAmount`` credits). The account's
``recredit_armed`` flag makes it once per crossing: it is cleared when the order
is created and set again only when credits come back to or above the threshold
through a purchase, an adjustment, a transfer in or a quota release (refunds of
messages never re-arm it, so a rejected message cannot make an account oscillate
around its threshold and order again).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from textos.domain.clock import utcnow
from textos.domain.errors import BadRequest, NotEnoughCredits
from textos.domain.pricing import MILLI, to_credits, to_milli  # noqa: F401  (ledger.to_milli: credit units)
from textos.storage.fastsql import column_types, db_time, is_sqlite, marks, pg_array, run, run_many
from textos.storage.models import Account, LedgerEntry



class Kind:
    PURCHASE = "purchase"
    JOB_DEBIT = "job_debit"
    REFUND = "refund"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    QUOTA_HOLD = "quota_hold"
    QUOTA_RELEASE = "quota_release"
    ADJUSTMENT = "adjustment"
    REPLY = "reply"
    """An attributed incoming reply (``reply_credits``, ``services.replies``)."""

    ALL = (PURCHASE, JOB_DEBIT, REFUND, TRANSFER_OUT, TRANSFER_IN, QUOTA_HOLD, QUOTA_RELEASE, ADJUSTMENT, REPLY)
    QUOTA = (QUOTA_HOLD, QUOTA_RELEASE)
    REARMING = (PURCHASE, ADJUSTMENT, TRANSFER_IN, QUOTA_RELEASE)
    """Credits arriving by these kinds re-arm the automatic top-up (refunds do not)."""


@dataclass(frozen=True, slots=True)
class Movement:
    kind: str
    amount_milli: int
    actor: str = "system"
    reason: str = ""
    job_id: int | None = None
    message_id: int | None = None
    counterpart_account_id: int | None = None
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Moved:
    balance: int
    held: int
    threshold: int
    recredit_amount: int | None
    armed: bool


@functools.cache
def _move_sql(debit: bool, held: bool, release: bool, rearm: bool) -> str:
    """The conditional UPDATE of ``_move_balance`` for one combination of its options
    (parameters: amount, [held delta], [amount], id, [-amount], [-held delta])."""
    sets = ["credits_milli = credits_milli + ?"]
    if held:
        sets.append("credits_held_milli = credits_held_milli + ?")
    if rearm:
        sets.append("recredit_armed = CASE WHEN credits_milli + ? >= credit_threshold_milli THEN TRUE ELSE recredit_armed END")
    where = ["id = ?"]
    if debit:
        where.append("credits_milli >= ?")
    if release:
        where.append("credits_held_milli >= ?")
    return (
        f"UPDATE accounts SET {', '.join(sets)} WHERE {' AND '.join(where)}"
        " RETURNING credits_milli, credits_held_milli, credit_threshold_milli, automatic_recredit_amount, recredit_armed"
    )


def _move_params(account_id: int, amount_milli: int, held_delta: int, rearm: bool) -> list[object]:
    """The parameters of ``_move_sql`` for this move."""
    params: list[object] = [amount_milli]
    if held_delta:
        params.append(held_delta)
    if rearm:
        params.append(amount_milli)
    params.append(account_id)
    if amount_milli < 0:
        params.append(-amount_milli)
    if held_delta < 0:
        params.append(-held_delta)
    return params


def _move_balance(session: Session, account_id: int, amount_milli: int, *, held_delta: int = 0, rearm: bool = False) -> _Moved:
    """Add ``amount_milli`` to the free credits and ``held_delta`` to the held ones, neither below zero.

    ``rearm``: set the automatic top-up flag again if the new balance is at or above the threshold.
    One plain UPDATE … RETURNING (``storage.fastsql``): the account loaded in the session, if any,
    gets the new values.
    """
    session.flush()  # the account's pending changes first, as an ORM statement would
    cur = run(session, _move_sql(amount_milli < 0, bool(held_delta), held_delta < 0, rearm), _move_params(account_id, amount_milli, held_delta, rearm))
    try:
        row = cur.fetchone()
    finally:
        cur.close()
    return _moved(session, account_id, amount_milli, held_delta, row)


def _moved(session: Session, account_id: int, amount_milli: int, held_delta: int, row: Sequence[Any] | None) -> _Moved:
    """What ``_move_sql`` returned: the account's new balances (the account loaded in the session, if
    any, gets them); no row: the move was refused (``NotEnoughCredits``, or ``BadRequest`` for a
    release of more than is held)."""
    if row is None:
        current = session.execute(
            select(Account.credits_milli, Account.credits_held_milli).where(Account.id == account_id)
        ).one_or_none()
        left, held = (current or (0, 0))
        if held_delta < 0 and held < -held_delta:
            raise BadRequest(
                f"credits: only {to_credits(held):g} credits are held by quotas, cannot release {to_credits(-held_delta):g}"
            )
        raise _not_enough(-amount_milli, left)
    loaded = session.identity_map.get(session.identity_key(Account, account_id))
    if loaded is not None:
        set_committed_value(loaded, "credits_milli", row[0])
        set_committed_value(loaded, "credits_held_milli", row[1])
        set_committed_value(loaded, "recredit_armed", bool(row[4]))
    return _Moved(row[0], row[1], row[2], row[3], bool(row[4]))


def _entry(account_id: int, movement: Movement, balance_after: int) -> dict[str, object]:
    return {
        "account_id": account_id,
        "kind": movement.kind,
        "amount_milli": movement.amount_milli,
        "balance_after_milli": balance_after,
        "actor": movement.actor,
        "reason": movement.reason,
        "job_id": movement.job_id,
        "message_id": movement.message_id,
        "counterpart_account_id": movement.counterpart_account_id,
        "order_id": movement.order_id,
    }


_ENTRY_COLUMNS = (
    "account_id", "kind", "amount_milli", "balance_after_milli", "actor", "reason", "job_id", "message_id",
    "counterpart_account_id", "order_id",
)  # fmt: skip
_ENTRY_VALUES = itemgetter(*_ENTRY_COLUMNS)
_INSERT_ENTRY = f"INSERT INTO ledger_entries ({', '.join(_ENTRY_COLUMNS)}, created_at) VALUES ({marks(len(_ENTRY_COLUMNS) + 1)})"


def _held_delta(movement: Movement) -> int:
    return -movement.amount_milli if movement.kind in Kind.QUOTA else 0


ThresholdObserver = Callable[[Session, int, int, str], None]
"""``(session, account_id, recredit_amount_credits, cause)``: called in the debit's transaction."""

threshold_observers: list[ThresholdObserver] = []
"""Told once per crossing when a debit takes an account's free credits below its automatic
top-up threshold. The ledger only reports the crossing; ``services.topup`` orders the credits."""


def _after_move(session: Session, account_id: int, amount_milli: int, moved: _Moved, actor: str) -> None:
    """Report a threshold crossing (once: the account's flag is cleared in the same transaction)."""
    if amount_milli >= 0 or not moved.armed or not moved.recredit_amount or moved.balance >= moved.threshold:
        return
    disarmed = session.execute(
        update(Account)
        .where(Account.id == account_id, Account.recredit_armed.is_(True))
        .values(recredit_armed=False)
        .returning(Account.id)
    ).scalar_one_or_none()
    if disarmed is None:
        return
    for observer in threshold_observers:
        observer(session, account_id, moved.recredit_amount, actor)


def post(session: Session, account_id: int, movement: Movement) -> LedgerEntry:
    """Apply ``movement`` to the account's balances and record it; refuse to go below zero."""
    moved = _move_balance(
        session, account_id, movement.amount_milli,
        held_delta=_held_delta(movement),
        rearm=movement.amount_milli > 0 and movement.kind in Kind.REARMING,
    )
    entry = LedgerEntry(**_entry(account_id, movement, moved.balance))
    session.add(entry)
    session.flush()
    _after_move(session, account_id, movement.amount_milli, moved, movement.actor)
    return entry


def job_debit(job_id: int, milli: int, *, actor: str, messages: int) -> Movement:
    """The movement charging a job's whole cost (one entry per job)."""
    return Movement(Kind.JOB_DEBIT, -milli, actor=actor, reason=f"job {job_id}: {messages} SMS", job_id=job_id)


def debit_job(session: Session, account_id: int, job_id: int, milli: int, *, actor: str, messages: int) -> None:
    """Charge a job's whole cost in one entry; ``NotEnoughCredits`` (nothing debited) if it cannot be paid.
    The accept path's hot write: the entry is inserted as a plain row (no ORM object). Several jobs
    of one account: ``affordable`` then ``post_many`` of their ``job_debit`` movements."""
    post_many(session, account_id, [job_debit(job_id, milli, actor=actor, messages=messages)])


def affordable(session: Session, account_id: int, costs: list[int], *, left: int | None = None) -> list[NotEnoughCredits | None]:
    """Which of several debits (milli-credits, in this order) the account's free credits pay:
    None for each that fits in what is left after those before it, ``NotEnoughCredits`` for
    the others. The account's row is read and stays locked until the transaction ends (SQLite: the
    transaction holds the write lock), so ``post_many`` of the payable ones cannot fail.

    ``left``: the free credits as the caller read them in this transaction, without a lock: nothing
    is read or locked, and ``post_many``'s conditional update stays the guard (it refuses, with
    ``NotEnoughCredits``, if another transaction spent them since; on SQLite it cannot)."""
    if left is None:
        lock = "" if session.get_bind().dialect.name == "sqlite" else " FOR NO KEY UPDATE"
        cur = run(session, f"SELECT credits_milli FROM accounts WHERE id = ?{lock}", (account_id,))
        try:
            row = cur.fetchone()
        finally:
            cur.close()
        left = row[0] if row else 0
    out: list[NotEnoughCredits | None] = []
    for cost in costs:
        if cost <= left:
            left -= cost
            out.append(None)
        else:
            out.append(_not_enough(cost, left))
    return out


def _not_enough(needed_milli: int, left_milli: int) -> NotEnoughCredits:
    return NotEnoughCredits(f"Not enough credits: {to_credits(needed_milli):g} needed, creditsLeft is {to_credits(left_milli):g}")


def post_many(session: Session, account_id: int, movements: list[Movement]) -> None:
    """Post several movements of one account with a single balance update (a group of jobs,
    refund sweeps). PostgreSQL: the update and the entries are one statement (``_post_sql``),
    one round trip while the account's row is locked instead of two."""
    if not movements:
        return
    total = sum(m.amount_milli for m in movements)
    held_delta = sum(_held_delta(m) for m in movements)
    rearm = any(m.amount_milli > 0 and m.kind in Kind.REARMING for m in movements)
    created = db_time(session, utcnow())
    if is_sqlite(session):
        moved = _move_balance(session, account_id, total, held_delta=held_delta, rearm=rearm)
        run_many(session, _INSERT_ENTRY, [(*row, created) for row in _entry_rows(account_id, movements, moved.balance - total)])
    else:
        session.flush()  # the account's pending changes first, as an ORM statement would
        entries = [(*row, created) for row in _entry_rows(account_id, movements, -total)]  # balances after: the new one + these
        cur = run(session, _post_sql(total < 0, bool(held_delta), held_delta < 0, rearm),
                  [*_move_params(account_id, total, held_delta, rearm), *(pg_array(column) for column in zip(*entries))])
        try:
            row = cur.fetchone()
        finally:
            cur.close()
        moved = _moved(session, account_id, total, held_delta, row)
    _after_move(session, account_id, total, moved, movements[0].actor)


def _entry_rows(account_id: int, movements: list[Movement], start: int) -> list[tuple[Any, ...]]:
    """The movements' entries (``_ENTRY_COLUMNS``), each with the balance after it counted from ``start``."""
    rows = []
    running = start
    for m in movements:
        running += m.amount_milli
        rows.append(_ENTRY_VALUES(_entry(account_id, m, running)))
    return rows


@functools.cache
def _post_sql(debit: bool, held: bool, release: bool, rearm: bool) -> str:
    """PostgreSQL: ``_move_sql`` and the insert of its entries in one statement. The entries are
    written only if the update took place (they are joined to its row); each one's balance after
    is the new balance plus its bound value (what the movements after it will have added).
    Parameters: ``_move_sql``'s, then one array per entry column (``_ENTRY_COLUMNS``, created_at)."""
    columns = (*_ENTRY_COLUMNS, "created_at")
    types = column_types("ledger_entries")
    assert types is not None
    arrays = ", ".join(f"?::{types[c]}[]" for c in columns)
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    values = ", ".join(f"m.credits_milli + v.c{i}" if c == "balance_after_milli" else f"v.c{i}" for i, c in enumerate(columns))
    moved, _, returning = _move_sql(debit, held, release, rearm).partition(" RETURNING ")
    return (
        f"WITH moved AS ({moved} RETURNING {returning}), entries AS ("
        f"INSERT INTO ledger_entries ({', '.join(columns)}) SELECT {values}"
        f" FROM moved m, unnest({arrays}) WITH ORDINALITY AS v({names}, n) ORDER BY v.n) SELECT {returning} FROM moved"
    )


def hold_for_quota(session: Session, account_id: int, milli: int, *, actor: str, reason: str = "quota") -> LedgerEntry:
    """Move ``milli`` free credits to the quota-held ones (``creditsHoldByQuota``)."""
    if milli <= 0:
        raise BadRequest("credits: must be positive")
    return post(session, account_id, Movement(Kind.QUOTA_HOLD, -milli, actor=actor, reason=reason))


def release_quota(session: Session, account_id: int, milli: int, *, actor: str, reason: str = "quota released") -> LedgerEntry:
    """Give ``milli`` quota-held credits back to the free credits."""
    if milli <= 0:
        raise BadRequest("credits: must be positive")
    return post(session, account_id, Movement(Kind.QUOTA_RELEASE, milli, actor=actor, reason=reason))


def ledger_balance(session: Session, account_id: int) -> int:
    """The free balance recomputed from the entries (milli-credits)."""
    return session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_milli), 0)).where(LedgerEntry.account_id == account_id)
    ) or 0


def ledger_held(session: Session, account_id: int) -> int:
    """The quota-held balance recomputed from the entries (milli-credits)."""
    return -(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_milli), 0)).where(
                LedgerEntry.account_id == account_id, LedgerEntry.kind.in_(Kind.QUOTA)
            )
        )
        or 0
    )


def verify(session: Session, account_id: int) -> bool:
    """True when both cached balances equal what the ledger entries add up to."""
    row = session.execute(
        select(Account.credits_milli, Account.credits_held_milli).where(Account.id == account_id)
    ).one_or_none()
    if row is None:
        return False
    return row[0] == ledger_balance(session, account_id) and row[1] == ledger_held(session, account_id)
