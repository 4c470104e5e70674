"""What every route can reach: settings, database, dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from textos.config import Settings
from textos.storage.db import Database

if TYPE_CHECKING:
    from textos.delivery.dispatcher import Dispatcher
    from textos.server import Runtime
    from textos.services.recipients import ConcatFor


@dataclass
class AppState:
    settings: Settings
    db: Database
    dispatcher: "Dispatcher | None" = None
    runtime: "Runtime | None" = None
    concat_for: "ConcatFor | None" = None  # concatenation of each receiver's route; None: udh8 everywhere

    def wake_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()


def state_of(request: Request) -> AppState:
    return request.app.state.textos
