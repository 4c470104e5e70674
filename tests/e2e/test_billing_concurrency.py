"""200 concurrent transfers and sends across three accounts, through the API with the official
client (threads), on SQLite and PostgreSQL: the total of credits only changes by what was
sent, no balance is ever negative, and every account's caches agree with its ledger."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import ovh

from helpers import wait_until


def test_200_concurrent_transfers_and_sends_keep_the_books(server):
    tenant = server.tenant(credits=60)
    services = [tenant.service] + [
        server.cli("account", "create", "--nic", tenant.nic, "--credits", "60")["serviceName"] for _ in range(2)
    ]
    clients = [server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key) for _ in range(12)]
    rng = random.Random(2026)
    plan = []
    for n in range(200):
        i = rng.randrange(3)
        if n % 2:
            plan.append(("transfer", i, (i + rng.randrange(1, 3)) % 3, rng.choice([0.5, 2, 5, 12.25])))
        else:
            plan.append(("send", i, None, rng.randrange(1, 4)))

    def run(k_step):
        k, (op, i, j, amount) = k_step
        client = clients[k % len(clients)]
        try:
            if op == "transfer":
                client.post(f"/sms/{services[i]}/transferCredits", smsAccountTarget=services[j], credits=amount)
            else:
                receivers = [f"+336123{i}{k:03d}{r}" for r in range(amount)]
                client.post(f"/sms/{services[i]}/jobs", message="hi", receivers=receivers, noStopClause=True)
            return "ok"
        except ovh.exceptions.APIError as exc:
            assert exc.response.json()["class"] == "Client::Forbidden::NotEnoughCredits", exc
            return "refused"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(run, enumerate(plan)))
    assert outcomes.count("ok") >= 100

    def books():
        entries = {s: tenant.client.get(f"/sms/{s}/ledger", limit=100_000) for s in services}
        left = {s: tenant.client.get(f"/sms/{s}")["creditsLeft"] for s in services}
        return entries, left

    entries, left = books()
    all_entries = [e for es in entries.values() for e in es]
    sent = -sum(e["credits"] for e in all_entries if e["kind"] == "job_debit")
    refunded = sum(e["credits"] for e in all_entries if e["kind"] == "refund")
    transferred = [e["credits"] for e in all_entries if e["kind"] in ("transfer_in", "transfer_out")]
    assert abs(sum(transferred)) < 1e-9 and len(transferred) == 2 * sum(1 for (op, *_), o in zip(plan, outcomes) if op == "transfer" and o == "ok")
    assert abs(sum(left.values()) - (180 - sent + refunded)) < 1e-9
    assert min(e["creditsLeft"] for e in all_entries) >= 0 and min(left.values()) >= 0
    for s in services:  # newest entry's balance is the account's balance; caches agree with the sums
        assert entries[s][0]["creditsLeft"] == left[s]
    wait_until(lambda: all(server.cli("ledger", "--service", s)["consistent"] for s in services), timeout=10, what="consistent ledgers")
