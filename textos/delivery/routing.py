"""Routing: which connector carries a message, by destination prefix, with failover.

A route maps a receiver prefix (``+33``, ``+4477``; ``""`` for everything) to carriers
in preference order. The longest matching prefix wins; within it, the first carrier
whose link is up carries the message. When none is up, the message waits (RETRY).

Configured in ``textos.toml``::

    [carriers.orange]
    url = "smpp://user:pass@10.0.0.5:2775?window=64&tps=500"
    [carriers.backup]
    url = "smpp://user:pass@10.0.0.6:2775"

    [[routes]]
    prefix = "+33"
    carriers = ["orange", "backup"]
    [[routes]]
    prefix = ""
    carriers = ["backup"]

``textos serve --smsc URL`` adds a carrier ``smsc1`` (``smsc2``…) on the catch-all route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from textos.delivery.connector import Connector, OutboundMessage


@dataclass(frozen=True)
class Route:
    prefix: str
    connectors: tuple[Connector, ...]


class Router:
    """Longest prefix first; first carrier up within it; else the first carrier (it will RETRY)."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: -len(r.prefix))

    @classmethod
    def single(cls, connector: Connector) -> "Router":
        return cls([Route("", (connector,))])

    @property
    def connectors(self) -> list[Connector]:
        seen: dict[int, Connector] = {}
        for route in self.routes:
            for c in route.connectors:
                seen.setdefault(id(c), c)
        return list(seen.values())

    def route(self, message: OutboundMessage) -> Connector | None:
        for route in self.routes:
            if message.receiver.startswith(route.prefix):
                for connector in route.connectors:
                    if connector.is_up:
                        return connector
                if route.connectors:
                    return route.connectors[0]
        return None
