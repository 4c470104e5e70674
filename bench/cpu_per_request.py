"""CPU per request of the on-the-fly path, in process: figures that hold on a loaded machine.

Throughput measured against a server (``bench/api.py``) swings with whatever else runs on the
machine; the CPU a piece of code spends per request swings far less. This measures, with
``time.thread_time`` (the calling thread only), the minimum over 5 blocks of:

* ``front``: a signed one-receiver ``POST /1.0/sms/{s}/jobs`` through the app's front
  (``api.app.TextosAPI``: query id and timing, body limit, ``api.onthefly``), authentication
  included, with the accept writer stubbed (its answer canned); and ``GET /1.0/auth/time``.
  No socket, no HTTP parsing: the ASGI app is called directly.
* ``accept``: the accept writer's transaction (``AcceptWriter._write``) for groups of
  ``--group`` one-receiver jobs, on a fresh database (SQLite file, or a new PostgreSQL
  database that is dropped after).

* with ``--pause MS``: the same groups written ``MS`` ms apart, as lone requests arrive. On a
  VM the same code costs more CPU after idling (its caches went cold meanwhile): the figure
  that sets a lone request's latency.

    PYTHONPATH=$PWD .venv/bin/python bench/cpu_per_request.py [--backend sqlite|postgresql] [--group 8 --group 32] [--pause 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import drop_db, machine_line, make_db  # noqa: E402

from textos.api.app import create_app  # noqa: E402
from textos.api.state import AppState  # noqa: E402
from textos.config import Settings  # noqa: E402
from textos.domain.signing import sign  # noqa: E402
from textos.services import admin, credentials  # noqa: E402
from textos.services.accept_writer import AcceptWriter, _Job  # noqa: E402
from textos.services.jobs import SendingReport, SendRequest  # noqa: E402
from textos.services.prices import PriceBook  # noqa: E402
from textos.storage.db import Database  # noqa: E402

BLOCKS = 5


def least(measure: Callable[[], float]) -> float:
    """The least of ``BLOCKS`` measurements (µs): the one least disturbed by the rest of the machine."""
    return min(measure() for _ in range(BLOCKS))


def settle() -> None:
    """As ``textos serve`` does before serving (``server._settle_gc``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def tenant(db: Database) -> "Tenant":
    """A customer with an account of 10M credits and an all-rights key: (customer id, service, app key, secret, consumer key)."""
    with db.session() as s:
        customer, _ = admin.create_customer(s, "bn00001-bench", "pw")
        account = admin.create_account(s, "bn00001-bench", 10_000_000)
        app = admin.create_application(s, "bench", nic="bn00001-bench")
        key = credentials.create_credential(s, app.app_key, "bn00001-bench", ["GET /*", "POST /*"])
        return customer.id, account.service_name, app.app_key, app.app_secret, key.consumer_key


Tenant = tuple[int, str, str, str, str]


def front(db: Database, settings: Settings, keys: Tenant, requests: int = 2000) -> dict[str, float]:
    _, service, app_key, secret, consumer_key = keys
    state = AppState(settings=settings, db=db, prices=PriceBook.from_settings(settings))
    app = create_app(state)

    async def canned(customer_id: int, service_name: str, req: SendRequest, *, actor: str, **_: object) -> SendingReport:
        return SendingReport(ids=[1], valid_receivers=["+33612345678"], invalid_receivers=[], total_credits_removed=1.0, tag="")

    state.accept_writer.accept = canned  # type: ignore[method-assign]
    body = b'{"message":"Your code is 123456","receivers":["+33612345678"],"noStopClause":true}'
    path = f"/1.0/sms/{service}/jobs"
    now = str(int(time.time()))
    signature = sign(secret, consumer_key, "POST", f"http://127.0.0.1:8080{path}", body.decode(), now)
    base: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "query_string": b"",
                            "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080)}
    post = {**base, "method": "POST", "path": path, "raw_path": path.encode(), "headers": [
        (b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"x-ovh-application", app_key.encode()), (b"x-ovh-consumer", consumer_key.encode()), (b"x-ovh-timestamp", now.encode()),
        (b"x-ovh-signature", signature.encode())]}
    clock = {**base, "method": "GET", "path": "/1.0/auth/time", "raw_path": b"/1.0/auth/time", "headers": [(b"host", b"127.0.0.1:8080")]}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def block(scope: dict[str, Any]) -> float:
        started = time.thread_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        return (time.thread_time() - started) / requests * 1e6

    async def run() -> dict[str, float]:
        await block(post)
        figures = {}
        for name, scope in (("post_jobs_us", post), ("auth_time_us", clock)):
            figures[name] = min([await block(scope) for _ in range(BLOCKS)])
        assert set(statuses) == {200}, set(statuses)
        return figures

    settle()
    return asyncio.run(run())


def accept(db: Database, settings: Settings, keys: Tenant, group: int, jobs: int = 800, pause: float = 0.0) -> tuple[float, float]:
    """CPU per job (µs, the least of the blocks) and the median wall time of a group's transaction (ms)."""
    customer_id, service, *_ = keys
    writer = AcceptWriter(db, settings)
    numbers = itertools.count()
    walls: list[float] = []

    def one_group() -> None:
        started = time.perf_counter()
        outcomes = writer._write([
            _Job(customer_id, service, SendRequest(message="Your code is 123456", receivers=[f"+3361{next(numbers):07d}"]), "bench", None)  # type: ignore[arg-type]
            for _ in range(group)
        ]).outcomes
        walls.append(time.perf_counter() - started)
        assert not any(isinstance(o, Exception) for o in outcomes), outcomes[:1]

    def block() -> float:
        rounds = max(1, jobs // group)
        started = time.thread_time()  # this thread's CPU: the pauses' sleep is not counted
        for _ in range(rounds):
            if pause:
                time.sleep(pause)
            one_group()
        return (time.thread_time() - started) / (rounds * group) * 1e6

    settle()
    for _ in range(5):
        one_group()
    walls.clear()
    figure = least(block)
    writer.close()
    return figure, statistics.median(walls) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--group", type=int, action="append", help="jobs per accept group (repeatable; default 8 and 32)")
    parser.add_argument("--pause", type=float, action="append", default=[],
                        help="also measure groups written this many ms apart, as lone requests arrive (repeatable; e.g. 5)")
    args = parser.parse_args()
    print(machine_line())
    tmp = Path(tempfile.mkdtemp(prefix="textos-bench-cpu-"))
    url, pg_name = make_db(args.backend, tmp)
    try:
        settings = Settings(database_url=url)
        db = Database(url)
        db.migrate()
        keys = tenant(db)
        if args.backend == "sqlite":
            figures = front(db, settings, keys)
            print(f"front, signed one-receiver POST /jobs (accept writer stubbed): {figures['post_jobs_us']:.1f} us CPU per request")
            print(f"front, GET /auth/time: {figures['auth_time_us']:.1f} us CPU per request")
        for group in args.group or [8, 32]:
            cpu, wall = accept(db, settings, keys, group)
            print(f"accept writer, {args.backend}, groups of {group} one-receiver jobs: {cpu:.0f} us CPU per job, {wall:.2f} ms wall per group (median)")
            for pause in args.pause:
                cpu, wall = accept(db, settings, keys, group, jobs=200, pause=pause / 1000)
                print(f"accept writer, {args.backend}, groups of {group} one-receiver jobs {pause:g} ms apart: "
                      f"{cpu:.0f} us CPU per job, {wall:.2f} ms wall per group (median)")
        db.dispose()
    finally:
        drop_db(pg_name)


if __name__ == "__main__":
    main()
