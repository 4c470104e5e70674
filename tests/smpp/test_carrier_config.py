"""Carrier options: from an smpp:// URL and from a [carriers.NAME] table; unknown ones refused by name."""

from __future__ import annotations

import pytest

from textos.domain.encoding import Concatenation
from textos.smpp.carrier_config import CARRIER_OPTIONS, SmppCarrierConfig


def test_config_from_url():
    cfg = SmppCarrierConfig.from_url("smpp://acme%40x:p%3Ass@smsc.example:2776?window=32&tps=500&binds=2&bind=tx%2Brx&concat=sar")
    assert (cfg.system_id, cfg.password, cfg.host, cfg.port) == ("acme@x", "p:ss", "smsc.example", 2776)
    assert (cfg.window, cfg.tps, cfg.binds, cfg.bind_mode, cfg.concatenation) == (32, 500.0, 2, "tx+rx", Concatenation.SAR)
    assert SmppCarrierConfig.from_url("smpp://a:b@h").port == 2775
    with pytest.raises(ValueError):
        SmppCarrierConfig.from_url("http://a:b@h")
    cfg = SmppCarrierConfig.from_url("smpp://a:b@h?ton_npi_alpha=5:9&ton_npi_dest=2:1&reconnect=1:60&dlr=0&enquire_link=15")
    assert (cfg.source_ton_npi["alpha"], cfg.source_ton_npi["numeric"], cfg.dest_ton_npi) == ((5, 9), (1, 1), (2, 1))
    assert (cfg.reconnect_backoff, cfg.registered_delivery, cfg.enquire_link_interval) == ((1.0, 60.0), False, 15.0)


def test_every_documented_option_is_read():
    documented = {"window", "tps", "binds", "bind", "system_type", "service_type", "enquire_link", "timeout", "reconnect",
                  "throttle_backoff", "deadline", "concat", "dlr", "ton_npi_dest", "name"}
    assert set(CARRIER_OPTIONS) == documented
    cfg = SmppCarrierConfig.from_url(
        "smpp://a:b@h?system_type=VMA&service_type=CMT&timeout=4&throttle_backoff=0.5&deadline=9&concat=UDH16&tps=0&name=x"
    )
    assert (cfg.system_type, cfg.service_type, cfg.response_timeout, cfg.throttle_backoff, cfg.submit_deadline) == ("VMA", "CMT", 4, 0.5, 9)
    assert (cfg.concatenation, cfg.tps, cfg.name) == (Concatenation.UDH16, None, "x")


@pytest.mark.parametrize(
    "query, named",
    [("windw=3", "windw"), ("window=many", "window"), ("ton_npi_alpha=5", "ton_npi_alpha"), ("concat=udh7", "concat")],
)
def test_config_refuses_what_it_does_not_understand(query, named):
    with pytest.raises(ValueError) as refused:
        SmppCarrierConfig.from_url(f"smpp://acme:s3cret@h?{query}")
    assert named in str(refused.value) and "s3cret" not in str(refused.value)


def test_config_from_a_toml_table_wins_over_its_url():
    cfg = SmppCarrierConfig.from_table(
        "orange", {"url": "smpp://a:b@h:2776?window=8&tps=10&ton_npi_alpha=5:9", "window": 32, "ton_npi_shortcode": [6, 0]}
    )
    assert (cfg.name, cfg.port, cfg.window, cfg.tps) == ("orange", 2776, 32, 10.0)
    assert (cfg.source_ton_npi["shortcode"], cfg.source_ton_npi["alpha"]) == ((6, 0), (5, 9))
    with pytest.raises(ValueError, match="carriers.orange: bnds"):
        SmppCarrierConfig.from_table("orange", {"url": "smpp://a:b@h", "bnds": 2})
    with pytest.raises(ValueError, match="'url' is required"):
        SmppCarrierConfig.from_table("orange", {"window": 2})


@pytest.mark.parametrize("fields", [{"bind_mode": "rx"}, {"window": 0}, {"binds": 0}, {"concatenation": "udh7"}])
def test_impossible_settings_are_refused(fields):
    with pytest.raises(ValueError):
        SmppCarrierConfig(**fields)
