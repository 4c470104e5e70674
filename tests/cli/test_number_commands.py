"""``textos number add|list|remove``: the operator assigns virtual numbers; mistakes are named."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from textos.cli.main import app


@pytest.fixture
def textos(make_database):
    """Run ``textos …`` on a fresh SQLite database; returns its JSON, or its exit code and output."""
    url = make_database("sqlite")
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, [*args, "--database-url", url, "--json"])
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)
        return result.exit_code, result.output

    return run


def test_numbers_are_assigned_listed_and_removed(textos):
    textos("customer", "create", "--nic", "ab12345-vn", "--password", "pw")
    first = textos("account", "create", "--nic", "ab12345-vn")["serviceName"]
    second = textos("account", "create", "--nic", "ab12345-vn")["serviceName"]
    assert textos("number", "add", "--service", first, "--number", "0033612345678") == {
        "serviceName": first, "countryCode": "fr", "number": "+33612345678"}
    textos("number", "add", "--service", second, "--number", "+32470123456")
    listed = textos("number", "list")["numbers"]
    assert [(n["number"], n["serviceName"], n["countryCode"]) for n in listed] == [
        ("+33612345678", first, "fr"), ("+32470123456", second, "be")]
    assert [n["number"] for n in textos("number", "list", "--service", second)["numbers"]] == ["+32470123456"]
    assert textos("number", "remove", "--number", "33612345678") == {"number": "+33612345678", "serviceName": first, "removed": True}
    assert [n["number"] for n in textos("number", "list")["numbers"]] == ["+32470123456"]


@pytest.mark.parametrize(
    "args, reason",
    [
        (("add", "--service", "sms-nobody-1", "--number", "+33612345678"), "the SMS account 'sms-nobody-1' does not exist"),
        (("add", "--service", "{service}", "--number", "12"), "number: '12' is not a valid phone number"),
        (("add", "--service", "{service}", "--number", "+12025550123"), "+12025550123 is in US; virtual numbers are in"),
        (("add", "--service", "{service}", "--number", "+32470123456"), "number: +32470123456 is already assigned to {service}"),
        (("remove", "--number", "+33699999999"), "number: +33699999999 is not assigned to any account"),
        (("list", "--service", "sms-nobody-1"), "the SMS account 'sms-nobody-1' does not exist"),
    ],
)
def test_mistakes_end_with_exit_code_2_and_their_reason(textos, args, reason):
    textos("customer", "create", "--nic", "ab12345-vn", "--password", "pw")
    service = textos("account", "create", "--nic", "ab12345-vn")["serviceName"]
    textos("number", "add", "--service", service, "--number", "+32470123456")
    code, output = textos("number", *(a.format(service=service) for a in args), ok=False)
    assert code == 2 and reason.format(service=service) in " ".join(output.split()), output
