"""``textos admin create``: an operator of the dashboard, with a given or generated password."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from textos.cli.main import app
from textos.services.admin import check_password
from textos.storage.db import Database
from textos.storage.models import Operator


def test_admin_create_makes_an_operator_once(make_database):
    url = make_database("sqlite")
    runner = CliRunner()
    made = runner.invoke(app, ["admin", "create", "--login", "ops", "--database-url", url, "--json"])
    assert made.exit_code == 0, made.output
    password = json.loads(made.stdout)["password"]
    assert len(password) >= 12
    given = runner.invoke(app, ["admin", "create", "--login", "ops2", "--password", "a-long-password", "--database-url", url, "--json"])
    assert json.loads(given.stdout) == {"login": "ops2", "password": "a-long-password"}
    again = runner.invoke(app, ["admin", "create", "--login", "ops", "--database-url", url])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(app, ["admin", "create", "--login", "ops3", "--password", "short", "--database-url", url])
    assert short.exit_code != 0 and "at least 12" in short.output
    db = Database(url)
    with db.read() as session:
        stored = {o.login: o.password_hash for o in session.query(Operator)}
    db.dispose()
    assert set(stored) == {"ops", "ops2"} and check_password(password, stored["ops"]) and password not in stored["ops"]
