"""Delivery-status callbacks end to end: a real ``textos serve`` calls a real HTTP receiver on
loopback (``callback_sink``) with OVH's query parameters, retries until a 2xx, in order per
message, bounded per host, and loses nothing to a kill -9; the API lists and replays events."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from typing import Callable, Iterator

import pytest

from callback_sink import CallbackSink, SinkRequest
from helpers import BACKENDS, Server, start_server, stop_process, stop_server, wait_until, die_with_parent

FAST_RETRIES = {
    "TEXTOS_CALLBACK_BACKOFF": "0.2",
    "TEXTOS_CALLBACK_BACKOFF_MAX": "0.4",
    "TEXTOS_CALLBACK_MAX_AGE": "4",
}
"""Retries within a second, events failed after 4 s: the settings this module's own servers run with."""


@pytest.fixture
def sink() -> Iterator[CallbackSink]:
    with CallbackSink() as s:
        yield s


def send(tenant, receivers: list[str]) -> list[int]:
    return tenant.client.post(f"/sms/{tenant.service}/jobs", message="callbacks", noStopClause=True, receivers=receivers)["ids"]


def set_callback(tenant, url: str) -> None:
    tenant.client.put(f"/sms/{tenant.service}", callBack=url)


def by_message(requests: list[SinkRequest]) -> dict[int, list[SinkRequest]]:
    out: dict[int, list[SinkRequest]] = defaultdict(list)
    for r in requests:
        out[int(r.query["id"])].append(r)
    return out


# On the shared server (production settings)


def test_delivery_callbacks_carry_ovh_parameters_for_sent_and_final_states(server: Server, sink: CallbackSink):
    tenant = server.tenant()
    set_callback(tenant, sink.url("/dlr?token=mine"))
    delivered, undelivered = send(tenant, ["+33612345678", "+33699000001"])  # +336990…: the simulator answers UNDELIV
    requests = by_message(sink.wait_for(4, path="/dlr"))
    assert set(requests) == {delivered, undelivered}
    for mid, final in ((delivered, ("4", "1", "Success")), (undelivered, ("5", "2", "Failed"))):
        sent, last = requests[mid]
        assert (sent.query["ptt"], sent.query["description"], sent.query["descriptionDlr"]) == ("3", "4", "Pending")
        assert (last.query["ptt"], last.query["description"], last.query["descriptionDlr"]) == final
        for r in (sent, last):
            assert r.method == "GET" and r.query["token"] == "mine" and r.query["dlr"] == r.query["description"]
            assert r.query["date"].endswith("+00:00") and "tag" not in r.query
    outgoing = tenant.client.get(f"/sms/{tenant.service}/outgoing/{delivered}")
    assert (outgoing["ptt"], outgoing["deliveryReceipt"]) == (4, 1)


def test_events_are_listed_shown_and_replayed_through_the_api(server: Server, sink: CallbackSink):
    tenant = server.tenant()
    set_callback(tenant, sink.url("/dlr"))
    [mid] = send(tenant, ["+33612345678"])
    sink.wait_for(2, path="/dlr")
    base = f"/sms/{tenant.service}/callbacks"
    ids = wait_until(lambda: len(tenant.client.get(base, status="delivered")) == 2 and tenant.client.get(base, status="delivered"),
                     what="both events delivered")
    assert tenant.client.get(base, status="pending") == [] and tenant.client.get(base) == ids
    with pytest.raises(Exception, match="status"):
        tenant.client.get(base, status="lost")
    newest = tenant.client.get(f"{base}/{ids[0]}")
    assert newest["kind"] == "delivery" and newest["status"] == "delivered" and newest["orderKey"] == f"message:{mid}"
    assert newest["params"]["ptt"] == "4" and newest["attempts"] == 1 and newest["lastHttpStatus"] == 200
    replayed = tenant.client.post(f"{base}/{ids[0]}/replay")
    assert replayed["status"] == "pending" and replayed["replayDatetime"]
    again = sink.wait_for(3, path="/dlr")[2]
    assert (again.query["id"], again.query["ptt"]) == (str(mid), "4")
    other = server.tenant()
    with pytest.raises(Exception, match="does not exist|not found|404"):
        other.client.get(f"/sms/{other.service}/callbacks/{ids[0]}")


