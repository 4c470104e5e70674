"""Secrets at rest, end to end: after a quickstart, signed calls with the official ``ovh`` client and
a consumer key asked for through the API, the database holds no consumer key, validation token or
application secret in clear; the keys still work, and ``textos credential revoke`` still takes a key."""

from __future__ import annotations

import json

import httpx
import ovh
import pytest
from typer.testing import CliRunner

from helpers import stored_bytes
from textos.cli.main import app as cli_app


def test_the_database_holds_no_key_token_or_secret_in_clear(server):
    result = CliRunner().invoke(cli_app, ["quickstart", "--database-url", server.database_url, "--json"])
    assert result.exit_code == 0, result.output
    qs = json.loads(result.stdout)
    client = server.client(qs["applicationKey"], qs["applicationSecret"], qs["consumerKey"])
    assert qs["serviceName"] in client.get("/sms")
    report = client.post(f"/sms/{qs['serviceName']}/jobs", message="at rest", receivers=["+33612345678"], noStopClause=True)
    assert report["totalCreditsRemoved"] == 1.0

    asking = server.client(qs["applicationKey"], qs["applicationSecret"], None)
    pending = asking.request_consumerkey([{"method": "GET", "path": "/sms"}])
    token = pending["validationUrl"].split("credentialToken=")[1]
    assert httpx.get(pending["validationUrl"]).status_code == 200  # the page finds the key by its token

    raw = stored_bytes(server.database_url)
    for name, clear in (("application secret", qs["applicationSecret"]), ("consumer key", qs["consumerKey"]),
                        ("requested consumer key", pending["consumerKey"]), ("validation token", token)):
        assert clear.encode() not in raw, f"the {name} is stored in clear"

    server.cli("credential", "revoke", qs["consumerKey"])
    with pytest.raises(ovh.exceptions.InvalidCredential):
        client.get("/sms")
