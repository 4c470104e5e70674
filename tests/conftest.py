"""Shared fixtures: databases and real servers on loopback ports, on SQLite and on PostgreSQL.

Set ``TEXTOS_TEST_BACKENDS=sqlite`` (or ``postgresql``) to run one backend only;
``TEXTOS_TEST_PG_URL`` names the PostgreSQL server (default: 127.0.0.1:5432, db test).
Helpers the tests import by name are in helpers.py.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from callback_sink import CallbackSink, sinks_on_one_port
from fastapi import FastAPI
from helpers import BACKENDS, PG_ADMIN_URL, Server, Tenant, start_server, stop_server
from sqlalchemy.engine import make_url

from textos.config import Settings
from textos.server import build_app
from textos.storage import at_rest
from textos.storage.db import Database


@pytest.fixture(scope="session", autouse=True)
def key_files_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Key files of test PostgreSQL databases (``~/.config/textos/…`` by default) go to a temporary
    folder, for this process and the servers it starts (SQLite ones sit beside their database)."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    return PG_ADMIN_URL


class Databases:
    """Fresh test databases, each a URL: ``new(backend)`` is empty, ``migrated(backend)`` is at the latest revision.

    A migrated one is a copy of a template migrated once per backend and session (SQLite: the file;
    PostgreSQL: ``CREATE DATABASE … TEMPLATE``), with the template's key file beside it, so it is as
    fresh as a new one migrated, without running the migrations again. PostgreSQL databases are
    dropped on a background thread: by ``discard(url)`` as soon as a test is done with one, the rest
    at the end of the session (``close``)."""

    def __init__(self, tmp: pytest.TempPathFactory, admin_url: Callable[[], str]) -> None:
        self.tmp, self.admin_url = tmp, admin_url
        self.templates: dict[str, str] = {}
        self.created: set[str] = set()
        self.to_drop: queue.Queue[str | None] = queue.Queue()
        self.dropper: threading.Thread | None = None

    def new(self, backend: str, template: str | None = None) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp.mktemp('db') / 'textos.db'}"
        admin_url = self.admin_url()
        name = f"textos_test_{secrets.token_hex(4)}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.created.add(name)
        return admin_url.rsplit("/", 1)[0] + f"/{name}"

    def migrated(self, backend: str) -> str:
        if backend not in self.templates:
            template = Database(self.new(backend))
            template.migrate()
            template.dispose()
            self.templates[backend] = template.url
        template_url = self.templates[backend]
        if backend == "sqlite":
            url = self.new(backend)
            for suffix in ("", "-wal", ".key"):  # no connection is open on the template: these files are all of it
                if os.path.exists(_file_of(template_url) + suffix):
                    shutil.copy(_file_of(template_url) + suffix, _file_of(url) + suffix)
        else:
            url = self.new(backend, template=make_url(template_url).database)
            shutil.copy(at_rest.default_key_file(template_url), at_rest.default_key_file(url))  # type: ignore[arg-type]
        return url

    def discard(self, url: str) -> None:
        """Done with the database at ``url``: a PostgreSQL one is dropped in the background."""
        name = make_url(url).database
        if make_url(url).get_backend_name() == "sqlite" or name not in self.created:
            return
        self.created.discard(name)
        if self.dropper is None:
            self.dropper = threading.Thread(target=self._drop_queued, name="drop test databases", daemon=True)
            self.dropper.start()
        self.to_drop.put(name)

    def _drop_queued(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            while (name := self.to_drop.get()) is not None:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in list(self.created):
            self.discard(f"postgresql:///{name}")
        if self.dropper is not None:
            self.to_drop.put(None)
            self.dropper.join()


def _file_of(sqlite_url: str) -> str:
    return make_url(sqlite_url).database or ""


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, key_files_in_tmp: None) -> Iterator[Databases]:
    """The session's test databases (see ``Databases``)."""
    factory = Databases(tmp_path_factory, lambda: request.getfixturevalue("pg_server_url"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def make_database(databases: Databases) -> Callable[[str], str]:
    """A factory of fresh, empty databases: ``make_database("sqlite")`` → URL."""
    return databases.new


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, databases: Databases) -> Iterator[Database]:
    """A fresh database at the latest revision, once per backend (tests of the storage-level rules)."""
    database = Database(databases.migrated(request.param))
    yield database
    database.dispose()
    databases.discard(database.url)


@pytest.fixture(scope="session")
def shared_servers() -> Iterator[dict[str, Server]]:
    """The servers ``server`` started, by backend; stopped when the session ends."""
    started: dict[str, Server] = {}
    yield started
    for srv in started.values():
        stop_server(srv)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, shared_servers: dict[str, Server], make_database: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Server:
    """One running server per backend, shared by the end-to-end tests: started at its first use and
    kept for the session (a session-scoped parametrized fixture was stopped and started again each
    time the tests of a file went from one backend to the other)."""
    backend = request.param
    if backend not in shared_servers:
        shared_servers[backend] = start_server(make_database(backend), tmp_path_factory.mktemp(f"srv-{backend}"), backend)
    return shared_servers[backend]


@pytest.fixture
def tenant(server: Server) -> Tenant:
    return server.tenant()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, databases) -> Iterator[FastAPI]:  # type: ignore[no-untyped-def]
    """The app (API and dashboard) in process over a fresh database at the latest revision, nothing
    running beside it (no dispatcher, no simulator), once per backend."""
    if request.param not in BACKENDS:
        pytest.skip(f"{request.param} not selected")
    app = build_app(Settings(database_url=databases.migrated(request.param), simulator="inprocess"), dispatch=False)
    yield app
    app.state.auth_cache.close()
    app.state.textos.db.dispose()
    databases.discard(app.state.textos.db.url)


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[CallbackSink, CallbackSink]]:
    """Listeners on 127.0.0.1 and ::1, on one port: what a URL written to reach the server's own
    machine would reach (``tests/outbound_attacks.py``). Tests assert they heard nothing."""
    with sinks_on_one_port("127.0.0.1", "::1") as (v4, v6):
        yield v4, v6
