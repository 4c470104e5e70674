"""Composing Textos: the server builds the price book once, installs the automatic top-up with it,
wakes its dispatcher through the API's state, and mounts the simulator's hook."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import select

from helpers import start_server, stop_server, wait_until
from signed_calls import against, call, new_keys
from textos.config import Settings
from textos.server import Runtime, build_app
from textos.services import topup
from textos.services.prices import PriceBook
from textos.storage import ledger
from textos.storage.db import Database
from textos.storage.models import Message


@pytest.fixture
def settings(make_database, monkeypatch):
    monkeypatch.setattr(ledger, "threshold_observers", list(ledger.threshold_observers))
    return Settings(database_url=make_database("sqlite"), prices={"packs": {"10": 0.5}}, simulator="inprocess",
                    simulator_receipt_delay=0.01, dispatcher_interval=30)


def test_the_price_book_is_built_once_for_routes_and_top_up(settings):
    app = build_app(settings, dispatch=False)
    book = PriceBook.from_settings(settings)
    assert app.state.textos.prices == book
    assert [o for o in ledger.threshold_observers if isinstance(o, topup.TopUp)] == [topup.TopUp(book)]
    app.state.textos.db.dispose()


def test_simulator_hook_is_mounted_for_loopback_callers(settings):
    app = build_app(settings, dispatch=False)

    async def from_loopback(client: httpx.AsyncClient) -> None:
        answer = await client.get("/_simulator/stats")
        assert answer.status_code == 404 and answer.json() == {"class": "Client::NotFound", "message": "no embedded SMSC simulator is running"}

    async def from_afar(client: httpx.AsyncClient) -> None:
        answer = await client.get("/_simulator/stats")
        assert answer.status_code == 403 and answer.json()["class"] == "Client::Forbidden"

    against(app, from_loopback)
    against(app, from_afar, client=("203.0.113.7", 40000))
    app.state.textos.db.dispose()


def test_an_accepted_job_wakes_the_dispatcher(settings):
    """The dispatcher polls every 30 s here: a job sent within a second means the route woke it."""
    app = build_app(settings)
    db: Database = app.state.textos.db
    keys = new_keys(db)

    def statuses() -> list[str]:
        with db.read() as s:
            return list(s.scalars(select(Message.status)))

    async def scenario(client: httpx.AsyncClient) -> None:
        await call(client, keys, "POST", f"/sms/{keys[0]}/jobs", {"message": "hi", "receivers": ["+33612345678"], "noStopClause": True})
        deadline = time.monotonic() + 5
        while statuses() == ["queued"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert statuses() != ["queued"]

    against(app, scenario, lifespan=True)
    db.dispose()


def test_jobs_are_charged_the_parts_of_their_route(settings):
    carriers = {"fr": {"url": "smpp://u:p@10.0.0.1:2775", "concat": "udh16"}, "world": {"url": "smpp://u:p@10.0.0.2:2775"}}
    routes = [{"prefix": "+33", "carriers": ["fr"]}, {"prefix": "", "carriers": ["world"]}]
    app = build_app(Settings(database_url=settings.database_url, carriers=carriers, routes=routes), dispatch=False)
    concat_for = app.state.textos.concat_for
    assert (concat_for("+33612345678").value, concat_for("+447400123456").value) == ("udh16", "udh8")
    app.state.textos.db.dispose()


def test_the_embedded_simulator_gives_up_on_receipts_sooner_than_a_carrier(settings):
    """Its receipts come within ``simulator_receipt_delay``, and die with the process: the receipt
    deadline is the shorter of ``receipt_timeout`` and ``simulator_receipt_timeout``."""
    db = Database(settings.database_url)
    db.migrate()
    runtime = Runtime(settings.replace(receipt_timeout=3600.0, simulator_receipt_timeout=90.0), db)

    async def started() -> float | None:
        await runtime.start()
        try:
            return runtime.dispatcher.receipt_timeout if runtime.dispatcher else None
        finally:
            await runtime.stop()

    assert asyncio.run(started()) == 90.0
    assert settings.replace(receipt_timeout=60.0).receipt_deadline(embedded_simulator=True) == 60.0  # the shorter one
    assert Settings().receipt_deadline(embedded_simulator=False) == 259_200.0  # a carrier: 72 h
    db.dispose()


def test_the_process_running_delivery_vacuums_postgresql_when_told(databases):
    """``vacuum``: the runtime's chore (``storage.vacuum``) runs at start, then every ``VACUUM_PERIOD``."""
    db = Database(databases.migrated("postgresql"))
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE churned AS SELECT generate_series(1, 5000) AS id")
        conn.exec_driver_sql("DELETE FROM churned")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
        conn.commit()
    stats = "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables WHERE relname = 'churned'"
    wait_until(lambda: _row(db, stats)[0] >= 5000, timeout=10)
    settings = Settings(database_url=db.url, simulator="inprocess", dispatcher_interval=30, vacuum="always")

    async def run() -> None:
        runtime = Runtime(settings, db)
        await runtime.start()
        try:
            await asyncio.to_thread(wait_until, lambda: _row(db, stats)[1] >= 1, 15)
        finally:
            await runtime.stop()

    asyncio.run(run())  # it returned: the table was vacuumed while the runtime ran
    db.dispose()
    databases.discard(db.url)


def _row(db: Database, sql: str) -> tuple:
    with db.engine.connect() as conn:
        return tuple(conn.exec_driver_sql(sql).one())


@pytest.mark.parametrize("cert, key", [("cert.pem", None), (None, "key.pem")])
def test_a_tls_certificate_without_its_key_stops_serve_in_one_line(tmp_path, cert, key):
    from textos.server import serve

    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", tls_cert=cert, tls_key=key)
    with pytest.raises(SystemExit, match=r"^textos: configuration error: tls_cert and tls_key go together: give both"):
        serve(settings)


def test_a_tls_pair_that_does_not_load_stops_serve_naming_its_files(tmp_path):
    from textos.server import serve

    (tmp_path / "cert.pem").write_text("not a certificate")
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", tls_cert=str(tmp_path / "cert.pem"), tls_key=str(tmp_path / "key.pem"))
    with pytest.raises(SystemExit, match=r"^textos: configuration error: cannot use the TLS certificate .*cert\.pem with the key .*key\.pem"):
        serve(settings)
def test_serve_says_where_it_listens_and_what_to_do_first(make_database, tmp_path):
    """On a fresh database: no migration chatter, the endpoint and the docs, and the very command to run
    next, naming this server's port and database (``textos quickstart`` does not see ``serve``'s flags)."""
    server = start_server(make_database("sqlite"), tmp_path, "sqlite")
    try:
        said = wait_until(lambda: "quickstart" in server.log() and server.log(), what="first steps")
        assert "alembic" not in said, said
        assert f"listening on http://127.0.0.1:{server.port}" in said
        assert f"API docs      {server.endpoint}/docs" in said
        command = re.search(r"No customer yet: in another terminal, run (textos quickstart .+) for a demo", said)
        assert command, said
        words = shlex.split(command.group(1))
        env = {**os.environ, "TEXTOS_CONFIG": str(tmp_path / "absent.toml")}
        env.pop("TEXTOS_DATABASE_URL", None)
        done = subprocess.run([sys.executable, "-m", "textos.cli.main", *words[1:], "--json"], capture_output=True,
                              text=True, timeout=60, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        keys = json.loads(done.stdout)
        assert keys["endpoint"] == server.endpoint
        client = server.client(keys["applicationKey"], keys["applicationSecret"], keys["consumerKey"])
        assert client.get("/sms") == [keys["serviceName"]]
    finally:
        stop_server(server)
