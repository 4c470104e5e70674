"""What the benchmarks share: databases, tenants made through the CLI, server and SMSC
processes on loopback, a file server for receiver documents, CPU and memory accounting and
percentiles.

Imported by the scripts of ``bench/`` as ``common`` (they put their own folder first on
``sys.path`` when run as ``python bench/NAME.py``).
"""

from __future__ import annotations

import http.server
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx
import ovh
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import textos
from textos.storage.db import normalize_url

TEXTOS_ROOT = str(Path(textos.__file__).resolve().parent.parent)
"""The Textos this benchmark imported (``PYTHONPATH=<worktree>`` for an A/B): the processes it starts run that one."""


def same_textos(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (by default this process's) made to import the Textos this benchmark did, whatever the
    working directory: ``python -m`` puts the working directory first on the path (``PYTHONSAFEPATH``
    stops that), so a server started from a checkout would otherwise run the checkout's code."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TEXTOS_ROOT, env.get("PYTHONPATH", "")) if p)
    env["PYTHONSAFEPATH"] = "1"
    return env

PG_ADMIN = os.environ.get("TEXTOS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""Where benchmark databases are made (each run its own, ``textos_bench_…``, dropped after): the server's
maintenance database, never the test suite's ``test`` (a bench connected there would stop the suite dropping it)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(db: str, *args: str) -> dict:
    """Run ``textos ARGS --database-url DB --json`` in this process (a new process costs seconds of
    imports); returns the JSON it printed last."""
    from typer.testing import CliRunner

    from textos.cli.main import app

    result = CliRunner().invoke(app, [*args, "--database-url", db, "--json"], catch_exceptions=False)
    if result.exit_code:
        raise SystemExit(f"textos {' '.join(args)} failed ({result.exit_code}): {result.output}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_db(backend: str, tmp: Path) -> tuple[str, str | None]:
    """A fresh database: a SQLite file in ``tmp`` or a new PostgreSQL database (its name, to drop)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    name = f"textos_bench_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), name


def drop_db(pg_name: str | None) -> None:
    if pg_name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@dataclass(frozen=True)
class BenchTenant:
    """A customer with one SMS account, an application and a consumer key allowed everything."""

    nic: str
    service: str
    app_key: str
    app_secret: str
    consumer_key: str

    def client(self, endpoint: str, timeout: float = 600) -> ovh.Client:
        """An ``ovh`` client signing as this tenant against ``endpoint`` (``http://127.0.0.1:PORT/1.0``)."""
        ovh.client.ENDPOINTS[endpoint] = endpoint
        return ovh.Client(endpoint=endpoint, application_key=self.app_key, application_secret=self.app_secret,
                          consumer_key=self.consumer_key, timeout=timeout)


def make_tenant(db: str, credits: int, nic: str = "bn00001-bench", methods: tuple[str, ...] = ("GET", "POST")) -> BenchTenant:
    """A customer ``nic``, an account with ``credits``, an application and a key allowed ``methods`` on every path."""
    cli(db, "customer", "create", "--nic", nic)
    service = cli(db, "account", "create", "--nic", nic, "--credits", str(credits))["serviceName"]
    app = cli(db, "app", "create", "--name", "bench")
    rules = [arg for method in methods for arg in ("--rule", f"{method} /*")]
    ck = cli(db, "credential", "create", "--app", app["applicationKey"], "--nic", nic, *rules)["consumerKey"]
    return BenchTenant(nic, service, app["applicationKey"], app["applicationSecret"], ck)


def wait(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def api_up(endpoint: str) -> bool:
    try:
        return httpx.get(f"{endpoint}/auth/time", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def server_env(db: str, tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "TEXTOS_DATABASE_URL": db, "TEXTOS_CONFIG": str(tmp / "none.toml"), **extra}


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``textos ARGS`` as a separate process, its output in ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "textos.cli.main", *args], stdout=out, stderr=subprocess.STDOUT, env=same_textos(env))


def start_serve(db: str, tmp: Path, port: int, *args: str, env: dict[str, str] | None = None,
                log: str = "serve.log") -> subprocess.Popen[bytes]:
    """``textos serve`` on 127.0.0.1:``port``, returned once ``/auth/time`` answers; its output in ``tmp / log``."""
    proc = spawn(["serve", "--host", "127.0.0.1", "--port", str(port), *args], tmp / log, env or server_env(db, tmp))
    wait(lambda: proc.poll() is not None or api_up(f"http://127.0.0.1:{port}/1.0"), 60, "server", 0.05)
    if proc.poll() is not None:
        raise SystemExit(f"textos serve exited:\n{(tmp / log).read_text(errors='replace')[-3000:]}")
    return proc


@dataclass
class Smsc:
    """``textos smsc`` as a separate process, with its HTTP hook (counters, the last submits)."""

    proc: subprocess.Popen[bytes]
    port: int
    hook: str
    """``http://127.0.0.1:PORT/_simulator``."""
    log: Path

    def wait_up(self) -> None:
        """Return once the HTTP hook answers (the SMPP port listens before it)."""

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise SystemExit(f"textos smsc exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                return httpx.get(f"{self.hook}/stats", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait(answers, 30, "the SMSC's HTTP hook", 0.05)

    def url(self, window: int = 64) -> str:
        """What ``textos serve --smsc`` is given to reach it."""
        return f"smpp://bench:bench@127.0.0.1:{self.port}?window={window}"

    def submits(self) -> int:
        """submit_sm accepted so far."""
        return int(httpx.get(f"{self.hook}/stats", timeout=10).json()["submits"])

    def last_submits(self, limit: int) -> list[dict]:
        """The last ``limit`` submits it kept (``--record-last``), oldest first: ``destination`` (no ``+``), ``receivedAt``."""
        return httpx.get(f"{self.hook}/submits", params={"limit": limit}, timeout=120).json()["submits"]


def start_smsc(tmp: Path, record_last: int, receipt_delay: float = 0.01, log: str = "smsc.log", wait_up: bool = True) -> Smsc:
    """``textos smsc`` on loopback, returned once its HTTP hook answers (or at once, without
    ``wait_up``: call ``Smsc.wait_up()`` before using it)."""
    port, hook_port = free_port(), free_port()
    proc = spawn(["smsc", "--port", str(port), "--http-port", str(hook_port), "--receipt-delay", str(receipt_delay),
                  "--record-last", str(record_last)], tmp / log)
    smsc = Smsc(proc, port, f"http://127.0.0.1:{hook_port}/_simulator", tmp / log)
    if wait_up:
        smsc.wait_up()
    return smsc


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve_dir(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    """An HTTP server on loopback (a thread) serving the files of ``directory``: receiver documents.
    Returns it (``shutdown()`` it) and its port."""
    handler = lambda *a, **k: _Files(*a, directory=str(directory), **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Ctrl-C the processes we started, last first; kill those that do not stop in 20 s."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def message_counts(db: str) -> Callable[[], tuple[int, int, int]]:
    """A function returning (messages, submitted, final) as the database has them now."""
    engine = create_engine(normalize_url(db))

    def counts() -> tuple[int, int, int]:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT COUNT(*), SUM(CASE WHEN status IN ('sent','delivered','failed') THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN status IN ('delivered','failed') THEN 1 ELSE 0 END) FROM messages"
            )).one()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    return counts


def cpu_seconds(pid: int) -> float:
    """utime + stime so far of a process and its live descendants (``--workers``), less
    sensitive to other load than wall time."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, f in stats.items() if int(f[1]) in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now (``VmRSS``) or at its peak (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def machine_line() -> str:
    return f"# {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M %Z')}, load {os.getloadavg()[0]:.1f}"
