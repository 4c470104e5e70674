"""Database faults under a running server: it answers 503 in OVH's shape meanwhile, and recovers by itself.

* PostgreSQL stopped and started again mid-campaign: while it is away every call is answered 503
  ``Server::ServiceUnavailable`` (never a 500, never a hang); once it is back the same server process
  serves again (no restart), every job answered 200 is there and ends delivered, its callbacks come,
  credits are exact and the ledger verifies.
* SQLite on a full disk (a small tmpfs): the same clear 503, no corruption (``PRAGMA integrity_check``);
  once there is room again (the tmpfs grown) it accepts jobs by itself and delivers what it had accepted.

PostgreSQL here is a throwaway cluster of this module's own (``private_postgres``), never the shared
one the other tests use. Both tests need what a CI runner has: PostgreSQL 15's binaries, and root for
``mount -t tmpfs``; each is skipped, saying why, where that is missing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import ovh
import psycopg
import pytest
import requests

from callback_sink import CallbackSink
from helpers import Server, free_port, start_server, stop_server, wait_until

PG_BIN = Path(os.environ.get("TEXTOS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))

QUICK_CALLBACKS = {"TEXTOS_CALLBACK_BACKOFF": "0.2", "TEXTOS_CALLBACK_BACKOFF_MAX": "0.5", "TEXTOS_CALLBACK_CONCURRENCY": "64"}
"""Callbacks that failed are tried again within a second, many at once (the test's receiver is quick)."""


# ----------------------------------------------------------------- a PostgreSQL cluster of our own


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port, run as the ``postgres``
    user when we are root (``initdb`` refuses root); fsync off: nothing here must survive the machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"

    def _run(self, *command: str) -> None:
        as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_owner, *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{' '.join(command)} failed: {done.stdout}{done.stderr}"

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, their connections cut (what a restart does)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL's initdb is not at {PG_BIN} (TEXTOS_TEST_PG_BIN): no private cluster to restart")
    root = Path(tempfile.mkdtemp(prefix="textos-pg-"))  # not pytest's tmp_path: the postgres user must reach it
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = PrivatePostgres(root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------- on-the-fly traffic, every answer kept


@dataclass
class Answer:
    status: int
    body: Any
    sent_at: float
    took: float


@dataclass
class Campaign:
    """A thread sending one-receiver jobs back to back (``+3361…``, a new receiver each) until stopped."""

    client: ovh.Client
    service: str
    message: str = "database faults"
    answers: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="campaign", daemon=True)

    def _run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            i += 1
            started = time.monotonic()
            try:
                answer = self.client.raw_call("POST", f"/sms/{self.service}/jobs",
                                              {"message": self.message, "receivers": [f"+3361{i:07d}"], "noStopClause": True})
                status, body = answer.status_code, answer.json()
            except requests.RequestException as exc:  # no answer at all (a connection closed, a time-out)
                status, body = 0, {"error": repr(exc)}
            self.answers.append(Answer(status, body, started, time.monotonic() - started))
            if status != 200:
                time.sleep(0.02)  # a client that waits a little before trying again

    def __enter__(self) -> "Campaign":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)

    def count(self, status: int, since: float = 0.0) -> int:
        return sum(1 for a in list(self.answers) if a.status == status and a.sent_at >= since)

    def summary(self) -> dict[tuple[int, str], int]:
        """How many answers of each status and error class (what a failed wait shows)."""
        seen: dict[tuple[int, str], int] = {}
        for a in list(self.answers):
            key = (a.status, a.body.get("class", "") if isinstance(a.body, dict) else "")
            seen[key] = seen.get(key, 0) + 1
        return seen

    def accepted(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 200]

    def wait(self, status: int, count: int, since: float, what: str) -> None:
        """Wait until ``count`` answers of ``status`` came to calls sent after ``since`` (a failure shows them all)."""
        try:
            wait_until(lambda: self.count(status, since) >= count, timeout=20, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; answers so far: {self.summary()}") from None


def assert_unavailable_in_ovh_shape(answers: list[Answer]) -> None:
    """Every answer is a 200 or a 503 in OVH's shape, none took long."""
    assert {a.status for a in answers} <= {200, 503}, sorted({(a.status, str(a.body)[:120]) for a in answers if a.status not in (200, 503)})
    for a in answers:
        if a.status == 503:
            assert set(a.body) == {"class", "message"} and a.body["class"] == "Server::ServiceUnavailable", a.body
    assert max(a.took for a in answers) < 10, "no call hangs while the database is away"


def no_unexpected_errors(server: Server) -> None:
    log = server.log()
    assert "unexpected error" not in log, "a database fault reached the API as a 500"
    assert "Exception in ASGI application" not in log, "a database fault was raised to uvicorn (which closes the connection)"
    assert server.process.poll() is None, "the server process is still up"


MAX_OUTAGE_LOG_LINES = 60
"""Lines the whole server may log during a few seconds of outage: each loop says it in a line every
few seconds (``storage.outages``), not a traceback per attempt (thousands of lines a second before)."""


def log_lines(server: Server) -> int:
    return server.log().count("\n")


# ----------------------------------------------------------------- PostgreSQL restarted mid-campaign

OUTAGE = 2.0
"""Seconds PostgreSQL stays down: longer than a restart (and than most of the dispatcher's retries to store a result)."""
SLOW_RECEIPTS = {"TEXTOS_SIMULATOR_RECEIPT_DELAY": "0.5"}
"""Receipts come half a second after the submit: at the stop, messages are waiting for theirs (sent)."""


def test_postgresql_restarted_mid_campaign_answers_503_meanwhile_and_loses_nothing(private_postgres, tmp_path):
    database_url = private_postgres.create_database("faults")
    credits = 5000
    with CallbackSink() as sink:
        server = start_server(database_url, tmp_path, "postgresql", extra_env={**QUICK_CALLBACKS, **SLOW_RECEIPTS})
        try:
            tenant = server.tenant(credits=credits)
            tenant.client.put(f"/sms/{tenant.service}", callBack=sink.url("/dlr"))
            client = server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key, timeout=15)
            with Campaign(client, tenant.service) as campaign:
                campaign.wait(200, 30, 0.0, "jobs accepted before the restart")
                bulk = tenant.client.post(f"/sms/{tenant.service}/jobs", message="a campaign", noStopClause=True,
                                          receivers=[f"+33619{i:06d}" for i in range(300)])
                lines_before = log_lines(server)
                unsettled = _unsettled(database_url)
                private_postgres.stop()
                stopped = time.monotonic()
                campaign.wait(503, 20, stopped, "503s while PostgreSQL is down")
                read = client.raw_call("GET", f"/sms/{tenant.service}")
                assert read.status_code == 503 and read.json()["class"] == "Server::ServiceUnavailable", read.text
                assert read.headers["Retry-After"] == "1"
                wait_until(lambda: time.monotonic() - stopped >= OUTAGE, timeout=OUTAGE + 1, what="the outage's length")
                outage_lines = log_lines(server) - lines_before
                private_postgres.start()
                started = time.monotonic()
                campaign.wait(200, 30, started, "jobs accepted again, without a server restart")
                recovered_after = min(a.sent_at for a in campaign.accepted() if a.sent_at >= started) - started

            answers = campaign.answers
            assert unsettled.get("queued", 0) + unsettled.get("submitting", 0) > 0 and unsettled.get("sent", 0) > 0, \
                f"PostgreSQL must stop mid-campaign, with messages queued, in flight and awaiting their receipts: {unsettled}"
            assert_unavailable_in_ovh_shape(answers)
            accepted = [a.body for a in campaign.accepted()] + [bulk]
            ids = sorted(i for report in accepted for i in report["ids"])
            wait_until(lambda: _statuses(database_url, ids) == {"delivered": len(ids)}, timeout=60, interval=0.2,
                       what="every acknowledged message delivered")
            # a job answered 503 was not written, and none answered 200 was lost (a commit cut in its very middle,
            # committed but not answered, would show here: never seen)
            assert _job_count(database_url) == len(accepted)
            charged = sum(report["totalCreditsRemoved"] for report in accepted)
            assert tenant.credits() == pytest.approx(credits - charged)
            assert server.cli("ledger", "--service", tenant.service)["consistent"] is True
            wait_until(lambda: set(ids) <= {int(r.query["id"]) for r in sink.received("/dlr") if r.query.get("ptt") == "4"},
                       timeout=60, what="a delivered callback for every acknowledged message")
            no_unexpected_errors(server)
            assert outage_lines <= MAX_OUTAGE_LOG_LINES, f"{outage_lines} log lines in {started - stopped:.1f} s of outage"
            print(f"\nPostgreSQL restart: {len(answers)} calls, {len(accepted)} jobs accepted ({len(ids)} messages), "
                  f"{sum(a.status == 503 for a in answers)} answered 503 in {started - stopped:.1f} s down, first 200 {recovered_after:.2f} s "
                  f"after the start, {outage_lines} log lines meanwhile, slowest 503 {max(a.took for a in answers if a.status == 503):.3f} s")
        finally:
            stop_server(server)


