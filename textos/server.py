"""Assembling a running Textos: database, carriers, embedded simulator, dispatcher, API.

This is a composition root: it may import every layer and hands each what it needs.
``Runtime`` owns what runs beside the API in the same event loop: the embedded SMSC
simulator (a real SMPP server on loopback, the default when no carrier is
configured), the connectors, the dispatcher and the callbacks worker. The API gets the settings, the
database, the price book and ``Runtime.wake`` (``api.state.AppState``), never the
runtime itself; the simulator's HTTP hook is mounted here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import fcntl
import functools
import gc
import importlib.util
import ipaddress
import logging
import os
import json
import shlex
import signal
import sys
import tempfile
from typing import Any, AsyncIterator, Callable

import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url

from textos.api.app import API_PREFIX, create_app
from textos.api.state import AppState
from textos.config import DEFAULT_DATABASE_URL, Settings
from textos.dashboard.app import mount as dashboard
from textos.delivery.callbacks import CallbackWorker
from textos.delivery.connector import Connector, OutboundMessage
from textos.delivery.connectors.simulator import SimulatorConnector
from textos.delivery.dispatcher import Dispatcher
from textos.delivery.routing import build_router, carrier_configs, concatenation_rule
from textos.services import batches, incoming, reports, topup
from textos.services.prices import PriceBook
from textos.simulator.http import hook_router
from textos.storage.db import Database, normalize_url
from textos.storage.messages import Room
from textos.storage.models import Customer
from textos.storage import vacuum
from textos.storage.outages import Outage
from textos.observability import logs
from textos.tls import check_pair

log = logging.getLogger("textos")

EMBEDDED_SYSTEM_ID = "textos"
VACUUM_PERIOD = 10.0
"""Seconds between two looks at PostgreSQL's dead rows (``storage.vacuum``)."""


def carrier_connectors(settings: Settings) -> dict[str, Connector]:
    """Connectors of the configured carriers (TOML ``[carriers.*]`` and ``--smsc`` URLs)."""
    from textos.delivery.connectors.smpp import SmppConnector

    return {name: SmppConnector(config, name=name) for name, config in carrier_configs(settings).items()}


