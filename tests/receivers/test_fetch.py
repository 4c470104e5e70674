"""fetch_to_file against real local HTTP(S) servers; the SSRF guard (domain/public_urls.py) applied at every hop."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from callback_sink import CallbackSink
from outbound_attacks import ATTACKS, Attack, FakeDns, rebinding, trust_only
from receiver_documents import BOM, COOKBOOK, GARBAGE, HALF_INVALID, trickle_answer

from textos.receivers.fetch import FetchError, FetchLimits, fetch_to_file, fetch_to_file_async
from textos.receivers.receivers_csv import CsvError, read_receivers

QUOTED = b'number,name,address\n+33612345678,"Dupont, Jean","1 rue X; b\xc3\xa2t ""B""\nParis"\n'
LATIN1 = "numéro;prénom\n0612345678;Hélène\n".encode("latin-1")
DUPES = b"number;n\n+33612345678;a\n+33612345678;b\n+33687654321;c\n+33612345678;d\n"

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


def _body(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    def handle(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return handle


def _redirect(location: str, status: int = 302) -> Handler:
    return _body(b"", status, {"Location": location})


def _no_length(data: bytes) -> Handler:
    def handle(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()  # HTTP/1.0, body delimited by close
        h.wfile.write(data)

    return handle


def _echo_host(h: http.server.BaseHTTPRequestHandler) -> None:
    _body(f"number\n{h.headers['Host']}\n".encode())(h)


def _trickle(h: http.server.BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    try:
        for _ in range(100000):
            h.wfile.write(b"1")
            h.wfile.flush()
            time.sleep(0.02)
    except OSError:
        pass


def _trickle_head(h: http.server.BaseHTTPRequestHandler) -> None:
    trickle_answer(h, 0.2)  # about 8 s in all


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Handler]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        route = self.server.routes.get(self.path)
        if route is None:
            _body(b"not found", 404)(self)
        else:
            route(self)

    def log_message(self, *args: object) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.routes = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    for srv in _serve():
        port = srv.server_address[1]
        big = b"number\n" + b"+33612345678\n" * 1000
        srv.routes.update(
            {
                "/cookbook.csv": _body(COOKBOOK, headers={"Content-Type": "text/csv"}),
                "/bom.csv": _body(BOM),
                "/quoted.csv": _body(QUOTED),
                "/latin1.csv": _body(LATIN1),
                "/invalid.csv": _body(HALF_INVALID),
                "/dupes.csv": _body(DUPES),
                "/empty.csv": _body(b""),
                "/garbage.bin": _body(GARBAGE),
                "/big.csv": _body(big),
                "/big-no-length.csv": _no_length(big),
                "/gzip.csv": _body(gzip.compress(COOKBOOK), headers={"Content-Encoding": "gzip"}),
                "/bomb.csv": _body(
                    gzip.compress(b"\0" * (20 << 20), 1), headers={"Content-Encoding": "gzip"}
                ),
                "/brotli.csv": _body(b"xx", headers={"Content-Encoding": "br"}),
                "/host": _echo_host,
                "/trickle": _trickle,
                "/trickle-head": _trickle_head,
                "/to-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
                "/to-loopback-2": _redirect(f"http://127.0.0.2:{port}/cookbook.csv"),
                "/to-file": _redirect("file:///etc/passwd"),
                "/to-absolute": _redirect(f"http://127.0.0.1:{port}/cookbook.csv", 301),
            }
        )
        for n in range(1, 8):  # /r/N -> ... -> /r/0, relative Locations
            srv.routes[f"/r/{n}"] = _redirect(f"/r/{n - 1}", 307)
        srv.routes["/r/0"] = _body(COOKBOOK)
        yield srv


def _url(server: _Server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _fetch(url: str, **kw: object) -> bytes:
    with tempfile.TemporaryFile() as f:
        n = fetch_to_file(url, f, **kw)  # type: ignore[arg-type]
        f.seek(0)
        data = f.read()
    assert n == len(data)
    return data


def _fetch_rows(url: str) -> tuple[object, list[dict[str, str]]]:
    with tempfile.TemporaryFile() as f:
        fetch_to_file(url, f, allow_private=True)
        layout, rows = read_receivers(f)
        with rows:
            return layout, list(rows)


# --- happy paths: fetch then parse -------------------------------------------


def test_cookbook_example(server: _Server) -> None:
    layout, rows = _fetch_rows(_url(server, "/cookbook.csv"))
    assert layout.columns == ["Numero", "nom", "prenom", "adresse"]  # type: ignore[attr-defined]
    assert layout.number_column == "Numero"  # type: ignore[attr-defined]
    assert rows[0] == {
        "Numero": "0662000000",
        "nom": "Durant",
        "prenom": "Pierre",
        "adresse": "xx rue montaigne Paris",
    }
    assert len(rows) == 2


def test_bom_quoted_latin1(server: _Server) -> None:
    layout, rows = _fetch_rows(_url(server, "/bom.csv"))
    assert layout.encoding == "utf-8-sig" and rows == [  # type: ignore[attr-defined]
        {"number": "+33612345678", "name": "Zoé"}
    ]
    layout, rows = _fetch_rows(_url(server, "/quoted.csv"))
    assert layout.delimiter == ","  # type: ignore[attr-defined]
    assert rows == [
        {"number": "+33612345678", "name": "Dupont, Jean", "address": '1 rue X; bât "B"\nParis'}
    ]
    layout, rows = _fetch_rows(_url(server, "/latin1.csv"))
    assert layout.encoding == "cp1252"  # type: ignore[attr-defined]
    assert layout.number_column == "numéro"  # type: ignore[attr-defined]
    assert rows == [{"numéro": "0612345678", "prénom": "Hélène"}]


def test_invalid_numbers_and_duplicates_are_just_rows(server: _Server) -> None:
    _, rows = _fetch_rows(_url(server, "/invalid.csv"))
    assert len(rows) == 100 and rows[0] == {"number": "not-a-number-0"}
    _, rows = _fetch_rows(_url(server, "/dupes.csv"))
    assert [r["n"] for r in rows] == ["a", "b", "c", "d"]


def test_empty_and_garbage(server: _Server) -> None:
    with pytest.raises(CsvError, match="empty"):
        _fetch_rows(_url(server, "/empty.csv"))
    start = time.monotonic()
    with pytest.raises(CsvError, match="binary"):
        _fetch_rows(_url(server, "/garbage.bin"))
    assert time.monotonic() - start < 5


def test_gzip_content_encoding_is_decoded(server: _Server) -> None:
    assert _fetch(_url(server, "/gzip.csv"), allow_private=True) == COOKBOOK


# --- limits -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big.csv", "/big-no-length.csv", "/bomb.csv"])
def test_too_large(server: _Server, path: str) -> None:
    with pytest.raises(FetchError, match="larger than 1 kB") as exc:
        _fetch(_url(server, path), allow_private=True, limits=FetchLimits(max_bytes=1024))
    assert exc.value.field == "receiversDocumentUrl"
    assert str(exc.value).startswith("receiversDocumentUrl: ")


def test_unsupported_encoding(server: _Server) -> None:
    with pytest.raises(FetchError, match="Content-Encoding 'br'"):
        _fetch(_url(server, "/brotli.csv"), allow_private=True)


def test_http_error_status(server: _Server) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        _fetch(_url(server, "/missing.csv"), allow_private=True)


def test_redirects_followed_and_bounded(server: _Server) -> None:
    assert _fetch(_url(server, "/r/5"), allow_private=True) == COOKBOOK
    assert _fetch(_url(server, "/to-absolute"), allow_private=True) == COOKBOOK
    with pytest.raises(FetchError, match="more than 5 redirects"):
        _fetch(_url(server, "/r/6"), allow_private=True)
    with pytest.raises(FetchError, match="more than 2 redirects"):
        _fetch(_url(server, "/r/3"), allow_private=True, limits=FetchLimits(max_redirects=2))


def test_server_that_never_answers() -> None:
    with socket.socket() as listener:  # kernel completes the handshake; nobody reads
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x.csv"
        start = time.monotonic()
        with pytest.raises(FetchError, match="did not answer within 0.5 s"):
            _fetch(url, allow_private=True, limits=FetchLimits(read_timeout=0.5))
        assert time.monotonic() - start < 3


def test_total_timeout(server: _Server) -> None:
    start = time.monotonic()
    with pytest.raises(FetchError, match="did not complete within 0.5 s"):
        _fetch(_url(server, "/trickle"), allow_private=True, limits=FetchLimits(total_timeout=0.5))
    assert time.monotonic() - start < 3


def test_total_timeout_bounds_a_server_trickling_its_headers(server: _Server) -> None:
    """fetch_timeout bounds the whole download, not each read: headers trickled a byte at a time stop at the deadline."""
    start = time.monotonic()
    with pytest.raises(FetchError, match="did not complete within 1 s"):
        _fetch(_url(server, "/trickle-head"), allow_private=True, limits=FetchLimits(total_timeout=1.0))
    assert time.monotonic() - start < 1.8


def test_downloads_wait_together_on_one_event_loop() -> None:
    """Twenty downloads from a server that never answers hold no thread each: together they take one timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x.csv"

        async def stalled() -> list[BaseException | int]:
            threads = threading.active_count()
            files = [tempfile.TemporaryFile() for _ in range(20)]
            downloads = [asyncio.ensure_future(fetch_to_file_async(url, f, allow_private=True, limits=FetchLimits(total_timeout=1.0)))
                         for f in files]
            await asyncio.sleep(0.5)
            assert threading.active_count() <= threads + 1  # name lookups are done; nobody holds a thread
            try:
                return await asyncio.gather(*downloads, return_exceptions=True)
            finally:
                for f in files:
                    f.close()

        start = time.monotonic()
        outcomes = asyncio.run(stalled())
        assert time.monotonic() - start < 2.5
        assert all(isinstance(o, FetchError) and "did not complete within 1 s" in o.message for o in outcomes)


