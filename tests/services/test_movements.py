"""An account's credit movements: filtered by date and kind, newest first, transfers naming the other account."""

from __future__ import annotations

import pytest

from credit_helpers import new_accounts
from textos.domain.errors import BadRequest
from textos.services import movements, transfers
from textos.storage.models import Account


def test_kinds_are_ledger_kinds():
    assert movements.parse_kinds(None) == [] and movements.parse_kinds(" purchase, ,refund") == ["purchase", "refund"]
    with pytest.raises(BadRequest, match="^kind: unknown kind 'gift'"):
        movements.parse_kinds("purchase,gift")


def test_history_newest_first_with_the_counterpart_named(db):
    a, b = new_accounts(db, 10, 0)
    with db.session() as s:
        transfers.transfer(s, s.get(Account, a.id), b.service_name, 4, actor="alice")
    with db.read() as s:
        entries = movements.history(s, a.id)
        names = movements.counterpart_names(s, entries)
        assert [e.kind for e in entries] == ["transfer_out", "adjustment"]
        assert [e.kind for e in movements.history(s, a.id, kinds=["adjustment"])] == ["adjustment"]
        assert len(movements.history(s, a.id, limit=1)) == 1
        assert movements.history(s, a.id, since=entries[0].created_at.replace(year=2999)) == []
        view = movements.entry_view(entries[0], names)
        admin = movements.admin_entry_view(entries[0])
    assert (view["credits"], view["creditsLeft"], view["counterpart"], view["actor"]) == (-4.0, 6.0, b.service_name, "alice")
    assert (admin["credits"], admin["balance"], admin["counterpartAccountId"]) == (-4.0, 6.0, b.id)