class Runtime:
    """Simulator, connectors and dispatcher, started and stopped with the app."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.simulator: Any = None
        self.dispatcher: Dispatcher | None = None
        self.callbacks: CallbackWorker | None = None
        self._chores: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        """Tell the dispatcher (once started) that messages are waiting."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def room(self) -> Room | None:
        """``services.accept_writer.Handoff``: what the dispatcher (once started) takes of messages as they are accepted."""
        return self.dispatcher.room() if self.dispatcher is not None else None

    def hold(self, claimed: list[OutboundMessage]) -> None:
        """``services.accept_writer.Handoff``: messages being claimed for the dispatcher as they are accepted."""
        assert self.dispatcher is not None, "room() said the dispatcher would take them"
        self.dispatcher.hold(claimed)

    def release(self, claimed: list[OutboundMessage]) -> None:
        assert self.dispatcher is not None
        self.dispatcher.release(claimed)

    def take(self, claimed: list[OutboundMessage]) -> None:
        assert self.dispatcher is not None
        self.dispatcher.take(claimed)

    def carriers(self) -> dict[str, bool]:
        """Each carrier of the dispatcher and whether it is bound (none before it starts): ``/ready``."""
        return self.dispatcher.carriers() if self.dispatcher is not None else {}

    async def start(self) -> None:
        settings = self.settings
        connectors = carrier_connectors(settings)
        embedded = not connectors and settings.embedded_simulator
        concat_for = concatenation_rule(settings)
        if embedded:
            connectors = {"simulator": await self._embedded_simulator()}
        self.dispatcher = Dispatcher(
            self.db, build_router(settings.routes, connectors), batch=settings.dispatcher_batch, interval=settings.dispatcher_interval,
            max_inflight=settings.dispatcher_inflight, part_ttl=settings.incoming_part_ttl,
            on_incoming=lambda session, incoming_id: incoming.handle(session, incoming_id, settings, concat_for),
            receipt_timeout=settings.receipt_deadline(embedded_simulator=embedded),
        )
        await self.dispatcher.start()
        self.callbacks = CallbackWorker(self.db, settings)
        await self.callbacks.start()
        self._chores = [
            asyncio.create_task(_chore(self.db, batches.complete_finished, "completing batches"), name="textos-batches"),
            asyncio.create_task(_chore(self.db, reports.fold_counts, "folding report counts"), name="textos-reports"),
        ]
        if not self.db.is_sqlite and settings.vacuum != "off":
            vacuum_due = functools.partial(vacuum.vacuum_due, mode=settings.vacuum)
            self._chores.append(asyncio.create_task(
                _chore(self.db, vacuum_due, "vacuuming", period=VACUUM_PERIOD), name="textos-vacuum"))

    async def _embedded_simulator(self) -> Connector:
        settings = self.settings
        if settings.simulator == "inprocess":
            return SimulatorConnector(receipt_delay=settings.simulator_receipt_delay, outcomes=settings.simulator_outcomes)
        from textos.delivery.connectors.smpp import SmppConnector
        from textos.simulator.scenario import Rule, outcome_named
        from textos.simulator.smsc import SmscSimulator
        from textos.smpp.carrier_config import SmppCarrierConfig

        rules = [Rule(prefix, outcome_named(outcome)) for prefix, outcome in settings.simulator_outcomes.items()]
        self.simulator = SmscSimulator(
            "127.0.0.1", settings.simulator_port, {EMBEDDED_SYSTEM_ID: EMBEDDED_SYSTEM_ID},
            receipt_delay=settings.simulator_receipt_delay, rules=rules,
        )
        await self.simulator.start()
        log.info("embedded SMSC simulator on 127.0.0.1:%d", self.simulator.port)
        config = SmppCarrierConfig(
            host="127.0.0.1", port=self.simulator.port, system_id=EMBEDDED_SYSTEM_ID, password=EMBEDDED_SYSTEM_ID,
            window=64, enquire_link_interval=30, name="simulator",
        )
        connector = SmppConnector(config, name="simulator")
        return connector

    async def stop(self) -> None:
        for chore in self._chores:
            chore.cancel()
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.simulator is not None:
            await self.simulator.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        """Run beside the app: started with it, stopped with it."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()


async def _chore(db: Database, chore: Callable[[Database], object], what: str, *, period: float = 1.0) -> None:
    """A chore of the process that runs delivery, at start then every ``period`` seconds, never on a read:
    batches move on (``services.batches.complete_finished``), report counts are folded
    (``services.reports.fold_counts``), PostgreSQL's tables vacuumed when its autovacuum is off
    (``storage.vacuum``, every ``VACUUM_PERIOD``)."""
    outage = Outage(log, what)
    while True:
        try:
            await asyncio.to_thread(chore, db)
            outage.succeeded()
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            if not outage.failed(exc):
                log.exception("%s failed", what)
        await asyncio.sleep(period)


def build_app(settings: Settings, *, migrate: bool = True, dispatch: bool = True) -> FastAPI:
    """The API on ``settings``' database; with ``dispatch``, the dispatcher (and embedded
    simulator) run in its lifespan. The price book is built here, once, for the routes and
    the automatic top-up."""
    db = Database.of(settings)
    if migrate:
        db.migrate()
    prices = PriceBook.from_settings(settings)
    topup.install(prices)
    runtime = Runtime(settings, db) if dispatch else None
    state = AppState(settings=settings, db=db, prices=prices, concat_for=concatenation_rule(settings))
    if runtime is not None:
        state.wake = runtime.wake
        state.carriers = runtime.carriers
        state.accept_writer.handoff = runtime
    app = create_app(state, lifespan=None if runtime is None else runtime.lifespan)
    app.include_router(hook_router(lambda request: None if runtime is None else runtime.simulator))
    app.router.routes.append(dashboard(db, settings, state.password_guard))  # /dashboard: pages on the services, beside the API
    return app


def _preflight(settings: Settings, *, dispatch: bool) -> None:
    """Check carriers, routes, prices and the TLS pair (and, on SQLite, that no other dispatcher runs) before
    anything starts: a mistake is one line, not a traceback."""
    try:
        build_router(settings.routes, carrier_connectors(settings))
        PriceBook.from_settings(settings)
        check_pair(settings.tls_cert, settings.tls_key)
    except (KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"textos: configuration error: {exc}") from None
    if dispatch and settings.database_url.startswith("sqlite"):
        from textos.delivery.ownership import AnotherDispatcher, Instance

        try:
            Instance(Database.of(settings)).close()
        except AnotherDispatcher as exc:
            raise SystemExit(f"textos: {exc}") from None


def settle_gc() -> None:
    """Keep what start-up built out of the collector's way (``textos serve``, ``dispatch``, ``smsc``)."""
    # Everything built so far (modules, ORM mappers, routes, metadata) lives as long as the
    # process: keep it out of the collector's generations, and collect the young generation
    # less often (delivery allocates many short-lived objects; few of them form cycles).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _configure_logging(log_format: str = "text") -> None:
    """Textos's and uvicorn's INFO lines, as text or JSON (``observability.logs``); Alembic's only when
    something is wrong (on a fresh database it would say one line per migration, burying what matters)."""
    if log_format not in logs.FORMATS:
        raise SystemExit(f"textos: --log-format {log_format!r}: one of {', '.join(logs.FORMATS)}")
    logs.configure(log_format)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per callback, its URL's query (tokens) included


