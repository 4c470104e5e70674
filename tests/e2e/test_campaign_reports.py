"""Campaign reports end to end, on the shared server: a campaign sent through the simulator with
scripted outcomes (delivered, undeliverable, rejected at submit, expired in the network, a handset
answering STOP, then refused as blacklisted, a deferred message cancelled, a reply) is reported by
``GET /sms/{s}/reports/tags/{tag}`` exactly as the outgoing list shows it, message by message;
by batch and by period too; ``textos report --json`` prints the same object; deleting history
changes nothing."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter

import ovh
import pytest

from helpers import Server, Tenant, wait_until


def _number(prefix: str = "+3361") -> str:
    """A unique number: mainland mobiles ``+3361…`` are delivered; the simulator scripts ``+33699x``."""
    return f"{prefix}{secrets.randbelow(10 ** (12 - len(prefix))):0{12 - len(prefix)}d}"


def _reply_to_last(server: Server, handset: str, text: str) -> None:
    from textos.cli.main import app as cli_app

    result = server.runner.invoke(cli_app, ["mo", "--sender", handset, "--text", text, "--reply-to-last",
                                            "--url", f"http://127.0.0.1:{server.port}"])
    assert result.exit_code == 0, result.output


def _outgoing(tenant: Tenant, **filters: object) -> list[dict]:
    c, svc = tenant.client, tenant.service
    return [c.get(f"/sms/{svc}/outgoing/{i}") for i in c.get(f"/sms/{svc}/outgoing", **filters)]


def test_the_report_endpoint_agrees_with_the_outgoing_list_on_the_same_data(server, tenant):
    c, svc, tag = tenant.client, tenant.service, f"spring-{secrets.token_hex(3)}"
    delivered = [_number() for _ in range(3)]
    undeliverable, rejected, expired, stopping = _number("+336990"), _number("+336991"), _number("+336992"), _number("+336993")
    sent = c.post(f"/sms/{svc}/jobs", message="Soldes -50% ce week-end", tag=tag,
                  receivers=[*delivered, undeliverable, rejected, expired, stopping])
    tenant.wait_final(sent["ids"])
    wait_until(lambda: stopping in c.get(f"/sms/{svc}/blacklists"), timeout=20, what="the STOP")
    refused = c.post(f"/sms/{svc}/jobs", message="Encore des soldes", tag=tag, receivers=[stopping])  # blacklisted now
    deferred = c.post(f"/sms/{svc}/jobs", message="Plus tard", tag=tag, receivers=[_number()], differedPeriod=60)
    c.delete(f"/sms/{svc}/jobs/{deferred['ids'][0]}")  # cancelled: refunded, never in the outgoing list
    handset = _number()
    asked = c.post(f"/sms/{svc}/jobs", message="Vous venez jeudi ?", tag=tag, receivers=[handset], senderForResponse=True,
                   noStopClause=True)
    tenant.wait_final(asked["ids"])
    _reply_to_last(server, handset, "Oui")
    wait_until(lambda: c.get(f"/sms/{svc}/incoming", tag=tag), what="the reply")

    report = c.get(f"/sms/{svc}/reports/tags/{tag}")
    outgoing = _outgoing(tenant, tag=tag)
    assert refused["ids"][0] in [o["id"] for o in outgoing]
    by_dlr = Counter(o["deliveryReceipt"] for o in outgoing)
    assert report["messages"] == len(outgoing) + 1  # and the cancelled one
    assert report["states"] == {
        "delivered": by_dlr[1], "failed": by_dlr[2], "no_receipt": 0, "expired": 0,
        "rejected": sum(1 for o in outgoing if (o["ptt"], o["deliveryReceipt"]) == (20, 16)),
        "cancelled": 1, "blacklisted": sum(1 for o in outgoing if (o["ptt"], o["deliveryReceipt"]) == (23, 16)), "pending": 0,
    } == {"delivered": 5, "failed": 2, "no_receipt": 0, "expired": 0, "rejected": 1, "cancelled": 1, "blacklisted": 1, "pending": 0}
    errors = [o for o in outgoing if o["deliveryReceipt"] == 2 or (o["deliveryReceipt"], o["ptt"]) == (16, 20)]
    assert report["errorsByPtt"] == {str(p): n for p, n in sorted(Counter(o["ptt"] for o in errors).items())} == {"20": 1, "5": 1, "8": 1}
    assert (report["deliveryRate"], report["errorRate"]) == (0.5, 0.3)
    assert report["credits"] == sum(o["credits"] for o in outgoing) == 7.0  # the cancelled one was refunded
    assert (report["stops"], report["stopRate"], report["replies"], report["replyRate"]) == (1, 0.2, 1, 0.2)
    assert [d["stops"] for d in report["stopsByDay"]] == [1]
    assert sum(bar["messages"] for bar in report["deliveryTime"]["histogram"]) == 5 and report["deliveryTime"]["p50"] < 5
    assert (report["serviceName"], report["tag"], report["batchId"], report["from"], report["to"]) == (svc, tag, None, None, None)

    # the same messages, by period (whole hours around them) and tag; `textos report` prints the same object
    now = dt.datetime.now(dt.timezone.utc)
    period = c.get(f"/sms/{svc}/reports", tag=tag, **{"from": (now - dt.timedelta(hours=2)).isoformat(), "to": (now + dt.timedelta(hours=2)).isoformat()})
    assert dt.datetime.fromisoformat(period["from"]).minute == 0 and dt.datetime.fromisoformat(period["to"]) > now
    assert {k: v for k, v in period.items() if k not in ("from", "to")} == {k: v for k, v in report.items() if k not in ("from", "to")}
    assert server.cli("report", "--service", svc, "--tag", tag) == report

    # deleting history does not change the report
    c.delete(f"/sms/{svc}/outgoing/{sent['ids'][0]}")
    assert c.get(f"/sms/{svc}/reports/tags/{tag}") == report

    with pytest.raises(ovh.exceptions.BadParametersError, match="from"):
        c.get(f"/sms/{svc}/reports", **{"from": "yesterday"})
    with pytest.raises(ovh.exceptions.BadParametersError, match="to"):
        c.get(f"/sms/{svc}/reports", **{"from": now.isoformat(), "to": (now - dt.timedelta(hours=3)).isoformat()})


def test_a_batch_is_reported_and_an_unknown_one_is_not_found(server, tenant):
    c, svc = tenant.client, tenant.service
    receivers = [_number(), _number(), _number("+336990")]
    batch = c.post(f"/sms/{svc}/batches", message="Nouvelle collection", to=receivers, tag="collection", noStop=True)
    wait_until(lambda: c.get(f"/sms/{svc}/batches/{batch['id']}")["status"] == "COMPLETED", timeout=30, what="the batch sent")
    report = c.get(f"/sms/{svc}/reports/batches/{batch['id']}")
    assert (report["batchId"], report["messages"], report["states"]["delivered"], report["states"]["failed"]) == (batch["id"], 3, 2, 1)
    assert report["errorsByPtt"] == {"5": 1} and report["credits"] == 3.0
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"/sms/{svc}/reports/batches/{secrets.token_hex(8)}")
    other = server.tenant()
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):  # another customer's batch: not found either
        other.client.get(f"/sms/{other.service}/reports/batches/{batch['id']}")


def test_reports_are_signed_calls_under_the_keys_access_rules(server):
    limited = server.tenant(rules=["GET /sms/*/outgoing"])
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        limited.client.get(f"/sms/{limited.service}/reports/tags/x")
    granted = server.tenant(rules=["GET /sms/*/reports*"])
    assert granted.client.get(f"/sms/{granted.service}/reports/tags/none")["messages"] == 0
