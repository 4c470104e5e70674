"""Settings (``textos.config``): the receipt deadline and where it is read from."""

from __future__ import annotations

import pytest

from textos.config import Settings, load_settings


def test_a_sent_message_waits_72_hours_for_its_receipt_by_default():
    assert Settings().receipt_timeout == 259_200.0
    assert Settings().receipt_deadline(embedded_simulator=False) == 259_200.0


def test_the_embedded_simulator_uses_the_shorter_of_its_own_deadline_and_receipt_timeout():
    assert Settings().receipt_deadline(embedded_simulator=True) == Settings().simulator_receipt_timeout == 120.0
    assert Settings(receipt_timeout=30.0).receipt_deadline(embedded_simulator=True) == 30.0


def test_receipt_deadlines_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("TEXTOS_RECEIPT_TIMEOUT", "600")
    monkeypatch.setenv("TEXTOS_SIMULATOR_RECEIPT_TIMEOUT", "5.5")
    settings = load_settings(tmp_path / "absent.toml")
    assert (settings.receipt_timeout, settings.simulator_receipt_timeout) == (600.0, 5.5)


def test_the_tls_pair_comes_from_textos_toml_then_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path):
    config = tmp_path / "textos.toml"
    config.write_text('tls_cert = "/etc/textos/cert.pem"\ntls_key = "/etc/textos/key.pem"\n')
    assert (load_settings(config).tls_cert, load_settings(config).tls_key) == ("/etc/textos/cert.pem", "/etc/textos/key.pem")
    monkeypatch.setenv("TEXTOS_TLS_CERT", "/run/cert.pem")
    monkeypatch.setenv("TEXTOS_TLS_KEY", "/run/key.pem")
    assert (load_settings(config).tls_cert, load_settings(config).tls_key) == ("/run/cert.pem", "/run/key.pem")
    assert (Settings().tls_cert, Settings().tls_key) == (None, None)  # plain HTTP by default


def test_trusted_proxies_are_loopback_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path):
    from textos.server import proxy_options

    assert proxy_options(Settings()) == {"proxy_headers": True, "forwarded_allow_ips": ["127.0.0.1", "::1"]}
    monkeypatch.setenv("TEXTOS_TRUSTED_PROXIES", "10.0.0.5, 192.168.1.0/24")
    settings = load_settings(tmp_path / "absent.toml")
    assert proxy_options(settings) == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.5", "192.168.1.0/24"]}
    assert proxy_options(Settings(trusted_proxies=["none"])) == {"proxy_headers": False, "forwarded_allow_ips": []}
    with pytest.raises(SystemExit, match="trusted_proxies: 'proxy.lan'"):
        proxy_options(Settings(trusted_proxies=["proxy.lan"]))
