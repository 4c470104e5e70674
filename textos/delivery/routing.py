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

How many parts a long text takes depends on its carrier (``concat = "udh16"`` parts hold
one character less): ``concatenation_rule`` tells the accept path, per receiver, which
split to charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import phonenumbers

from textos.config import Settings
from textos.delivery.connector import Connector, OutboundMessage
from textos.domain.encoding import Concatenation
from textos.smpp.carrier_config import SmppCarrierConfig

__all__ = ["ROUTE_KEYS", "Route", "Router", "build_router", "carrier_configs", "concatenation_rule", "route_prefixes", "route_table"]


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


def carrier_configs(settings: Settings) -> dict[str, SmppCarrierConfig]:
    """The configured carriers, read but not started: ``[carriers.NAME]`` tables, then
    ``--smsc`` URLs (named ``smsc1``, ``smsc2``…), in that order."""
    configs: dict[str, SmppCarrierConfig] = {}
    for name, table in settings.carriers.items():
        configs[name] = SmppCarrierConfig.from_table(name, table if isinstance(table, dict) else {"url": str(table)})
    for i, url in enumerate(settings.smsc_urls, 1):
        name = f"smsc{i}"
        configs[name] = SmppCarrierConfig.from_url(url, name=name)
    return configs


def route_table(tables: Sequence[dict[str, Any]], carriers: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(prefix, carrier names in failover order) of each ``[[routes]]`` entry (by ``prefix``
    or ``country``), then a catch-all over every carrier unless a route has ``prefix = ""``."""
    routes: list[tuple[str, tuple[str, ...]]] = []
    for entry in tables:
        unknown_keys = sorted(set(entry) - ROUTE_KEYS)
        if unknown_keys:
            raise ValueError(f"routes: unknown key(s) {', '.join(unknown_keys)} (known: {', '.join(sorted(ROUTE_KEYS))})")
        names = entry.get("carriers") or ([entry["carrier"]] if "carrier" in entry else [])
        prefixes = route_prefixes(entry)
        if not names:
            raise ValueError(f"routes: the route for {', '.join(p or 'everything' for p in prefixes)} names no carriers (carriers = [\"…\"])")
        unknown = [n for n in names if n not in carriers]
        if unknown:
            raise ValueError(f"routes: unknown carrier(s) {', '.join(unknown)} (known: {', '.join(carriers)})")
        routes += [(prefix, tuple(names)) for prefix in prefixes]
    if not any(prefix == "" for prefix, _ in routes) and carriers:
        routes.append(("", tuple(carriers)))
    return routes


def build_router(tables: Sequence[dict[str, Any]], connectors: dict[str, Connector]) -> Router:
    """The ``Router`` of ``route_table``, over these connectors."""
    return Router([Route(prefix, tuple(connectors[n] for n in names)) for prefix, names in route_table(tables, list(connectors))])


def concatenation_rule(settings: Settings) -> Callable[[str], Concatenation]:
    """``rule(receiver)`` → the ``Concatenation`` that splits a text into the most parts among
    the carriers the receiver's route may use (``udh16`` if one of them uses it, else
    ``udh8``; no carrier configured, e.g. the embedded simulator: ``udh8``), so a message
    is charged for every part any of them would submit.

    Read from the settings once, without starting a connector; each call is a few
    dictionary lookups (a table of the route prefixes, longest first)."""
    configs = carrier_configs(settings)
    by_prefix: dict[str, Concatenation] = {}
    for prefix, names in route_table(settings.routes, list(configs)):
        by_prefix.setdefault(prefix, _most_parts(configs[n].concatenation for n in names))  # the first route of a prefix wins
    splits = set(by_prefix.values())
    if splits <= {Concatenation.UDH8}:
        return _udh8
    if splits == {Concatenation.UDH16} and "" in by_prefix:
        return _udh16
    lengths = sorted({len(p) for p in by_prefix}, reverse=True)
    get = by_prefix.get

    def rule(receiver: str) -> Concatenation:
        for n in lengths:
            found = get(receiver[:n])
            if found is not None:
                return found
        return Concatenation.UDH8

    return rule


def _most_parts(concats: Iterable[Concatenation]) -> Concatenation:
    return Concatenation.UDH16 if Concatenation.UDH16 in set(concats) else Concatenation.UDH8


def _udh8(receiver: str) -> Concatenation:
    return Concatenation.UDH8


def _udh16(receiver: str) -> Concatenation:
    return Concatenation.UDH16


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
