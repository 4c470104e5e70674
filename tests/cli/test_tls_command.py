"""``textos tls selfsigned``: a certificate and key for ``textos serve --tls-cert/--tls-key``."""

from __future__ import annotations

import json
import stat

from typer.testing import CliRunner

from textos.cli.main import app


def test_selfsigned_writes_a_pair_says_how_to_serve_it_and_keeps_existing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(app, ["tls", "selfsigned", "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout) == {
        "cert": "textos-cert.pem", "key": "textos-key.pem", "names": "localhost,127.0.0.1,::1", "days": 825,
        "serve": "textos serve --tls-cert textos-cert.pem --tls-key textos-key.pem",
    }
    assert stat.S_IMODE((tmp_path / "textos-key.pem").stat().st_mode) == 0o600
    first = (tmp_path / "textos-cert.pem").read_bytes()
    again = runner.invoke(app, ["tls", "selfsigned"])
    assert again.exit_code == 2 and "textos-cert.pem and textos-key.pem already exist (add --force to replace)" in again.output
    assert (tmp_path / "textos-cert.pem").read_bytes() == first
    forced = runner.invoke(app, ["tls", "selfsigned", "--force", "--name", "sms.example.test", "--days", "30"])
    assert forced.exit_code == 0, forced.output
    assert "NODE_EXTRA_CA_CERTS=textos-cert.pem" in forced.output
    assert (tmp_path / "textos-cert.pem").read_bytes() != first
