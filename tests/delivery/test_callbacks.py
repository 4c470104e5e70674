"""The callbacks worker (``delivery.callbacks``): backoff with jitter, the max age, one attempt's
outcome (2xx only), and the SSRF guard at connection time."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import httpx
import pytest

from callback_sink import CallbackSink
from helpers import wait_until
from outbound_attacks import ATTACKS, Attack, rebinding, trust_only
from textos.config import Settings
from textos.delivery.callbacks import CallbackWorker, backoff, next_try
from textos.storage.models import utcnow
from textos.storage.outbox import Claimed


def test_backoff_doubles_from_the_first_wait_up_to_the_longest():
    waits = [backoff(n, first=5, longest=900, draw=lambda: 0.0) for n in range(1, 10)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 900]


def test_jitter_takes_off_at_most_a_quarter():
    assert backoff(3, first=5, longest=900, draw=lambda: 1.0) == 15
    assert backoff(20, first=5, longest=900, draw=lambda: 0.5) == 900 * 0.875


def event(deadline: dt.datetime, attempts: int = 1) -> Claimed:
    return Claimed(1, "http://x.example/", "x.example", {}, "k", attempts, deadline)


def test_retries_stop_at_the_max_age_and_the_last_one_is_at_the_deadline():
    settings = Settings(callback_backoff=5, callback_backoff_max=900)
    now = utcnow()
    assert next_try(event(now - dt.timedelta(seconds=1)), now, settings) is None
    assert next_try(event(now + dt.timedelta(seconds=2)), now, settings) == now + dt.timedelta(seconds=2)
    later = next_try(event(now + dt.timedelta(hours=1)), now, settings)
    assert now + dt.timedelta(seconds=3.74) < later <= now + dt.timedelta(seconds=5)


def attempt(url: str, params: dict[str, str], **settings: object) -> tuple[int | None, str | None]:
    async def run() -> tuple[int | None, str | None]:
        worker = CallbackWorker(None, Settings(**settings))  # type: ignore[arg-type]
        worker._client = httpx.AsyncClient(trust_env=False)
        try:
            return await worker.attempt(url, params)
        finally:
            await worker._client.aclose()

    return asyncio.run(run())


def test_a_2xx_delivers_and_the_parameters_join_the_urls_own_query():
    with CallbackSink() as sink:
        assert attempt(sink.url("/dlr?token=t&ptt=old"), {"id": "7", "ptt": "4"}, fetch_allow_private=True) == (200, None)
        [request] = sink.received()
    assert request.method == "GET" and request.path == "/dlr" and request.query == {"token": "t", "ptt": "4", "id": "7"}


@pytest.mark.parametrize("status", [500, 302, 404])
def test_any_other_answer_is_a_failed_attempt(status):
    with CallbackSink() as sink:
        sink.answer = lambda request: status
        assert attempt(sink.url("/x"), {}, fetch_allow_private=True) == (status, f"HTTP {status}")


def test_a_private_address_is_refused_at_connection_time_unless_allowed():
    with CallbackSink() as sink:
        status, error = attempt(sink.url("/x"), {"id": "1"})
        assert status is None and "127.0.0.1 is loopback" in error
        assert sink.received() == []


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.form)
def test_every_attack_form_is_refused_at_connection_time(attack: Attack, loopback):
    status, error = attempt(attack.at(loopback[0].port), {"id": "1"})
    assert status is None and error is not None and re.search(attack.refusal, error), error
    assert loopback[0].received() == [] and loopback[1].received() == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_attempt_and_never_followed(status: int, monkeypatch):
    trust_only(monkeypatch, "127.0.0.2", "127.0.0.3")  # even to an address the guard accepts
    with CallbackSink("127.0.0.2") as receiver, CallbackSink("127.0.0.3") as elsewhere:
        receiver.answer, receiver.location = (lambda request: status), elsewhere.url("/dlr")
        assert attempt(receiver.url("/dlr"), {"id": "1"}) == (status, f"HTTP {status}")
        assert len(receiver.received()) == 1 and elsewhere.received() == []


def test_each_attempt_connects_to_the_address_it_checked_and_a_rebound_name_is_refused(monkeypatch):
    """The request reaches the address the guard checked, with the name in ``Host``; when the name
    turns to 127.0.0.1 the next attempt is refused before connecting."""
    with rebinding(monkeypatch) as scene:
        assert attempt(scene.url("/dlr"), {"id": "1"}) == (200, None)
        assert scene.dns.calls == ["localhost"]  # resolved once, by the guard
        [request] = scene.checked.received()
        assert request.host == f"localhost:{scene.checked.port}" and request.query == {"id": "1"}
        status, error = attempt(scene.url("/dlr"), {"id": "2"})
        assert status is None and error == "host 'localhost' does not resolve to public addresses only, refused"
        assert scene.loopback.received() == [] and len(scene.checked.received()) == 1


def test_an_unreachable_receiver_is_a_failed_attempt():
    with CallbackSink() as sink:
        url = sink.url("/x")
    status, error = attempt(url, {}, fetch_allow_private=True)
    assert status is None and "ConnectError" in error


def test_postgresql_a_gone_workers_leases_are_due_again_at_the_next_sweep(db):
    if db.is_sqlite:
        pytest.skip("SQLite has one worker, which makes every pending event due at its start")
    from lifecycle_helpers import new_account
    from textos.delivery.ownership import CALLBACKS_LOCK_SPACE, Instance
    from textos.storage import outbox

    account = new_account(db)
    with db.session() as s:
        outbox.enqueue(s, account_id=account.id, kind="stop", url="http://a.example/", params={}, order_key="k")
    gone = Instance(db, CALLBACKS_LOCK_SPACE)
    with db.session() as s:
        [leased] = outbox.claim(s, capacity={}, default_capacity=8, limit=10, lease=30, max_age=60, claimed_by=gone.number)
    survivor = CallbackWorker(db, Settings())
    survivor.instance = Instance(db, CALLBACKS_LOCK_SPACE)
    survivor.number = survivor.instance.number
    try:
        survivor._sweep()  # its owner still runs: the lease stands
        with db.read() as s:
            assert not outbox.due_exists(s)
        gone.close()  # killed: its lock is free once the server has seen its connection go (not at once)

        def swept_due() -> bool:
            survivor._sweep()
            with db.read() as s:
                return outbox.due_exists(s)

        wait_until(swept_due, timeout=10, what="the gone worker's lease due again at a sweep")
        with db.read() as s:
            assert s.get_one(outbox.CallbackEvent, leased.id).claimed_by is None
    finally:
        survivor.instance.close()
