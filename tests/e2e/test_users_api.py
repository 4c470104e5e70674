"""Users of an SMS account and their quotas, with the official ``ovh`` client against a real
server (SQLite and PostgreSQL): the lifecycle, a user's jobs paid from its quota and listed only
under it, 100 concurrent sends against a quota of 50, the threshold alert once per crossing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import ovh
import pytest


def _error(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    with pytest.raises(ovh.exceptions.APIError) as caught:
        call(*args, **kwargs)
    return caught.value.response.status_code, caught.value.response.json()


def test_a_users_lifecycle(server):
    tenant = server.tenant(credits=200)
    c, s = tenant.client, tenant.service
    assert c.get(f"/sms/{s}/users") == []
    status, body = _error(c.post, f"/sms/{s}/users", login="alice", password="short")
    assert status == 400 and body["message"].startswith("password:") and "short" not in body["message"]
    status, body = _error(c.post, f"/sms/{s}/users", login="alice", password="abcd-123")
    assert status == 400 and body["message"].startswith("password:")
    status, body = _error(c.post, f"/sms/{s}/users", login="al ice", password="Abcd1234")
    assert status == 400 and body["message"].startswith("login:")
    assert c.post(f"/sms/{s}/users", login="alice", password="Abcd1234") is None
    assert _error(c.post, f"/sms/{s}/users", login="alice", password="Abcd1234")[0] == 409
    c.post(f"/sms/{s}/users", login="bob", password="Bob12345")
    assert c.get(f"/sms/{s}/users") == ["alice", "bob"]

    user = c.get(f"/sms/{s}/users/alice")
    assert "password" not in user and "Abcd1234" not in str(user)
    assert user == {
        "login": "alice", "callBack": None, "stopCallBack": None, "ipRestrictions": [],
        "quotaInformations": {"quotaStatus": "inactive", "quotaLeft": 0},
        "alertThresholdInformations": {"alertEmail": "", "alertNumber": "", "alertThreshold": 0, "support": "mail"},
    }  # fmt: skip

    c.put(f"/sms/{s}/users/alice", callBack="http://127.0.0.1:9/dlr", ipRestrictions=["192.0.2.7", "198.51.100.0/24"],
          quotaInformations={"quotaStatus": "active", "quotaLeft": 150},
          alertThresholdInformations={"alertThreshold": 10, "support": "both", "alertEmail": "ops@example.com", "alertNumber": "0612345678"})  # fmt: skip
    user = c.get(f"/sms/{s}/users/alice")
    assert user["callBack"] == "http://127.0.0.1:9/dlr" and user["ipRestrictions"] == ["192.0.2.7/32", "198.51.100.0/24"]
    assert user["quotaInformations"] == {"quotaStatus": "active", "quotaLeft": 150}
    assert user["alertThresholdInformations"] == {"alertEmail": "ops@example.com", "alertNumber": "+33612345678", "alertThreshold": 10, "support": "both"}
    account = c.get(f"/sms/{s}")
    assert (account["creditsLeft"], account["creditsHoldByQuota"]) == (50, 150)  # OVH: 200 credits, give 150, the account keeps 50

    status, body = _error(c.put, f"/sms/{s}/users/alice", quotaInformations={"quotaLeft": 300})
    assert status == 403 and "quotaLeft" in body["message"]
    status, body = _error(c.put, f"/sms/{s}/users/alice", ipRestrictions=["not-an-ip"])
    assert status == 400 and body["message"].startswith("ipRestrictions:")
    status, body = _error(c.put, f"/sms/{s}/users/alice", password="bad")
    assert status == 400 and body["message"].startswith("password:")
    c.put(f"/sms/{s}/users/alice", quotaInformations={"quotaLeft": 40}, callBack="")
    assert c.get(f"/sms/{s}")["creditsLeft"] == 160 and c.get(f"/sms/{s}/users/alice")["callBack"] is None

    c.delete(f"/sms/{s}/users/alice")  # its quota goes back to the account
    assert _error(c.get, f"/sms/{s}/users/alice")[0] == 404
    assert c.get(f"/sms/{s}/users") == ["bob"]
    account = c.get(f"/sms/{s}")
    assert (account["creditsLeft"], account["creditsHoldByQuota"]) == (200, 0)
    other = server.tenant(credits=0)  # another customer sees nothing of it
    assert _error(other.client.get, f"/sms/{s}/users/bob")[0] == 404


def test_a_users_jobs_are_paid_from_its_quota_and_listed_only_under_it(server):
    tenant = server.tenant(credits=100)
    c, s = tenant.client, tenant.service
    for login in ("alice", "bob"):
        c.post(f"/sms/{s}/users", login=login, password="Abcd1234")
    c.put(f"/sms/{s}/users/alice", quotaInformations={"quotaStatus": "active", "quotaLeft": 10})
    report = c.post(f"/sms/{s}/users/alice/jobs", message="hello", receivers=["+33612345678", "+33612345679"],
                    noStopClause=True, differedPeriod=120)  # fmt: skip
    assert report["totalCreditsRemoved"] == 2 and len(report["ids"]) == 2
    assert c.get(f"/sms/{s}/users/alice")["quotaInformations"]["quotaLeft"] == 8
    assert c.get(f"/sms/{s}")["creditsLeft"] == 90  # the account's free credits did not move
    assert sorted(c.get(f"/sms/{s}/users/alice/jobs")) == sorted(report["ids"])
    assert c.get(f"/sms/{s}/users/bob/jobs") == []
    job = c.get(f"/sms/{s}/users/alice/jobs/{report['ids'][0]}")
    assert job["id"] == report["ids"][0] and job["message"].startswith("hello")
    assert _error(c.get, f"/sms/{s}/users/bob/jobs/{report['ids'][0]}")[0] == 404
    assert _error(c.delete, f"/sms/{s}/users/bob/jobs/{report['ids'][0]}")[0] == 404
    c.delete(f"/sms/{s}/users/alice/jobs/{report['ids'][0]}")  # refunded to the quota it was paid from
    assert c.get(f"/sms/{s}/users/alice/jobs") == [report["ids"][1]]
    assert c.get(f"/sms/{s}/users/alice")["quotaInformations"]["quotaLeft"] == 9
    status, body = _error(c.post, f"/sms/{s}/users/alice/jobs", message="hi", receivers=[f"+336123456{i:02d}" for i in range(10)], noStopClause=True)
    assert status == 403 and body["class"] == "Client::Forbidden::NotEnoughCredits" and "quotaLeft" in body["message"]
    bob = c.post(f"/sms/{s}/users/bob/jobs", message="hi", receivers=["+33612345670"], noStopClause=True, differedPeriod=120)
    assert c.get(f"/sms/{s}")["creditsLeft"] == 89  # bob has no quota: the account pays
    assert c.get(f"/sms/{s}/users/bob/jobs") == bob["ids"]
    assert _error(c.get, f"/sms/{s}/users/nobody/jobs")[0] == 404


def test_100_concurrent_sends_against_a_quota_of_50_accept_exactly_50(server):
    tenant = server.tenant(credits=80)
    c, s = tenant.client, tenant.service
    c.post(f"/sms/{s}/users", login="racer", password="Race1234")
    c.put(f"/sms/{s}/users/racer", quotaInformations={"quotaStatus": "active", "quotaLeft": 50})
    clients = [server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key) for _ in range(16)]

    def send(k: int) -> str:
        try:
            clients[k % len(clients)].post(f"/sms/{s}/users/racer/jobs", message="hi", receivers=[f"+33612{k:06d}"], noStopClause=True)
            return "ok"
        except ovh.exceptions.APIError as exc:
            assert exc.response.json()["class"] == "Client::Forbidden::NotEnoughCredits", exc.response.text
            return "refused"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(send, range(100)))
    assert outcomes.count("ok") == 50 and outcomes.count("refused") == 50
    assert c.get(f"/sms/{s}/users/racer")["quotaInformations"]["quotaLeft"] == 0
    account = c.get(f"/sms/{s}")
    assert (account["creditsLeft"], account["creditsHoldByQuota"]) == (30, 0)
    entries = c.get(f"/sms/{s}/ledger", limit=1000)
    assert sum(1 for e in entries if e["kind"] == "job_debit") == 50


def test_the_sms_alert_is_sent_once_per_crossing_and_charged(server):
    tenant = server.tenant(credits=50)
    c, s = tenant.client, tenant.service
    c.post(f"/sms/{s}/users", login="alerted", password="Alert123")
    c.put(f"/sms/{s}/users/alerted", quotaInformations={"quotaStatus": "active", "quotaLeft": 5},
          alertThresholdInformations={"alertThreshold": 3, "support": "sms", "alertNumber": "+33600000042"})  # fmt: skip

    def alerts() -> list[dict]:
        return [e for e in c.get(f"/sms/{s}/ledger", limit=1000) if e["kind"] == "job_debit" and e["actor"] == "quota-alert:alerted"]

    for k in range(4):  # 5 → 4 → 3 → 2 (crossed) → 1
        c.post(f"/sms/{s}/users/alerted/jobs", message="hi", receivers=[f"+3361234560{k}"], noStopClause=True)
    assert len(alerts()) == 1 and alerts()[0]["credits"] == -1
    assert c.get(f"/sms/{s}")["creditsLeft"] == 44  # 45 free after the quota, 1 for the alert
    c.put(f"/sms/{s}/users/alerted", quotaInformations={"quotaLeft": 4})  # at or above the threshold again: re-armed
    c.post(f"/sms/{s}/users/alerted/jobs", message="hi", receivers=["+33612345610"], noStopClause=True)
    assert len(alerts()) == 1
    c.post(f"/sms/{s}/users/alerted/jobs", message="hi", receivers=["+33612345611"], noStopClause=True)
    assert len(alerts()) == 2
