"""Assembling a running Textos: database, connectors, dispatcher, API — one process."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from textos.api.app import create_app
from textos.api.state import AppState
from textos.config import Settings
from textos.delivery.connector import Connector
from textos.delivery.connectors.simulator import SimulatorConnector
from textos.delivery.dispatcher import Dispatcher, Router
from textos.storage.db import Database

log = logging.getLogger("textos")


def build_connectors(settings: Settings) -> list[tuple[str, Connector]]:
    """Routes (prefix, connector): carriers from ``--smsc`` URLs, else the built-in simulator."""
    routes: list[tuple[str, Connector]] = []
    if not routes and settings.embedded_simulator:
        routes.append(("", SimulatorConnector(receipt_delay=settings.simulator_receipt_delay, outcomes=settings.simulator_outcomes)))
    return routes


def build_app(settings: Settings, *, migrate: bool = True, dispatch: bool = True) -> FastAPI:
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    dispatcher = None
    if dispatch:
        dispatcher = Dispatcher(
            db, Router(build_connectors(settings)), batch=settings.dispatcher_batch, interval=settings.dispatcher_interval
        )
    return create_app(AppState(settings=settings, db=db, dispatcher=dispatcher))


def serve(settings: Settings) -> None:
    """Run API, dispatcher and simulator until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
