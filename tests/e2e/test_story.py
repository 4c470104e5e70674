"""The newcomer's story: quickstart keys in the official ``ovh`` client, a tagged send, delivered."""

from __future__ import annotations

import json

import ovh
from typer.testing import CliRunner

from textos.cli.main import app as cli_app


def test_quickstart_is_idempotent_and_a_rerun_issues_a_new_working_key(server):
    """Consumer keys are stored as digests: a rerun cannot print the earlier key, so it issues a new
    one and says so; customer, account and application stay the same, and both keys work."""
    runner = CliRunner()
    first = runner.invoke(cli_app, ["quickstart", "--database-url", server.database_url, "--json"])
    second = runner.invoke(cli_app, ["quickstart", "--database-url", server.database_url, "--json"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    for key in ("endpoint", "nic", "applicationKey", "applicationSecret", "serviceName"):
        assert a[key] == b[key], key
    assert a["consumerKey"] != b["consumerKey"] and b["newConsumerKey"] is True
    assert a["endpoint"].endswith("/1.0")
    assert a["serviceName"].startswith("sms-") and a["serviceName"].endswith("-1")
    for qs in (a, b):
        client = server.client(qs["applicationKey"], qs["applicationSecret"], qs["consumerKey"])
        assert qs["serviceName"] in client.get("/sms")


def test_send_three_receivers_with_tag_and_see_them_delivered(server):
    runner = CliRunner()
    qs = json.loads(runner.invoke(cli_app, ["quickstart", "--database-url", server.database_url, "--json"]).stdout)
    ovh.client.ENDPOINTS["textos-story"] = server.endpoint
    client = ovh.Client(
        endpoint="textos-story",
        application_key=qs["applicationKey"],
        application_secret=qs["applicationSecret"],
        consumer_key=qs["consumerKey"],
    )
    service = qs["serviceName"]
    assert service in client.get("/sms")
    before = client.get(f"/sms/{service}")["creditsLeft"]

    report = client.post(
        f"/sms/{service}/jobs",
        message="Your parcel arrives today",
        receivers=["+33612345678", "0612345679", "0033612345670"],
        tag="story",
        noStopClause=True,
    )
    assert report["validReceivers"] == ["+33612345678", "+33612345679", "+33612345670"]
    assert report["invalidReceivers"] == []
    assert report["totalCreditsRemoved"] == 3.0
    assert report["tag"] == "story"
    assert len(report["ids"]) == 3

    from helpers import wait_until

    ids = wait_until(
        lambda: (lambda got: got if sorted(got) == sorted(report["ids"]) else None)(client.get(f"/sms/{service}/outgoing", tag="story")),
        what="outgoing by tag",
    )
    def delivered():
        items = [client.get(f"/sms/{service}/outgoing/{i}") for i in ids]
        return items if all(o["ptt"] == 4 and o["deliveryReceipt"] == 1 for o in items) else None

    items = wait_until(delivered, what="delivery")
    for item in items:
        assert item["tag"] == "story"
        assert item["numberOfSms"] == 1 and item["credits"] == 1.0
        assert item["sentAt"] is not None and item["deliveredAt"] is not None
        assert item["message"] == "Your parcel arrives today"
    assert client.get(f"/sms/{service}")["creditsLeft"] == before - 3


def test_openapi_document_and_docs_are_served(server):
    import httpx

    spec = httpx.get(f"{server.endpoint}/openapi.json").json()
    paths = spec["paths"]
    for path in ("/1.0/sms/{serviceName}/jobs", "/1.0/sms/{serviceName}/outgoing", "/1.0/sms/estimate", "/1.0/auth/time"):
        assert path in paths, path
    assert "post" in paths["/1.0/sms/{serviceName}/jobs"]
    docs = httpx.get(f"{server.endpoint}/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
