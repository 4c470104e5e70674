"""Routing: which connector carries a message, by destination prefix or country, with failover.

A route maps a receiver prefix (``+33``, ``+4477``; ``""`` for everything), or the
calling codes of countries, to carriers in preference order. The longest matching prefix wins; within it, the first carrier
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
    country = ["GB", "IE"]            # their calling codes: +44, +353
    carriers = ["backup"]

Unless a route has ``prefix = ""``, a catch-all route over every carrier (in the order
they are configured; ``textos serve --smsc URL`` adds ``smsc1``, ``smsc2``…) carries
the rest. Countries sharing a calling code (US and CA: +1) share its routes: tell them
apart with prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import phonenumbers

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


ROUTE_KEYS = {"prefix", "country", "carriers", "carrier"}


def build_router(tables: Sequence[dict[str, Any]], connectors: dict[str, Connector]) -> Router:
    """Routes of ``[[routes]]`` (by ``prefix`` or ``country``), then a catch-all over every carrier."""
    routes: list[Route] = []
    for entry in tables:
        unknown_keys = sorted(set(entry) - ROUTE_KEYS)
        if unknown_keys:
            raise ValueError(f"routes: unknown key(s) {', '.join(unknown_keys)} (known: {', '.join(sorted(ROUTE_KEYS))})")
        names = entry.get("carriers") or ([entry["carrier"]] if "carrier" in entry else [])
        prefixes = route_prefixes(entry)
        if not names:
            raise ValueError(f"routes: the route for {', '.join(p or 'everything' for p in prefixes)} names no carriers (carriers = [\"…\"])")
        unknown = [n for n in names if n not in connectors]
        if unknown:
            raise ValueError(f"routes: unknown carrier(s) {', '.join(unknown)} (known: {', '.join(connectors)})")
        routes += [Route(prefix, tuple(connectors[n] for n in names)) for prefix in prefixes]
    if not any(r.prefix == "" for r in routes) and connectors:
        routes.append(Route("", tuple(connectors.values())))
    return Router(routes)


def route_prefixes(entry: dict[str, Any]) -> list[str]:
    """``prefix = "+4477"``, or ``country = "GB"`` / ``["GB", "IE"]`` (their calling codes: ``+44``, ``+353``)."""
    if "country" not in entry:
        return [str(entry.get("prefix", ""))]
    if "prefix" in entry:
        raise ValueError("routes: give a route either a prefix or a country, not both")
    countries = entry["country"] if isinstance(entry["country"], list) else [entry["country"]]
    prefixes = []
    for country in countries:
        code = phonenumbers.country_code_for_region(str(country).upper())
        if not code:
            raise ValueError(f"routes: country {country!r} is not a known country code")
        prefixes.append(f"+{code}")
    return prefixes
