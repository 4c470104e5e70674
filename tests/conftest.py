"""Shared fixtures: databases and real servers on loopback ports, on SQLite and on PostgreSQL.

Set ``TEXTOS_TEST_BACKENDS=sqlite`` (or ``postgresql``) to run one backend only;
``TEXTOS_TEST_PG_URL`` names the PostgreSQL server (default: 127.0.0.1:5432, db test).
Helpers the tests import by name are in helpers.py.
"""

from __future__ import annotations

import os
import secrets
from typing import Callable, Iterator

import psycopg
import pytest
from fastapi import FastAPI

from helpers import BACKENDS, PG_ADMIN_URL, Server, Tenant, start_server, stop_server
from textos.config import Settings
from textos.server import build_app
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


@pytest.fixture(scope="session")
def make_database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """A factory of fresh, empty databases: ``make_database("sqlite")`` → URL."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'textos.db'}"
        admin_url = request.getfixturevalue("pg_server_url")
        name = f"textos_test_{secrets.token_hex(4)}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return admin_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    if created:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, make_database: Callable[[str], str]) -> Iterator[Database]:
    """A fresh, migrated database, once per backend (tests of the storage-level rules)."""
    database = Database(make_database(request.param))
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running server per backend, shared by the end-to-end tests."""
    backend = request.param
    srv = start_server(make_database(backend), tmp_path_factory.mktemp(f"srv-{backend}"), backend)
    yield srv
    stop_server(srv)


@pytest.fixture
def tenant(server: Server) -> Tenant:
    return server.tenant()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, make_database: Callable[[str], str]) -> Iterator[FastAPI]:
    """The app (API and dashboard) in process over a fresh database, nothing running beside it (no
    dispatcher, no simulator), once per backend."""
    if request.param not in BACKENDS:
        pytest.skip(f"{request.param} not selected")
    app = build_app(Settings(database_url=make_database(request.param), simulator="inprocess"), dispatch=False)
    yield app
    app.state.auth_cache.close()
    app.state.textos.db.dispose()
