"""An account's credit movements (its ledger entries) as the API and the CLI list them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.clock import iso
from textos.domain.errors import BadRequest
from textos.storage import ledger
from textos.storage.models import Account, LedgerEntry


def parse_kinds(value: str | None) -> list[str]:
    """``kind`` filter: comma-separated ledger kinds (none: every kind); an unknown kind is refused."""
    kinds = [k.strip() for k in value.split(",") if k.strip()] if value else []
    unknown = [k for k in kinds if k not in ledger.Kind.ALL]
    if unknown:
        raise BadRequest(f"kind: unknown kind {unknown[0]!r} (one of {', '.join(ledger.Kind.ALL)})")
    return kinds


def history(session: Session, account_id: int, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
            kinds: Sequence[str] = (), limit: int = 1000) -> list[LedgerEntry]:
    """The account's entries, newest first, within ``[since, until]`` (naive UTC) and of ``kinds``."""
    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if since is not None:
        stmt = stmt.where(LedgerEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.created_at <= until)
    if kinds:
        stmt = stmt.where(LedgerEntry.kind.in_(kinds))
    return list(session.scalars(stmt.order_by(LedgerEntry.id.desc()).limit(limit)))


def counterpart_names(session: Session, entries: Sequence[LedgerEntry]) -> dict[int, str]:
    """``serviceName`` of the other account of each transfer among ``entries``."""
    others = {e.counterpart_account_id for e in entries if e.counterpart_account_id}
    if not others:
        return {}
    return dict(session.execute(select(Account.id, Account.service_name).where(Account.id.in_(others))).all())


def entry_view(e: LedgerEntry, names: dict[int, str]) -> dict[str, Any]:
    """An entry as ``GET /sms/{serviceName}/ledger`` shows it (a Textos extension)."""
    return {
        "id": e.id,
        "date": iso(e.created_at),
        "kind": e.kind,
        "credits": ledger.to_credits(e.amount_milli),
        "creditsLeft": ledger.to_credits(e.balance_after_milli),
        "actor": e.actor,
        "reason": e.reason,
        "jobId": e.job_id,
        "messageId": e.message_id,
        "orderId": e.order_id,
        "counterpart": names.get(e.counterpart_account_id) if e.counterpart_account_id else None,
    }


def admin_entry_view(e: LedgerEntry) -> dict[str, Any]:
    """An entry as ``textos ledger`` shows it."""
    return {
        "id": e.id,
        "date": e.created_at.isoformat(timespec="seconds"),
        "kind": e.kind,
        "credits": ledger.to_credits(e.amount_milli),
        "balance": ledger.to_credits(e.balance_after_milli),
        "actor": e.actor,
        "reason": e.reason,
        "orderId": e.order_id,
        "counterpartAccountId": e.counterpart_account_id,
    }
