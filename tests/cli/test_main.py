"""``textos`` administration: customers, accounts, credits, the ledger, keys and senders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from textos.cli.main import app
from textos.storage import ledger


@pytest.fixture
def textos(make_database, tmp_path, monkeypatch):
    """Run ``textos …`` on a fresh database; returns its JSON, or its exit code and output."""
    monkeypatch.setattr(ledger, "threshold_observers", list(ledger.threshold_observers))
    monkeypatch.setenv("TEXTOS_CONFIG", str(tmp_path / "absent.toml"))
    url = make_database("sqlite")
    runner = CliRunner()

    def run(*args: str, ok: bool = True, as_json: bool = True):
        result = runner.invoke(app, [*args, "--database-url", url, *(["--json"] if as_json else [])])
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)
        return result.exit_code, result.output

    return run


def test_accounts_credits_and_their_ledger(textos):
    textos("customer", "create", "--nic", "ab12345-cli", "--password", "pw")
    first = textos("account", "create", "--nic", "ab12345-cli", "--credits", "10")["serviceName"]
    second = textos("account", "create", "--nic", "ab12345-cli", "--service-name", "sms-second")["serviceName"]
    assert textos("credits", "add", "--service", second, "--credits", "2.5", "--reason", "gift")["creditsLeft"] == 2.5
    assert textos("account", "list") == {"accounts": [{"serviceName": first, "creditsLeft": 10.0}, {"serviceName": second, "creditsLeft": 2.5}]}
    shown = textos("ledger", "--service", second)
    assert shown["consistent"] is True and shown["creditsLeft"] == 2.5
    assert [(e["kind"], e["credits"], e["balance"], e["reason"]) for e in shown["entries"]] == [("adjustment", 2.5, 2.5, "gift")]
    assert textos("ledger", "--service", second, "--kind", "purchase")["entries"] == []
    code, output = textos("ledger", "--service", second, "--kind", "gift", ok=False)
    assert code == 2 and "kind: unknown kind 'gift'" in output


def test_keys_need_well_formed_rules(textos):
    textos("customer", "create", "--nic", "ab12345-cli", "--password", "pw")
    application = textos("app", "create", "--name", "crm", "--nic", "ab12345-cli")
    key = textos("credential", "create", "--app", application["applicationKey"], "--nic", "ab12345-cli", "--rule", "GET /sms/*")
    assert len(key["consumerKey"]) == 32
    code, _ = textos("credential", "create", "--app", application["applicationKey"], "--nic", "ab12345-cli", "--rule", "FETCH /sms", ok=False)
    assert code == 2


def test_quickstart_is_made_once_and_a_rerun_says_its_consumer_key_is_new(textos):
    first, again = textos("quickstart"), textos("quickstart")
    assert first["password"] and "password" not in again
    assert {k: first[k] for k in ("serviceName", "applicationKey", "applicationSecret")} == {
        k: again[k] for k in ("serviceName", "applicationKey", "applicationSecret")
    }
    assert again["consumerKey"] != first["consumerKey"] and again["newConsumerKey"] is True
    code, shown = textos("quickstart", ok=False, as_json=False)
    assert code == 0 and "new consumer key" in shown and "cannot be shown again" in shown


def test_the_quickstart_snippet_pastes_into_python_off_a_terminal(make_database, tmp_path):
    """Through a pipe (a file, a terminal multiplexer's copy) the snippet is neither indented nor wrapped at 80 columns."""
    env = {**os.environ, "TEXTOS_CONFIG": str(tmp_path / "absent.toml"), "COLUMNS": "80"}
    piped = subprocess.run([sys.executable, "-m", "textos.cli.main", "quickstart", "--database-url", make_database("sqlite"),
                            "--endpoint", "http://127.0.0.1:9999/1.0"], stdout=subprocess.PIPE, text=True, timeout=60, env=env, check=True)
    snippet = piped.stdout.split("Try it", 1)[1].split("\n", 1)[1]
    code = compile(snippet, "<quickstart>", "exec")
    assert "ovh" in code.co_names and "'http://127.0.0.1:9999/1.0'" in snippet
    assert max(len(line) for line in snippet.splitlines()) > 80  # one statement a line, however long


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """``path`` and every command below it (typer's groups have ``commands``)."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_help_text_reads_clean():
    """No type label on flags (which take no value) and no reStructuredText markup, in every command's --help."""
    runner = CliRunner()
    commands = _commands(typer.main.get_command(app))
    assert ("serve",) in commands and ("quota", "hold") in commands and len(commands) > 30
    for path in commands:
        shown = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert shown.exit_code == 0, (path, shown.output)
        for raw in ("<bool>", "``", "<list["):
            assert raw not in shown.output, (path, raw, shown.output)


def test_account_list_has_column_headers(textos):
    textos("customer", "create", "--nic", "ab12345-cli", "--password", "pw")
    service = textos("account", "create", "--nic", "ab12345-cli", "--credits", "12.5")["serviceName"]
    code, shown = textos("account", "list", ok=False, as_json=False)
    header = next(line for line in shown.splitlines() if "serviceName" in line)
    assert code == 0 and "creditsLeft" in header
    assert shown.index(header) < shown.index(service) and "12.5" in shown
