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


@pytest.mark.parametrize("backend", BACKENDS)
def test_0011_stores_keys_and_tokens_as_digests_and_seals_secrets_of_a_plaintext_database(make_database, backend):
    """A database of before 0011 holds keys in clear: after it, none is left, and the old keys still sign."""
    import json

    from helpers import stored_bytes
    from signed_calls import against, call
    from textos.config import Settings
    from textos.server import build_app
    from textos.services import admin, credentials

    url = make_database(backend)
    db = Database(url)
    app_key, secret, key, token = "AK0011plaintext1", "SECRET0011" + "s" * 22, "CK0011" + "k" * 26, "TOKEN0011" + "t" * 39
    try:
        db.migrate("0009_auth")
        with db.session() as s:
            customer, _ = admin.create_customer(s, "ab12345-old", "pw")
            customer_id = customer.id
        with db.engine.begin() as conn:
            now = dt.datetime(2026, 1, 1)
            app_id = conn.execute(
                text("INSERT INTO applications (app_key, app_secret, name, description, status, customer_id, created_at) "
                     "VALUES (:k, :s, 'old', '', 'active', :c, :now) RETURNING id"),
                {"k": app_key, "s": secret, "c": customer_id, "now": now},
            ).scalar_one()
            rules = json.dumps([{"method": m, "path": "/*"} for m in ("GET", "POST", "PUT", "DELETE")])
            for ck, state, tok in ((key, "validated", None), ("CKpending" + "p" * 23, "pendingValidation", token)):
                conn.execute(
                    text("INSERT INTO credentials (consumer_key, application_id, customer_id, state, rules, validation_token, created_at) "
                         "VALUES (:ck, :a, :c, :state, :rules, :tok, :now)"),
                    {"ck": ck, "a": app_id, "c": customer_id, "state": state, "rules": rules, "tok": tok, "now": now},
                )
        assert key.encode() in stored_bytes(url)
        db.migrate()
        db.dispose()
        raw = stored_bytes(url)
        for clear in (secret, key, token):
            assert clear.encode() not in raw, clear
        with db.session() as s:
            assert credentials.pending(s, token)[1].app_key == app_key
    finally:
        db.dispose()

    app = build_app(Settings(database_url=url, simulator="inprocess"), dispatch=False)
    try:
        async def scenario(client) -> None:  # type: ignore[no-untyped-def]
            assert (await call(client, ("", app_key, secret, key), "GET", "/auth/currentCredential"))["status"] == "validated"

        against(app, scenario)
    finally:
        app.state.auth_cache.close()
        app.state.textos.db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_0013_keeps_orders_and_lets_an_order_of_a_new_account_have_none_yet(make_database, backend):
    """``orders`` is rebuilt on SQLite to let ``account_id`` be empty: its rows, indexes and keys stay."""
    from sqlalchemy import inspect

    from textos.services import admin

    db = Database(make_database(backend))
    try:
        db.migrate("0012_password_attempts")
        with db.session() as s:
            admin.create_customer(s, "mg12345-old", "pw")
            account = admin.create_account(s, "mg12345-old")
            ids = (account.customer_id, account.id)
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO orders (customer_id, account_id, quantity, currency, without_tax_cents, tax_cents, with_tax_cents, "
                     "priced, status, reason, token, actor, created_at, payment_confirmations) VALUES (:c, :a, 100, 'EUR', 800, 160, 960, "
                     "'{}', 'notPaid', 'manual', 'tok-0013', 'old', :now, 0)"),
                {"c": ids[0], "a": ids[1], "now": dt.datetime(2026, 1, 1)},
            )
        db.migrate()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT account_id, token, new_account FROM orders")).one() == (ids[1], "tok-0013", None)
            conn.execute(
                text("INSERT INTO orders (customer_id, account_id, quantity, currency, without_tax_cents, tax_cents, with_tax_cents, "
                     "priced, status, reason, token, actor, created_at, payment_confirmations) VALUES (:c, NULL, 100, 'EUR', 800, 160, "
                     "960, '{}', 'notPaid', 'manual', 'tok-new', 'new', :now, 0)"),
                {"c": ids[0], "now": dt.datetime(2026, 1, 2)},
            )
        found = inspect(db.engine)
        assert {i["name"] for i in found.get_indexes("orders")} >= {"ix_orders_account_id", "ix_orders_customer_created"}
        assert {tuple(k["referred_columns"]) + (k["referred_table"],) for k in found.get_foreign_keys("orders")} == {
            ("id", "accounts"), ("id", "customers")}
        assert "settled_at" in {c["name"] for c in found.get_columns("messages")}
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_0028_counts_the_messages_stored_before_it(make_database, backend):
    """A database that had messages before the report counts: 0028 counts them, and the reports
    read from the counts equal those read from the messages."""
    import random

    from report_traffic import SCRIPT, Traffic, assert_counts_agree, new_account

    db = Database(make_database(backend))
    try:
        db.migrate()
        traffic = Traffic(db, new_account(db), random.Random(28))
        for op in SCRIPT:
            traffic.apply(op)
        from alembic import command

        from textos.storage.db import alembic_config

        with db.engine.connect() as conn:  # back before 0028: the counts are gone, the messages stay
            cfg = alembic_config(db.url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0027_metrics_callbacks_failed")
            conn.commit()
        with db.engine.connect() as conn:
            assert "report_counts" not in {r[0] for r in conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table'" if db.is_sqlite else
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
        db.migrate()
        assert_counts_agree(db, traffic)
        traffic.fold()
        assert_counts_agree(db, traffic)
    finally:
        db.dispose()
