"""``textos serve`` over HTTPS, and the official Node.js client (npm ``ovh`` 2.0.3) against it.

The Node client is configured with host, port and basePath only; it always speaks HTTPS and
signs ``https://`` + host + path without the port. The test installs it from the npm registry
with the machine's ``npm`` into ``tests/e2e/.node/`` (kept between runs, ignored by git) and is
skipped, saying why, where Node.js or the registry is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import ovh
import pytest

from typer.testing import CliRunner

from helpers import BACKENDS, Server, start_server, stop_server
from textos.cli.main import app as cli_app

NODE_OVH = "ovh@2.0.3"
NODE_DIR = Path(__file__).parent / ".node"
SCRIPT = Path(__file__).parent / "node_client.js"


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "ovh" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


@pytest.fixture(scope="module")
def node_ovh() -> Path:
    """``node_modules`` holding the real npm ``ovh`` client (installed once, then reused)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js (node and npm) is not installed: the Node.js client test needs it")
    if _installed_version() != NODE_OVH.split("@")[1]:
        staging = Path(tempfile.mkdtemp(prefix=".node-", dir=NODE_DIR.parent))
        try:
            installed = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock", "--prefix", str(staging), NODE_OVH],
                capture_output=True, text=True, timeout=120,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.skip(f"npm could not install {NODE_OVH} within 120 s (is the npm registry reachable?)")
        if installed.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            last = (installed.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"npm could not install {NODE_OVH} (is the npm registry reachable?): {last}")
        shutil.rmtree(NODE_DIR, ignore_errors=True)
        staging.rename(NODE_DIR)
    return NODE_DIR / "node_modules"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed pair for localhost and 127.0.0.1, made by ``textos tls selfsigned``."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    result = CliRunner().invoke(cli_app, ["tls", "selfsigned", "--cert", str(cert), "--key", str(key), "--json"])
    assert result.exit_code == 0, result.output
    return cert, key


@pytest.fixture(scope="module", params=BACKENDS)
def https_server(request, make_database, tmp_path_factory, certificate):  # type: ignore[no-untyped-def]
    """``textos serve`` over HTTPS; on PostgreSQL with two API processes (``--workers 2``)."""
    workers = ["--workers", "2"] if request.param == "postgresql" else []
    srv = start_server(make_database(request.param), tmp_path_factory.mktemp("https"), request.param, args=workers, tls=certificate)
    yield srv
    stop_server(srv)


@pytest.fixture
def tenant(https_server):  # type: ignore[no-untyped-def]
    """A tenant of the HTTPS server; its client's connections are closed after the test (the server
    would otherwise wait, stopping, for the TLS close of each idle keep-alive connection)."""
    tenant = https_server.tenant()
    yield tenant
    tenant.client._session.close()


def run_node(node_modules: Path, server: Server, **config: object) -> dict:
    """Run tests/e2e/node_client.js with the server's certificate as an extra CA; its JSON."""
    env = {**os.environ, "NODE_PATH": str(node_modules), "NODE_EXTRA_CA_CERTS": str(server.ca)}
    env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)  # the certificate is checked, through the CA
    done = subprocess.run(["node", str(SCRIPT), json.dumps({"host": "127.0.0.1", "port": server.port, **config})],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_node_client_works_with_only_host_port_and_base_path(node_ovh, https_server, tenant):
    message, tag = "Réunion à 14 h, café ☕ compris", "node-été"
    results = run_node(
        node_ovh, https_server, appKey=tenant.app_key, appSecret=tenant.app_secret, consumerKey=tenant.consumer_key,
        service=tenant.service, message=message, tag=tag, description="Compte Node été",
    )
    assert results["accounts"] == {"answer": [tenant.service]}
    report = results["job"]["answer"]
    assert report["validReceivers"] == ["+33612345678"] and report["tag"] == tag and report["totalCreditsRemoved"] == 1.0
    assert results["tagged"] == {"answer": report["ids"]}  # polled by the script until the message is out
    assert results["put"] == {"answer": None}
    assert results["account"]["answer"]["description"] == "Compte Node été"
    assert results["wrongSecret"] == {"error": 400, "message": "Invalid signature"}
    sent = tenant.client.get(f"/sms/{tenant.service}/outgoing/{report['ids'][0]}")
    assert sent["message"] == message and sent["tag"] == tag


def test_python_ovh_over_https(https_server, tenant):
    assert all(tenant.client.get("/sms") == [tenant.service] for _ in range(4))  # each API process, likely
    report = tenant.client.post(f"/sms/{tenant.service}/jobs", message="hé", receivers=["+33612345678"], noStopClause=True)
    assert report["totalCreditsRemoved"] == 1.0
    with pytest.raises(httpx.ConnectError):  # no certificate check: refused
        httpx.get(f"{https_server.endpoint}/auth/time")
    wrong = https_server.client(tenant.app_key, "wrong", tenant.consumer_key)
    with pytest.raises(ovh.exceptions.BadParametersError, match="Invalid signature"):
        wrong.get("/sms")
    wrong._session.close()
