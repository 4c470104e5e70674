"""Test helpers: real servers on loopback ports, polling, the SMSC simulator on its own thread.

Imported by name (``from helpers import start_server``); fixtures stay in conftest.py.
"""
from __future__ import annotations

import asyncio
import ctypes
import itertools
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import ovh
from typer.testing import CliRunner

from textos.cli.main import app as cli_app
from textos.config import load_settings
from textos.services import admin, credentials
from textos.storage.db import Database
from textos.simulator.smsc import SmscSimulator

PG_ADMIN_URL = os.environ.get("TEXTOS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [b.strip() for b in os.environ.get("TEXTOS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_PORTS = itertools.cycle(range(20000 + 500 * _WORKER, 20500 + 500 * _WORKER))


def free_port() -> int:
    """A loopback port nothing listens on, for a server to bind a moment later. Each pytest-xdist
    worker takes its own, below the ephemeral range (32768–60999 on Linux): no other worker, and no
    socket bound to port 0 meanwhile, can take it before that server does."""
    for _ in range(500):
        port = next(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port left in the range of xdist worker {_WORKER}")


def stored_bytes(database_url: str) -> bytes:
    """Everything the database holds, raw: a SQLite file with its ``-wal`` and ``-shm``, or every
    row of every PostgreSQL table (as JSON text)."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        return b"".join(Path(path + suffix).read_bytes() for suffix in ("", "-wal", "-shm") if Path(path + suffix).exists())
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        rows = [r[0] for t in tables for r in conn.execute(f'SELECT row_to_json(t)::text FROM "{t}" t')]
    return "\n".join(rows).encode()


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


@dataclass
class Server:
    """A real ``textos serve`` process on a loopback port."""

    backend: str
    database_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    runner: CliRunner = field(default_factory=CliRunner)
    ca: Path | None = None
    """The certificate clients trust when the server speaks HTTPS (``textos serve --tls-cert``)."""
    _database: Database | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}/1.0"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What ``httpx`` verifies this server's certificate with."""
        return ssl.create_default_context(cafile=self.ca) if self.ca else True

    def cli(self, *args: str) -> dict[str, Any]:
        """Run a ``textos`` admin command against this server's database; returns its JSON."""
        result = self.runner.invoke(cli_app, [*args, "--database-url", self.database_url, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, f"textos {' '.join(args)} failed: {result.output}"
        return json.loads(result.stdout.strip().splitlines()[-1])

    def cli_fails(self, *args: str) -> str:
        result = self.runner.invoke(cli_app, [*args, "--database-url", self.database_url, "--json"])
        assert result.exit_code != 0, f"textos {' '.join(args)} should have failed: {result.output}"
        return result.output

    def client(self, app_key: str, app_secret: str, consumer_key: str | None, timeout: float = 180) -> ovh.Client:
        """An ``ovh`` client of this server; ``timeout``: seconds each request may take (the client's 180 by default)."""
        ovh.client.ENDPOINTS[f"textos-{self.port}"] = self.endpoint
        client = ovh.Client(
            endpoint=f"textos-{self.port}",
            application_key=app_key,
            application_secret=app_secret,
            consumer_key=consumer_key,
            timeout=timeout,
        )
        if self.ca:  # requests would take REQUESTS_CA_BUNDLE from the environment over the session's CA
            client._session.verify, client._session.trust_env = str(self.ca), False
        return client

    def database(self) -> Database:
        """This server's database, opened in the test's process as a ``textos`` command opens it
        (closed by ``stop_server``)."""
        if self._database is None:
            self._database = Database.of(load_settings(database_url=self.database_url))
        return self._database

    def tenant(self, credits: float = 100, rules: list[str] | None = None) -> "Tenant":
        """A new customer with one SMS account, an application and a consumer key, written in one
        transaction through the services the ``customer``, ``account``, ``app`` and ``credential
        create`` commands call (those commands have tests of their own; a tenant made by four of
        them took a second of every test's set-up on a loaded machine)."""
        nic = f"tt{secrets.randbelow(10**5):05d}-{secrets.token_hex(3)}"
        with self.database().session() as s:
            admin.create_customer(s, nic, "secret-password")
            service = admin.create_account(s, nic, credits).service_name
            application = admin.create_application(s, f"app of {nic}", nic=nic)
            app_key, app_secret = application.app_key, application.app_secret
            ck = credentials.create_credential(s, app_key, nic, rules or ["GET /*", "POST /*", "PUT /*", "DELETE /*"]).consumer_key
        client = self.client(app_key, app_secret, ck)
        return Tenant(self, nic, service, app_key, app_secret, ck, client)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Tenant:
    server: Server
    nic: str
    service: str
    app_key: str
    app_secret: str
    consumer_key: str
    client: ovh.Client

    def credits(self) -> float:
        return self.client.get(f"/sms/{self.service}")["creditsLeft"]

    def wait_final(self, ids: list[int], timeout: float = 20.0) -> list[dict[str, Any]]:
        """Poll until every outgoing id has a final state (delivered or failed)."""

        def done() -> list[dict[str, Any]] | None:
            found = []
            for i in ids:
                try:
                    o = self.client.get(f"/sms/{self.service}/outgoing/{i}")
                except ovh.exceptions.ResourceNotFoundError:
                    return None
                if o["deliveryReceipt"] not in (1, 2, 16):
                    return None
                found.append(o)
            return found

        return wait_until(done, timeout=timeout, interval=0.1, what=f"final state of {ids}")


LISTENING = "Uvicorn running on"
"""What uvicorn logs once it has bound its port."""
PORT_TAKEN = ("error while attempting to bind", "[Errno 98]")
"""What uvicorn logs when another process took the port first (one process; ``--workers``)."""


def start_server(database_url: str, tmp: Path, backend: str, extra_env: dict[str, str] | None = None, args: list[str] | None = None,
                 tls: tuple[Path, Path] | None = None) -> Server:
    """A ``textos serve`` on a free port; with ``tls`` (certificate, key), over HTTPS.

    The port is free a moment before the server binds it; another test session on this machine
    may bind it meanwhile, and would then answer in its stead. The server counts as started only
    once its own log says it listens; if it found the port taken, it is started again on another."""
    if tls:
        args = [*(args or []), "--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    env = {
        **os.environ,
        "TEXTOS_DATABASE_URL": database_url,
        "TEXTOS_SIMULATOR_RECEIPT_DELAY": "0.05",
        "TEXTOS_DISPATCHER_INTERVAL": "0.02",
        "TEXTOS_SIMULATOR_OUTCOMES": "+336990=UNDELIV,+336991=REJECT,+336992=EXPIRED,+336993=STOP",
        "TEXTOS_CONFIG": str(tmp / "absent.toml"),
        "TEXTOS_FETCH_ALLOW_PRIVATE": "1",
        **(extra_env or {}),
    }
    for _ in range(3):
        server = _launch(database_url, tmp, backend, env, args or [], tls)
        if server is not None:
            return server
    raise AssertionError("three ports in a row were taken by other processes before the server could bind them")


def die_with_parent() -> None:
    """``preexec_fn`` of every process a test starts: killed when the test process that started it
    dies (a run stopped by a time-out or Ctrl-C must not leave servers spinning behind it)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _launch(database_url: str, tmp: Path, backend: str, env: dict[str, str], args: list[str],
            tls: tuple[Path, Path] | None) -> Server | None:
    """The server started on a free port, or None when another process took that port first."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "textos.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
            preexec_fn=die_with_parent,
        )
    server = Server(backend, database_url, port, process, log_path, ca=tls[0] if tls else None)

    def up() -> str | None:
        written = server.log()
        if any(sign in written for sign in PORT_TAKEN):
            return "taken"
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{written}")
        if LISTENING not in written:
            return None
        try:
            answered = httpx.get(f"{server.endpoint}/auth/time", timeout=1, verify=server.verify).status_code == 200
        except httpx.HTTPError:
            return None
        return "up" if answered else None

    try:
        started = wait_until(up, timeout=30, what="server start")
    except BaseException:
        stop_process(process)  # a server that did not start in time is not left running
        raise
    if started == "taken":
        stop_process(process)
        return None
    return server


def stop_process(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Ctrl-C a process we started, then kill it if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_server(server: Server) -> None:
    stop_process(server.process)
    if server._database is not None:
        server._database.dispose()
        server._database = None


class ThreadedSmsc:
    """The SMSC simulator on its own event loop thread, inspected safely from the test."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = SmscSimulator("127.0.0.1", 0, None, **options)
        self.call(self.sim.start)

    def call(self, coro_fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(timeout=30)

    def snapshot(self) -> tuple[int, list[str]]:
        async def read() -> tuple[int, list[str]]:
            return self.sim.submits, [r.destination_addr for r in self.sim.records]

        return self.call(read)

    def close(self) -> None:
        self.call(self.sim.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
