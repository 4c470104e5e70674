"""An answer's headers and body leave in one write; nothing is lost, reordered or held past its turn."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Iterator

import pytest
import uvicorn

from textos.http_writes import GatheredWrites, GatheringHttpToolsProtocol
from textos.server import http_stack


class RecordingTransport:
    """What a transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def _turns(*steps) -> RecordingTransport:  # type: ignore[no-untyped-def]
    """Runs each step (given the gathered writes) in a loop turn of its own; returns what reached the transport."""
    transport = RecordingTransport()

    async def main() -> None:
        gathered = GatheredWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        for step in steps:
            step(gathered)
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    asyncio.run(main())
    return transport


def test_the_writes_of_one_turn_reach_the_transport_as_one_in_their_order() -> None:
    transport = _turns(lambda t: (t.write(b"HTTP/1.1 200 OK\r\n\r\n"), t.write(b"{}")))
    assert transport.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}")]


def test_writes_of_later_turns_are_sent_in_their_own_turn() -> None:
    transport = _turns(lambda t: t.write(b"a"), lambda t: t.write(b"b"))
    assert transport.calls == [("write", b"a"), ("write", b"b")]


def test_closing_sends_what_is_held_first() -> None:
    transport = _turns(lambda t: (t.write(b"bye"), t.close()))
    assert transport.calls == [("write", b"bye"), ("close", b"")]


def test_what_is_held_when_the_connection_closed_underneath_is_dropped_as_the_transport_would() -> None:
    def write_then_lose(t: GatheredWrites) -> None:
        t.write(b"late")
        transport_of(t).closing = True

    transport = _turns(write_then_lose)
    assert transport.calls == []


def test_everything_else_is_the_transports() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert GatheredWrites(RecordingTransport(), loop).get_extra_info("peername") == "info:peername"  # type: ignore[arg-type]
    finally:
        loop.close()


def transport_of(gathered: GatheredWrites) -> RecordingTransport:
    return gathered._transport  # type: ignore[return-value]


def test_textos_serves_with_the_gathering_protocol_when_httptools_is_installed() -> None:
    assert http_stack()["http"] == "textos.http_writes:GatheringHttpToolsProtocol"


async def _app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Answers ``/stream`` in three body parts (more_body), anything else with its path as JSON."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": part != b"three"})
            await asyncio.sleep(0.01)
        return
    body = b'{"path":"%s"}' % scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app, host="127.0.0.1", port=port, http=GatheringHttpToolsProtocol,
                                           loop="asyncio", log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(10)


def _read_until(sock: socket.socket, count: int, marker: bytes) -> bytes:
    data = b""
    while data.count(marker) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_kept_alive_connection_gets_each_answer_whole_and_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        data = _read_until(sock, 2, b'"}')
    first, second = data.split(b"HTTP/1.1 200 OK")[1:]
    assert first.endswith(b'{"path":"/first"}') and second.endswith(b'{"path":"/second"}')


def test_a_streamed_answer_arrives_in_full(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        data = _read_until(sock, 1, b"0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK") and b"one," in data and b"two," in data and data.endswith(b"5\r\nthree\r\n0\r\n\r\n")


def test_a_malformed_request_gets_its_400_before_the_connection_closes(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request") and b"connection: close" in data
