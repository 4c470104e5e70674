"""Schema migrations that rewrite stored data, checked from the revision before them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from helpers import BACKENDS
from textos.domain.lifecycle import DeliveryState
from textos.storage.db import Database

SMPP_STATES = ["DELIVRD", "UNDELIV", "ACCEPTD", "REJECTD", "ENROUTE", "EXPIRED", "DELETED", "UNKNOWN"]
DOMAIN_STATES = ["delivered", "undeliverable", "accepted", "rejected", "enroute", "expired", "deleted", "unknown"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_0008_renames_stored_part_states_to_the_domain_words(make_database, backend):
    db = Database(make_database(backend))
    try:
        db.migrate("0007")
        with db.engine.begin() as conn:
            for i, state in enumerate(SMPP_STATES):
                conn.execute(
                    text("INSERT INTO message_parts (message_id, part_no, carrier_id, state) VALUES (1, :n, :cid, :state)"),
                    {"n": i + 1, "cid": f"p{i}", "state": state},
                )
                conn.execute(
                    text("INSERT INTO pending_receipts (carrier_id, state, received_at) VALUES (:cid, :state, :now)"),
                    {"cid": f"k{i}", "state": state, "now": dt.datetime(2026, 1, 1)},
                )
        db.migrate()
        with db.engine.connect() as conn:
            parts = [r[0] for r in conn.execute(text("SELECT state FROM message_parts ORDER BY part_no"))]
            kept = [r[0] for r in conn.execute(text("SELECT state FROM pending_receipts ORDER BY id"))]
        assert parts == kept == DOMAIN_STATES
        assert set(DOMAIN_STATES) == {state.value for state in DeliveryState}
    finally:
        db.dispose()
