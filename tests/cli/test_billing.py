"""``textos order``, ``transfer``, ``quota``, ``prices``: money administration, at the prices of
the command's own settings (textos.toml), the automatic top-up included."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from textos.cli.main import app
from textos.storage import ledger
from textos.storage.db import Database
from textos.storage.models import Account

CONFIG = '[prices]\ncurrency = "EUR"\ntax_rate = 0.1\n[prices.packs]\n50 = 0.1\n500 = 0.09\n'


@pytest.fixture
def textos(make_database, tmp_path, monkeypatch):
    """Run ``textos …`` on a fresh database with a textos.toml of its own; returns its JSON, or its exit code and output."""
    monkeypatch.setattr(ledger, "threshold_observers", list(ledger.threshold_observers))
    (tmp_path / "textos.toml").write_text(CONFIG)
    monkeypatch.setenv("TEXTOS_CONFIG", str(tmp_path / "textos.toml"))
    url = make_database("sqlite")
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, [*args, "--database-url", url, "--json"] if args[0] != "prices" else [*args, "--json"])
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)
        return result.exit_code, result.output

    run.url = url  # type: ignore[attr-defined]
    return run


def test_prices_show_the_configured_book(textos):
    book = textos("prices")
    assert book["packs"] == [{"min": 50, "max": 500, "creditPrice": 0.1}, {"min": 500, "max": None, "creditPrice": 0.09}]
    assert book["taxRate"] == 0.1 and book["defaultCreditRate"] == 1.0


def test_a_malformed_price_book_ends_commands_with_its_reason(textos, tmp_path):
    (tmp_path / "textos.toml").write_text('[prices]\ntax_rate = "lots"\n')
    for args in (("prices",), ("account", "list")):
        code, output = textos(*args, ok=False)
        assert code == 2 and "prices: tax_rate must be a number" in output


def test_orders_are_priced_by_the_settings_and_paid_once(textos):
    textos("customer", "create", "--nic", "ab12345-cli", "--password", "pw")
    service = textos("account", "create", "--nic", "ab12345-cli")["serviceName"]
    order = textos("order", "create", "--service", service, "--quantity", "500")
    assert (order["withoutTax"], order["withTax"], order["status"]) == (45.0, 49.5, "notPaid")
    paid = textos("order", "pay", str(order["orderId"]), "--reference", "BANK-1")
    again = textos("order", "pay", str(order["orderId"]))
    assert (paid["credited"], paid["creditsLeft"], again["credited"], again["paymentConfirmations"]) == (True, 500.0, False, 2)
    other = textos("order", "create", "--service", service, "--quantity", "50")
    assert textos("order", "cancel", str(other["orderId"]))["status"] == "cancelled"
    listed = textos("order", "list", "--service", service)["orders"]
    assert [(o["orderId"], o["status"]) for o in listed] == [(order["orderId"], "delivered"), (other["orderId"], "cancelled")]
    code, output = textos("order", "create", "--service", service, "--quantity", "49", ok=False)
    assert code == 2 and "quantity: at least 50" in output


def test_a_cli_debit_below_the_threshold_orders_at_the_configured_prices(textos):
    textos("customer", "create", "--nic", "ab12345-cli", "--password", "pw")
    service = textos("account", "create", "--nic", "ab12345-cli", "--credits", "100")["serviceName"]
    db = Database(textos.url)
    with db.session() as s:
        account = s.query(Account).filter_by(service_name=service).one()
        account.credit_threshold_milli, account.automatic_recredit_amount = 50_000, 200
    db.dispose()
    textos("quota", "hold", "--service", service, "--credits", "60")
    (automatic,) = textos("order", "list", "--service", service, "--status", "notPaid")["orders"]
    assert (automatic["reason"], automatic["quantity"], automatic["withoutTax"]) == ("automatic", 200, 20.0)


def test_transfers_and_quotas(textos):
    textos("customer", "create", "--nic", "ab12345-cli", "--password", "pw")
    textos("customer", "create", "--nic", "cd67890-cli", "--password", "pw")
    mine = textos("account", "create", "--nic", "ab12345-cli", "--credits", "10")["serviceName"]
    theirs = textos("account", "create", "--nic", "cd67890-cli")["serviceName"]
    code, output = textos("transfer", "run", "--from", mine, "--to", theirs, "--credits", "1", ok=False)
    assert code == 2 and "smsAccountTarget" in output
    textos("transfer", "allow", "--from", mine, "--to", theirs)
    moved = textos("transfer", "run", "--from", mine, "--to", theirs, "--credits", "2.5")
    assert (moved["fromCreditsLeft"], moved["toCreditsLeft"]) == (7.5, 2.5)
    assert textos("transfer", "revoke", "--from", mine, "--to", theirs)["allowed"] is False
    held = textos("quota", "hold", "--service", mine, "--credits", "5")
    assert (held["creditsLeft"], held["creditsHoldByQuota"]) == (2.5, 5.0)
    released = textos("quota", "release", "--service", mine, "--credits", "5")
    assert (released["creditsLeft"], released["creditsHoldByQuota"]) == (7.5, 0.0)


def test_quota_help_says_what_holding_does_without_users_textos_lacks():
    """Textos has no SMS users (``/sms/{s}/users``) yet: the commands say what they do to the account."""
    runner = CliRunner()
    group = runner.invoke(app, ["quota", "--help"], terminal_width=200).output
    assert "creditsHoldByQuota" in group and "not spent or transferred until released" in group
    assert "Textos does not have yet" in group
    for command in ("hold", "release"):
        shown = runner.invoke(app, ["quota", command, "--help"], terminal_width=200).output
        assert "creditsLeft" in shown and "creditsHoldByQuota" in shown and "user" not in shown, shown