def _statuses(database_url: str, ids: list[int]) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM messages WHERE id = ANY(%s) GROUP BY status", (ids,)).fetchall()
    return {status: n for status, n in rows}


def _unsettled(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM messages WHERE status IN ('queued', 'submitting', 'sent') GROUP BY status").fetchall()
    return {status: n for status, n in rows}


def _job_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


# ----------------------------------------------------------------- SQLite on a full disk


@dataclass
class SmallDisk:
    """A small tmpfs mounted at ``path``: a disk that fills up, and can be given room again."""

    path: Path

    def resize(self, size: str) -> None:
        """Grow (or shrink) it to ``size``, as ``mount`` writes sizes (``64m``), keeping what it holds."""
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True, capture_output=True, timeout=30)

    def free(self) -> int:
        return shutil.disk_usage(self.path).free


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk to fill) needs root")
    path = tmp_path / "disk"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(path)], capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def test_sqlite_on_a_full_disk_answers_503_stays_sound_and_recovers_when_space_returns(small_disk, databases, tmp_path):
    template = databases.migrated("sqlite").split(":///", 1)[1]  # migrated elsewhere: the small disk holds only what is written now
    for suffix in ("", "-wal", ".key"):
        if os.path.exists(template + suffix):
            shutil.copy(template + suffix, small_disk.path / f"textos.db{suffix}")
    database = small_disk.path / "textos.db"
    credits = 100_000
    server = start_server(f"sqlite:///{database}", tmp_path, "sqlite")
    try:
        tenant = server.tenant(credits=credits)
        client = server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key, timeout=15)
        message = "a campaign that fills the disk " * 5

        def send(first: int, count: int) -> requests.Response:
            return client.raw_call("POST", f"/sms/{tenant.service}/jobs", {
                "message": message, "noStopClause": True, "receivers": [f"+3361{first + i:07d}" for i in range(count)]})

        accepted, refused, sent = [], [], 0
        while not refused and sent < 2000:
            answer = send(sent, 100)
            sent += 100
            (accepted if answer.status_code == 200 else refused).append(answer)
        assert refused, f"the disk never filled ({small_disk.free()} bytes free)"
        for _ in range(5):  # still full: still refused the same way, whatever the dispatcher does meanwhile
            refused.append(send(sent, 100))
            sent += 100
        statuses = {answer.status_code for answer in refused}
        assert statuses <= {200, 503}, [a.text for a in refused if a.status_code not in (200, 503)]
        bodies = [a.json() for a in refused if a.status_code == 503]
        assert bodies and all(b["class"] == "Server::ServiceUnavailable" for b in bodies), bodies
        assert client.get(f"/sms/{tenant.service}")["creditsLeft"] > 0, "reading needs no room: still served"
        accepted += [a for a in refused if a.status_code == 200]

        small_disk.resize("64m")
        grown = time.monotonic()
        again = wait_until(lambda: (a := send(900_000, 1)).status_code == 200 and a, timeout=15, interval=0.2,
                           what="a job accepted once there is room again, without a server restart")
        recovered_after = time.monotonic() - grown
        reports = [a.json() for a in [*accepted, again]]
        ids = sorted(i for report in reports for i in report["ids"])
        wait_until(lambda: _sqlite_statuses(database, ids) == {"delivered": len(ids)}, timeout=30, interval=0.2,
                   what="every acknowledged message delivered")
        no_unexpected_errors(server)
    finally:
        stop_server(server)
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == len(reports)
    ledger = server.cli("ledger", "--service", tenant.service)
    assert ledger["consistent"] is True
    assert ledger["creditsLeft"] == pytest.approx(credits - sum(report["totalCreditsRemoved"] for report in reports))
    print(f"\nSQLite full disk: {len(accepted)} jobs accepted before it was full, {len(bodies)} of the next {len(refused)} "
          f"answered 503, a job accepted {recovered_after:.2f} s after it grew, {len(ids)} messages delivered")


def _sqlite_statuses(database: Path, ids: list[int]) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(f"SELECT status, count(*) FROM messages WHERE id IN ({','.join(map(str, ids))}) GROUP BY status").fetchall()
    return {status: n for status, n in rows}
