"""The standalone simulator (``textos smsc --http-port``) and ``textos mo``: an incoming
SMS injected from the command line reaches a Textos server bound to that simulator."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from sqlalchemy import create_engine, text

from helpers import free_port, start_server, stop_process, stop_server, wait_until, die_with_parent
from textos.storage.db import normalize_url


def textos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "textos.cli.main", *args], capture_output=True, text=True, timeout=60,
                          env=None if env is None else {**os.environ, **env})


def test_textos_mo_through_a_standalone_simulator(make_database, tmp_path):
    smpp_port, http_port = free_port(), free_port()
    log = open(tmp_path / "smsc.log", "wb")
    smsc = subprocess.Popen(
        [sys.executable, "-m", "textos.cli.main", "smsc", "--port", str(smpp_port), "--http-port", str(http_port)],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )
    hook = f"http://127.0.0.1:{http_port}"
    database_url = make_database("sqlite")
    server = None
    try:
        def hook_up() -> bool:
            assert smsc.poll() is None, (tmp_path / "smsc.log").read_text()
            try:
                return httpx.get(f"{hook}/_simulator/stats", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(hook_up, timeout=30, what="simulator hook")
        server = start_server(database_url, tmp_path, "sqlite", args=["--smsc", f"smpp://t:t@127.0.0.1:{smpp_port}?window=8"])
        wait_until(lambda: httpx.get(f"{hook}/_simulator/stats").json()["binds"] >= 1, what="server bound")

        done = textos("mo", "--url", hook, "--sender", "+33612345678", "--receiver", "36111", "--text", "STOP")
        assert done.returncode == 0 and "1 part" in done.stdout, done.stderr
        long_text = "Merci, à jeudi ! " * 12
        done = textos("mo", "--url", hook, "--sender", "+33612345678", "--receiver", "36111", "--text", long_text, "--concat", "sar")
        assert done.returncode == 0 and "2 part" in done.stdout, done.stderr

        engine = create_engine(normalize_url(database_url))

        def stored() -> list:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT text FROM incoming ORDER BY id")).scalars().all()
            return rows if len(rows) == 2 else []

        assert wait_until(stored, what="incoming stored") == ["STOP", long_text]
        engine.dispose()

        bad = textos("mo", "--url", hook, "--sender", "+33612345678", "--receiver", "36111", "--text", "x", "--concat", "udh7")
        assert bad.returncode == 1 and "concat" in bad.stderr
        nobody = textos("mo", "--url", f"http://127.0.0.1:{free_port()}", "--sender", "+336", "--receiver", "1", "--text", "x")
        assert nobody.returncode == 1 and "no simulator" in nobody.stderr
    finally:
        if server is not None:
            stop_server(server)
        stop_process(smsc)
        log.close()


def test_textos_mo_finds_textos_serve_as_the_other_commands_do(make_database, tmp_path):
    """Without --url, ``textos mo`` reaches the server the settings name (TEXTOS_PORT, textos.toml's
    ``port``), or the one --port names; its answer is a line."""
    database_url = make_database("sqlite")
    server = start_server(database_url, tmp_path, "sqlite")
    try:
        toml = tmp_path / "textos.toml"
        toml.write_text(f"port = {server.port}\n")
        elsewhere = str(tmp_path / "absent.toml")
        by_env = textos("mo", "--sender", "+33612345678", "--receiver", "36111", "--text", "one",
                        env={"TEXTOS_PORT": str(server.port), "TEXTOS_CONFIG": elsewhere})
        by_flag = textos("mo", "--port", str(server.port), "--sender", "+33612345678", "--receiver", "36111", "--text", "two",
                         env={"TEXTOS_PORT": "1", "TEXTOS_CONFIG": elsewhere})
        by_file = textos("mo", "--config", str(toml), "--sender", "+33612345678", "--receiver", "36111", "--text", "three",
                         env={"TEXTOS_CONFIG": elsewhere})
        for done in (by_env, by_flag, by_file):
            assert done.returncode == 0, done.stderr
            assert done.stdout == f"injected in 1 part(s) at http://127.0.0.1:{server.port}\n"
        engine = create_engine(normalize_url(database_url))

        def stored() -> list:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT text FROM incoming ORDER BY id")).scalars().all()
            return rows if len(rows) == 3 else []

        assert wait_until(stored, what="incoming stored") == ["one", "two", "three"]
        engine.dispose()
        nobody = textos("mo", "--port", str(free_port()), "--sender", "+336", "--receiver", "1", "--text", "x",
                        env={"TEXTOS_CONFIG": elsewhere})
        assert nobody.returncode == 1 and nobody.stderr.endswith("--url, --port)\n"), nobody.stderr
    finally:
        stop_server(server)