def first_steps(base_url: str, settings: Settings, *, has_customers: bool) -> str:
    """What ``textos serve`` says once it listens on ``base_url``: the endpoint, the docs, what to do next."""
    public = (settings.public_url or base_url).rstrip("/")
    lines = [
        f"Textos is listening on {base_url} (Ctrl-C to stop)",
        f"  API endpoint  {public}{API_PREFIX}",
        f"  API docs      {public}{API_PREFIX}/docs",
    ]
    quickstart = _quickstart_command(settings, f"{public}{API_PREFIX}")
    if has_customers:
        lines.append(f"Administration: textos --help; a demo consumer key: {quickstart}")
    else:
        lines.append(f"No customer yet: in another terminal, run {quickstart} for a demo account and API keys.")
    return "\n".join(lines)


def announce(text: str, settings: Settings) -> None:
    """Say ``text`` (``first_steps``) on stdout; with ``--log-format json``, as one log record (every line JSON)."""
    if settings.log_format == "json":
        log.info(text)
    else:
        print(text, flush=True)


def _quickstart_command(settings: Settings, endpoint: str) -> str:
    """``textos quickstart`` naming this server's endpoint and database (it does not see ``serve``'s flags);
    a database URL holding a password is left out rather than printed."""
    words = ["textos", "quickstart", "--endpoint", endpoint]
    if settings.database_url != DEFAULT_DATABASE_URL and make_url(normalize_url(settings.database_url)).password is None:
        words += ["--database-url", settings.database_url]
    return shlex.join(words)


def local_url(scheme: str, host: str, port: int) -> str:
    """The URL reaching a server bound to ``host``:``port`` from this machine (loopback for a wildcard address)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _has_customers(db: Database) -> bool:
    with db.read() as session:
        return session.scalar(select(Customer.id).limit(1)) is not None


class _Server(uvicorn.Server):
    """uvicorn's server, printing ``first_steps`` once it listens."""

    def __init__(self, config: uvicorn.Config, settings: Settings, db: Database) -> None:
        super().__init__(config)
        self.settings, self.db = settings, db

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1]
            url = local_url("https" if self.config.is_ssl else "http", self.config.host, port)
            has_customers = await asyncio.to_thread(_has_customers, self.db)
            announce(first_steps(url, self.settings, has_customers=has_customers), self.settings)


WORKER_SETTINGS_ENV = "TEXTOS_WORKER_SETTINGS"
"""How ``serve`` hands its settings to the ``--workers`` processes uvicorn spawns."""
_dispatch_lock: int | None = None


def _encode_worker_settings(settings: Settings, *, dispatch: bool, lock_path: str) -> str:
    return json.dumps({"settings": dataclasses.asdict(settings), "dispatch": dispatch, "lock": lock_path})


def _decode_worker_settings(encoded: str) -> tuple[Settings, bool, str]:
    data = json.loads(encoded)
    values = data["settings"]
    for f in dataclasses.fields(Settings):
        if str(f.type).startswith("tuple") and values.get(f.name) is not None:
            values[f.name] = tuple(values[f.name])
    return Settings(**values), data["dispatch"], data["lock"]