# --- SSRF guard ---------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.form)
def test_every_attack_form_is_refused(attack: Attack, loopback) -> None:
    with pytest.raises(FetchError) as refused:
        _fetch(attack.at(loopback[0].port))
    assert re.search(attack.refusal, refused.value.message), refused.value.message
    assert loopback[0].received() == [] and loopback[1].received() == []


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.csv", "file:///etc/passwd", "gopher://x/", "not a url"]
)
def test_only_http_schemes(url: str) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        _fetch(url)


def test_every_redirect_hop_is_checked(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    trust_only(monkeypatch, "127.0.0.1")  # the fixture server counts as "public" here
    assert _fetch(_url(server, "/cookbook.csv")) == COOKBOOK
    with pytest.raises(FetchError, match="address 169.254.169.254 is link-local, refused"):
        _fetch(_url(server, "/to-metadata"))
    with pytest.raises(FetchError, match="address 127.0.0.2 is loopback, refused"):
        _fetch(_url(server, "/to-loopback-2"))
    with pytest.raises(FetchError, match="redirected to 'file:///etc/passwd': only http"):
        _fetch(_url(server, "/to-file"))


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.form)
def test_a_redirect_to_any_attack_form_is_refused_at_that_hop(attack: Attack, loopback, monkeypatch: pytest.MonkeyPatch) -> None:
    trust_only(monkeypatch, "127.0.0.2")  # the first hop: a public server that redirects
    with CallbackSink("127.0.0.2") as first:
        first.location = attack.at(loopback[0].port)
        for status in (301, 302, 303, 307, 308):
            first.answer = lambda request, status=status: status
            with pytest.raises(FetchError) as refused:
                _fetch(first.url("/list.csv"))
            # a Location that is no URL is refused by httpx itself, as it reads the answer
            assert re.search(f"{attack.refusal}|Invalid URL in location header", refused.value.message), (status, refused.value.message)
        assert len(first.received()) == 5
    assert loopback[0].received() == [] and loopback[1].received() == []


