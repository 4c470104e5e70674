"""Routes from textos.toml: by prefix or by country, longest prefix first, failover in order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from textos.delivery.connector import OutboundMessage
from textos.delivery.routing import build_router
from textos.domain.encoding import Encoding


@dataclass(eq=False)
class Carrier:
    name: str
    is_up: bool = True


def to(receiver: str) -> OutboundMessage:
    return OutboundMessage(1, "Textos", "alpha", receiver, "hi", Encoding.GSM7, 1)


def test_prefix_and_country_routes_with_failover():
    c = {n: Carrier(n) for n in ("orange", "backup", "uk", "mobile44")}
    router = build_router(
        [
            {"prefix": "+33", "carriers": ["orange", "backup"]},
            {"country": ["GB", "ie"], "carriers": ["uk"]},
            {"prefix": "+447", "carrier": "mobile44"},
        ],
        c,  # type: ignore[arg-type]
    )
    assert router.route(to("+33612345678")) is c["orange"]
    assert router.route(to("+442071234567")) is c["uk"]
    assert router.route(to("+353861234567")) is c["uk"]
    assert router.route(to("+447400123456")) is c["mobile44"]  # the longest prefix wins over the country
    assert router.route(to("+14155550100")) is c["orange"]  # catch-all: every carrier, in order
    c["orange"].is_up = False
    assert router.route(to("+33612345678")) is c["backup"]


@pytest.mark.parametrize(
    "table, says",
    [
        ({"country": "XX", "carriers": ["a"]}, "country 'XX'"),
        ({"country": "FR", "prefix": "+33", "carriers": ["a"]}, "not both"),
        ({"prefix": "+33", "carriers": ["nope"]}, "unknown carrier(s) nope"),
        ({"prefix": "+33"}, "names no carriers"),
        ({"prefx": "+33", "carriers": ["a"]}, "unknown key(s) prefx"),
    ],
)
def test_route_mistakes_are_named(table, says):
    with pytest.raises(ValueError) as refused:
        build_router([table], {"a": Carrier("a")})  # type: ignore[dict-item]
    assert says in str(refused.value)