def _take_dispatch_lock(path: str) -> bool:
    """True in the one worker that gets the lock file: it holds it until it exits (the kernel
    releases it however the process ends, so a worker uvicorn starts again can take it over)."""
    global _dispatch_lock
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _dispatch_lock = fd
    return True


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's handling of ``X-Forwarded-For``/``-Proto``: believed from ``trusted_proxies`` only,
    the client being the right-most address not among them (``none``: from nobody)."""
    trusted = [p.strip() for p in settings.trusted_proxies if p.strip() and p.strip().lower() != "none"]
    for entry in trusted:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SystemExit(f"textos: trusted_proxies: {entry!r} is not an address or a network") from None
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}


def http_stack() -> dict[str, str]:
    """uvicorn's fastest loop and HTTP parser (uvloop, httptools) when installed, else asyncio and h11;
    with httptools, an answer's headers and body leave in one write (``textos.http_writes``)."""
    stack = {"loop": "asyncio", "http": "h11"}
    if importlib.util.find_spec("uvloop") is not None:
        stack["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        stack["http"] = "textos.http_writes:GatheringHttpToolsProtocol"
    return stack


def serve(settings: Settings, *, dispatch: bool = True) -> None:
    """Run the API, and (unless ``dispatch`` is false) the dispatcher and simulator, until interrupted.

    With ``settings.workers`` > 1 (PostgreSQL only), uvicorn runs that many API processes
    (``textos.server.worker_app``); delivery runs in exactly one of them (``_take_dispatch_lock``)."""
    _configure_logging(settings.log_format)
    if settings.workers > 1 and settings.database_url.startswith("sqlite"):
        raise SystemExit("textos: --workers > 1 needs PostgreSQL (SQLite has one writer); use --workers 1")
    _preflight(settings, dispatch=dispatch)
    options: dict[str, Any] = dict(host=settings.host, port=settings.port, log_level="info", access_log=False, **http_stack(), **proxy_options(settings))
    if settings.tls_cert:
        options.update(ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
    if settings.log_format == "json":
        options["log_config"] = None  # uvicorn's lines go through our JSON handler (logs.configure)
    if settings.workers > 1:
        db = Database.of(settings)
        db.migrate()
        has_customers = _has_customers(db)
        db.dispose()
        with tempfile.TemporaryDirectory(prefix="textos-workers-") as tmp:
            os.environ[WORKER_SETTINGS_ENV] = _encode_worker_settings(settings, dispatch=dispatch, lock_path=os.path.join(tmp, "dispatch.lock"))
            # prometheus_client's multiprocess mode: each worker writes its instruments here, /metrics adds them up
            metrics_dir = os.path.join(tmp, "metrics")
            os.mkdir(metrics_dir)
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
            scheme = "https" if options.get("ssl_certfile") else "http"
            announce(first_steps(local_url(scheme, settings.host, settings.port), settings, has_customers=has_customers), settings)
            uvicorn.run("textos.server:worker_app", factory=True, workers=settings.workers, **options)
        return
    app = build_app(settings, dispatch=dispatch)
    settle_gc()
    # API requests stay responsive while a campaign of a million rows is read in a worker
    # thread: the GIL changes hands every 0.5 ms instead of 5 (cuts GET tail latency, docs/BENCHMARKS.md).
    sys.setswitchinterval(0.0005)
    server = _Server(uvicorn.Config(app, **options), settings, app.state.textos.db)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run


def worker_app() -> FastAPI:
    """The app of one ``--workers`` process (uvicorn's factory): settings from the parent; the
    dispatcher (and embedded simulator) only in the process that holds the dispatch lock."""
    settings, dispatch, lock_path = _decode_worker_settings(os.environ[WORKER_SETTINGS_ENV])
    _configure_logging(settings.log_format)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        atexit.register(multiprocess.mark_process_dead, os.getpid())  # its live gauges leave the sums
    runs_delivery = dispatch and _take_dispatch_lock(lock_path)
    app = build_app(settings, migrate=False, dispatch=runs_delivery)
    if runs_delivery:
        log.info("this worker (pid %d) runs delivery", os.getpid())
    settle_gc()
    sys.setswitchinterval(0.0005)
    return app


def dispatch(settings: Settings) -> None:
    """Run the dispatcher alone (carriers, or the embedded simulator), until SIGINT/SIGTERM.

    Beside ``textos serve --no-dispatch`` or another ``textos serve``, on PostgreSQL: any
    number of dispatchers share the queue (``delivery.ownership``)."""
    _configure_logging(settings.log_format)
    _preflight(settings, dispatch=True)
    db = Database.of(settings)
    db.migrate()
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.host)  # a daemon thread: the process's own instruments
        log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    _run_until_stopped(db, Runtime(settings, db), "the dispatcher")


def callbacks(settings: Settings) -> None:
    """``textos callbacks``: the callbacks worker alone, until SIGINT/SIGTERM. PostgreSQL only: beside
    ``textos serve`` and other workers, claims skip what another is sending (``delivery.callbacks``);
    on SQLite the one worker runs with the one dispatcher, in ``textos serve`` or ``textos dispatch``."""
    if settings.database_url.startswith("sqlite"):
        raise SystemExit(
            "textos: textos callbacks runs beside other processes on PostgreSQL only; on SQLite the callbacks "
            "worker runs inside textos serve (or textos dispatch), beside the one dispatcher"
        )
    _configure_logging(settings.log_format)
    db = Database.of(settings)
    db.migrate()
    _run_until_stopped(db, CallbackWorker(db, settings), "the callbacks worker")


def _run_until_stopped(db: Database, service: Runtime | CallbackWorker, what: str) -> None:
    """Start ``service`` in an event loop, stop it on SIGINT/SIGTERM, then close ``db``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await service.start()
        settle_gc()
        log.info("%s is running", what)
        await stopping.wait()
        log.info("stopping %s", what)
        await service.stop()

    try:
        asyncio.run(main())
    finally:
        db.dispose()