def test_connects_to_the_vetted_address(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is resolved once; httpx is pointed at the IP, Host keeps the name."""
    dns = FakeDns(monkeypatch)
    dns.answer("csv.example.test", ["127.0.0.1"])
    port = server.server_address[1]
    data = _fetch(f"http://csv.example.test:{port}/host", allow_private=True)
    assert data == f"number\ncsv.example.test:{port}\n".encode()
    assert dns.calls == ["csv.example.test"]


def test_the_download_goes_to_the_address_checked_and_a_rebound_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The download comes from the address the guard checked, the name in ``Host``; once the name
    turns to 127.0.0.1 the next download is refused before connecting."""
    with rebinding(monkeypatch) as scene:
        assert _fetch(scene.url("/list.csv")) == b"ok"
        assert scene.dns.calls == ["localhost"] and [r.host for r in scene.checked.received()] == [f"localhost:{scene.checked.port}"]
        with pytest.raises(FetchError, match="host 'localhost' does not resolve to public addresses only, refused"):
            _fetch(scene.url("/list.csv"))
        assert scene.loopback.received() == [] and len(scene.checked.received()) == 1


def test_any_non_public_answer_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDns(monkeypatch).answer("mixed.example.test", ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(FetchError, match=r"host 'mixed.example.test' does not resolve to public addresses only") as refused:
        _fetch("http://mixed.example.test/a.csv")
    assert "10.0.0.5" not in str(refused.value)  # resolved addresses are never shown


def test_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDns(monkeypatch)
    with pytest.raises(FetchError, match="could not resolve host 'nowhere.example.test'"):
        _fetch("http://nowhere.example.test/a.csv")


# --- HTTPS: SNI and certificate checked against the name, not the pinned IP ---


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Server, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=csv.example.test",
         "-addext", "subjectAltName=DNS:csv.example.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for srv in _serve(context):
        srv.routes["/cookbook.csv"] = _body(COOKBOOK)
        yield srv, cert


def test_https_pinned_ip_with_sni(
    tls_server: tuple[_Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, cert = tls_server
    port = srv.server_address[1]
    dns = FakeDns(monkeypatch)
    dns.answer("csv.example.test", ["127.0.0.1"])
    dns.answer("other.example.test", ["127.0.0.1"])
    verify = ssl.create_default_context(cafile=str(cert))
    url = f"https://csv.example.test:{port}/cookbook.csv"
    assert _fetch(url, allow_private=True, verify=verify) == COOKBOOK
    with pytest.raises(FetchError, match="could not connect to other.example.test"):
        _fetch(url.replace("csv.", "other."), allow_private=True, verify=verify)
