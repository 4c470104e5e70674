"""``textos callbacks``: the worker alone refuses SQLite with a clear reason; ``list`` and ``replay``
(the end-to-end test of both on a running server is in e2e/test_callback_delivery.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from textos.cli.main import app
from textos.services import admin
from textos.storage import outbox
from textos.storage.db import Database


def test_the_worker_alone_needs_postgresql(make_database):
    result = CliRunner().invoke(app, ["callbacks", "--database-url", make_database("sqlite")])
    assert result.exit_code != 0 and "PostgreSQL only" in result.output and "textos serve" in result.output


def test_list_filters_by_status_and_service_and_replay_makes_an_event_pending(make_database, monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTOS_CONFIG", str(tmp_path / "absent.toml"))
    url = make_database("sqlite")
    db = Database(url)
    db.migrate()
    with db.session() as s:
        admin.create_customer(s, "cb12345-cli", "pw")
        account = admin.create_account(s, "cb12345-cli", 10)
        outbox.enqueue(s, account_id=account.id, kind="stop", url="http://hooks.example/stop", params={"x": 1}, order_key="k")
    with db.session() as s:
        outbox.record(s, [outbox.Outcome(1, False, 500, "HTTP 500", None)])
    db.dispose()
    runner = CliRunner()

    def run(*args: str) -> object:
        result = runner.invoke(app, ["callbacks", *args, "--database-url", url, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    [failed] = run("list", "--status", "failed", "--service", account.service_name)
    assert (failed["id"], failed["kind"], failed["lastError"], failed["serviceName"]) == (1, "stop", "HTTP 500", account.service_name)
    assert run("list", "--status", "pending") == []
    assert run("replay", "1")["status"] == "pending"
    assert [e["id"] for e in run("list", "--status", "pending")] == [1]
