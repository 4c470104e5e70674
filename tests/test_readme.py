"""README.md stays true: its first SMS, pasted as written (only the keys and the port filled in),
runs against a fresh ``textos serve`` and prints what its comments say."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from helpers import start_server, stop_server
from textos.cli.main import app as cli_app

README = Path(__file__).resolve().parents[1] / "README.md"


def first_sms_snippet() -> str:
    text = README.read_text()
    section = text[text.index("## Your first SMS") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_first_sms_of_the_readme_works_verbatim(make_database, tmp_path):
    server = start_server(make_database("sqlite"), tmp_path, "sqlite")
    try:
        keys = json.loads(CliRunner().invoke(cli_app, ["quickstart", "--database-url", server.database_url, "--json"]).stdout)
        snippet = first_sms_snippet()
        assert snippet.count('"..."') == 3 and "http://127.0.0.1:8080/1.0" in snippet
        for name in ("applicationKey", "applicationSecret", "consumerKey"):
            snippet = snippet.replace('"..."', json.dumps(keys[name]), 1)
        snippet = snippet.replace("http://127.0.0.1:8080/1.0", server.endpoint)
        ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        lines = ran.stdout.strip().splitlines()
        report = lines[0]
        assert "'totalCreditsRemoved': 3.0" in report and "'tag': 'hello'" in report
        assert len(lines) == 5 and all("'ptt': 4" in line and "'deliveryReceipt': 1" in line for line in lines[1:4])
        assert lines[-1] == "97.0"
    finally:
        stop_server(server)
