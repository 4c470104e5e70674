"""Routes from textos.toml: by prefix or by country, longest prefix first, failover in
order; and the split each receiver is charged for, from its route's carriers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from textos.config import Settings
from textos.delivery.connector import OutboundMessage
from textos.delivery.routing import build_router, carrier_configs, concatenation_rule
from textos.domain.encoding import Concatenation, Encoding


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


def test_carriers_are_read_in_order_without_starting_them():
    settings = Settings(
        carriers={"orange": {"url": "smpp://a:b@10.0.0.5:2775", "concat": "udh16"}, "free": "smpp://c:d@10.0.0.6"},
        smsc_urls=["smpp://e:f@10.0.0.7?concat=sar"],
    )
    configs = carrier_configs(settings)
    assert list(configs) == ["orange", "free", "smsc1"]
    assert [c.concatenation for c in configs.values()] == [Concatenation.UDH16, Concatenation.UDH8, Concatenation.SAR]
    assert (configs["free"].host, configs["smsc1"].name) == ("10.0.0.6", "smsc1")


def carriers(**concat: str) -> dict:
    return {name: {"url": f"smpp://u:p@10.0.0.{i}:2775", "concat": how} for i, (name, how) in enumerate(concat.items(), 1)}


def test_without_carriers_every_receiver_is_split_as_udh8():
    rule = concatenation_rule(Settings())
    assert rule("+33612345678") is rule("+14155550100") is Concatenation.UDH8


def test_udh16_anywhere_on_the_route_is_what_a_receiver_is_charged_for():
    settings = Settings(
        carriers=carriers(orange="udh8", backup="udh16", uk="sar", mobile="udh16"),
        routes=[
            {"prefix": "+33", "carriers": ["orange", "backup"]},  # backup may carry it: its split counts
            {"country": "GB", "carriers": ["uk"]},
            {"prefix": "+447", "carriers": ["mobile"]},
            {"prefix": "+336", "carriers": ["orange"]},
        ],
    )
    rule = concatenation_rule(settings)
    assert rule("+33123456789") is Concatenation.UDH16
    assert rule("+33612345678") is Concatenation.UDH8  # the longest prefix names orange alone
    assert rule("+442071234567") is Concatenation.UDH8  # sar parts hold what udh8 parts hold
    assert rule("+447400123456") is Concatenation.UDH16
    assert rule("+14155550100") is Concatenation.UDH16  # the catch-all: every carrier


def test_an_explicit_catch_all_decides_the_rest():
    settings = Settings(carriers=carriers(a="udh8", b="udh16"), routes=[{"prefix": "+44", "carriers": ["b"]}, {"prefix": "", "carriers": ["a"]}])
    rule = concatenation_rule(settings)
    assert (rule("+447400123456"), rule("+33612345678")) == (Concatenation.UDH16, Concatenation.UDH8)


def test_one_split_everywhere_needs_no_lookup():
    every = concatenation_rule(Settings(carriers=carriers(a="udh16", b="udh16")))
    assert every("+33612345678") is every("+1") is Concatenation.UDH16
    same = concatenation_rule(Settings(carriers=carriers(a="udh8", b="sar")))
    assert same("+33612345678") is Concatenation.UDH8


def test_the_rule_refuses_what_the_router_refuses():
    with pytest.raises(ValueError, match="unknown carrier"):
        concatenation_rule(Settings(carriers=carriers(a="udh8"), routes=[{"prefix": "+33", "carriers": ["b"]}]))