# Servers of this module: fast retries


@pytest.fixture(scope="module", params=BACKENDS)
def fast(request, make_database, tmp_path_factory) -> Iterator[Server]:
    srv = start_server(make_database(request.param), tmp_path_factory.mktemp("cb"), request.param, extra_env=FAST_RETRIES)
    yield srv
    stop_server(srv)


def failing_first(times: int) -> tuple[Callable[[SinkRequest], int], list[SinkRequest]]:
    """An answer: 500 to each event's first ``times`` attempts, then 200; also the requests answered 200."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    ok: list[SinkRequest] = []
    lock = threading.Lock()

    def answer(request: SinkRequest) -> int:
        with lock:
            key = (request.query["id"], request.query["ptt"])
            seen[key] += 1
            if seen[key] <= times:
                return 500
            ok.append(request)
            return 200

    return answer, ok


def test_a_receiver_failing_for_a_while_gets_every_event_once_and_in_order(fast: Server, sink: CallbackSink):
    tenant = fast.tenant()
    sink.answer, ok = failing_first(2)
    set_callback(tenant, sink.url("/dlr"))
    ids = send(tenant, [f"+3361234560{i}" for i in range(5)])
    wait_until(lambda: len(ok) >= 10, timeout=30, what="every event answered 200")
    time.sleep(1.0)  # room for a (wrong) extra send
    assert len(ok) == 10
    answered = by_message(ok)
    assert {mid: [r.query["ptt"] for r in rs] for mid, rs in answered.items()} == {mid: ["3", "4"] for mid in ids}
    for mid, requests in by_message(sink.received("/dlr")).items():
        ptts = [r.query["ptt"] for r in requests]
        assert ptts == ["3", "3", "3", "4", "4", "4"], f"message {mid}: the delivered state was told before sent was answered: {ptts}"


def test_an_event_failing_past_its_max_age_is_failed_and_replay_sends_it_again(fast: Server, sink: CallbackSink):
    tenant = fast.tenant()
    sink.answer = lambda request: 503
    set_callback(tenant, sink.url("/dead"))
    send(tenant, ["+33612345678"])
    base = f"/sms/{tenant.service}/callbacks"
    failed = wait_until(lambda: len(tenant.client.get(base, status="failed")) == 2 and tenant.client.get(base, status="failed"),
                        timeout=30, what="both events failed")
    event = tenant.client.get(f"{base}/{failed[-1]}")
    assert event["attempts"] >= 3 and event["lastHttpStatus"] == 503 and event["lastError"] == "HTTP 503"
    assert event["nextAttemptDatetime"] is None
    listed = fast.cli("callbacks", "list", "--status", "failed", "--service", tenant.service)
    assert sorted(e["id"] for e in listed) == sorted(failed)
    before = len(sink.received("/dead"))
    sink.answer = lambda request: 200
    fast.cli("callbacks", "replay", str(failed[-1]))
    wait_until(lambda: tenant.client.get(base, status="delivered") == [failed[-1]], what="the replayed event delivered")
    assert len(sink.received("/dead")) == before + 1


def test_a_slow_host_holds_its_own_slots_only(fast: Server):
    slow_tenant, fast_tenant = fast.tenant(), fast.tenant()
    in_flight, most = [0], [0]
    lock, release = threading.Lock(), threading.Event()

    def slow_answer(request: SinkRequest) -> int:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        release.wait(20)
        with lock:
            in_flight[0] -= 1
        return 200

    with CallbackSink() as slow, CallbackSink() as quick:
        slow.answer = slow_answer
        set_callback(slow_tenant, f"http://localhost:{slow.port}/slow")  # another host than 127.0.0.1
        set_callback(fast_tenant, quick.url("/quick"))
        send(slow_tenant, [f"+336123456{i:02d}" for i in range(12)])
        wait_until(lambda: most[0] >= 8, timeout=20, what="8 requests in flight to the slow host")
        send(fast_tenant, ["+33612345678"])
        quick.wait_for(2, path="/quick", timeout=10)
        assert most[0] == 8 and len(slow.received()) == 8, "at most callback_concurrency requests in flight per host"
        release.set()
        slow.wait_for(24, path="/slow", timeout=30)
        assert most[0] == 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_with_events_pending_loses_none(backend, make_database, tmp_path, sink: CallbackSink):
    database_url = make_database(backend)
    env = {**FAST_RETRIES, "TEXTOS_CALLBACK_MAX_AGE": "600"}
    server = start_server(database_url, tmp_path, backend, extra_env=env)
    try:
        tenant = server.tenant()
        sink.answer, ok = failing_first(10**6)  # down until told otherwise
        set_callback(tenant, sink.url("/dlr"))
        ids = send(tenant, [f"+3361234560{i}" for i in range(4)])
        tenant.wait_final(ids)
        wait_until(lambda: {int(r.query["id"]) for r in sink.received()} == set(ids), what="every message's first event tried")
        # (each one's delivered event waits behind its sent event, answered 500: pending, never tried)
        server.process.kill()
        server.process.wait(timeout=10)
        assert ok == []

        def accept(request: SinkRequest) -> int:
            ok.append(request)
            return 200

        sink.answer = accept
        server = start_server(database_url, tmp_path, backend, extra_env=env)
        wait_until(lambda: len(ok) >= 8, timeout=60, what="every event delivered after the restart")
        time.sleep(0.5)
        assert sorted((int(r.query["id"]), r.query["ptt"]) for r in ok) == sorted((m, p) for m in ids for p in ("3", "4"))
    finally:
        stop_server(server)


def test_postgresql_textos_callbacks_workers_share_the_outbox(make_database, tmp_path, sink: CallbackSink):
    """``textos callbacks`` beside ``textos serve``: every event sent once, in order per message."""
    if "postgresql" not in BACKENDS:
        pytest.skip("textos callbacks runs beside other processes on PostgreSQL only")
    database_url = make_database("postgresql")
    server = start_server(database_url, tmp_path, "postgresql")
    env = {**os.environ, "TEXTOS_DATABASE_URL": database_url, "TEXTOS_FETCH_ALLOW_PRIVATE": "1",
           "TEXTOS_CONFIG": str(tmp_path / "absent.toml")}
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "textos.cli.main", "callbacks"], stdout=log, stderr=subprocess.STDOUT,
                                  env=env, cwd=tmp_path, preexec_fn=die_with_parent)
    try:
        wait_until(lambda: "callbacks worker is running" in (tmp_path / "worker.log").read_text(), what="the worker's start")
        tenant = server.tenant()
        set_callback(tenant, sink.url("/dlr"))
        ids = send(tenant, [f"+336123456{i:02d}" for i in range(30)])
        wait_until(lambda: len(sink.received("/dlr")) >= 60, timeout=30, what="every event")
        time.sleep(0.5)
        requests = by_message(sink.received("/dlr"))
        assert {mid: [r.query["ptt"] for r in rs] for mid, rs in requests.items()} == {mid: ["3", "4"] for mid in ids}
    finally:
        stop_process(worker)
        stop_server(server)


def test_a_stop_calls_stop_callback_and_a_blacklisted_message_is_told_to_callback(server: Server, sink: CallbackSink):
    tenant = server.tenant()
    number = f"+336993{int(time.time() * 1000) % 10**5:05d}"  # the simulator's handset answers STOP from +336993…
    tenant.client.put(f"/sms/{tenant.service}", callBack=sink.url("/dlr"), stopCallBack=sink.url("/stop"))
    first = tenant.client.post(f"/sms/{tenant.service}/jobs", receivers=[number], message="Soldes", tag="winter")["ids"][0]
    (stop,) = sink.wait_for(1, path="/stop")
    assert stop.query["number"] == number and stop.query["smsOutgoingID"] == str(first)
    refused = tenant.client.post(f"/sms/{tenant.service}/jobs", receivers=[number], message="Encore", tag="winter")["ids"][0]
    told = wait_until(lambda: [r for r in sink.received("/dlr") if r.query["id"] == str(refused)], what="the blacklisted message told")
    assert [(r.query["ptt"], r.query["description"], r.query["descriptionDlr"]) for r in told] == [("23", "16", "Error, not billed")]
