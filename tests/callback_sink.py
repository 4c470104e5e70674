"""A real HTTP receiver on loopback for callback tests: records every request, answers as told.

    with CallbackSink() as sink:
        url = sink.url("/dlr")                 # http://127.0.0.1:PORT/dlr
        sink.answer = lambda request: 500      # optional: the status to answer (default 200)
        ...
        requests = sink.wait_for(2, path="/dlr")
        assert requests[0].query["ptt"] == "4"
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class SinkRequest:
    """One request the sink received."""

    method: str
    path: str
    query: dict[str, str]
    """The query string (the last value of a repeated name)."""
    body: bytes
    at: float = field(default_factory=time.monotonic)
    host: str = ""
    """The ``Host`` header: the name the caller was given, whatever address it connected to."""


class CallbackSink:
    """An HTTP server on 127.0.0.1 (a free port) in a thread of its own; or on ``host`` (another
    loopback address, ``::1``) and ``port``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[SinkRequest] = []
        self.answer: Callable[[SinkRequest], int] = lambda request: 200
        """The status to answer each request with (it is recorded whatever the answer)."""
        self.delay: float = 0.0
        """Seconds to wait before answering."""
        self.location: str | None = None
        """A ``Location`` header to answer with (a redirect, with a 3xx ``answer``)."""
        self.body: bytes = b"ok"
        """What every answer holds (a receivers document, for a download)."""
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = SinkRequest(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                                      self.rfile.read(length) if length else b"", host=self.headers.get("Host", ""))
                with sink._lock:
                    sink.requests.append(request)
                if sink.delay:
                    time.sleep(sink.delay)
                status = sink.answer(request)
                self.send_response(status)
                if sink.location is not None:
                    self.send_header("Location", sink.location)
                self.send_header("Content-Length", str(len(sink.body)))
                self.end_headers()
                self.wfile.write(sink.body)

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6}) if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="callback-sink", daemon=True)

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def received(self, path: str | None = None) -> list[SinkRequest]:
        """Requests received so far (to ``path`` only, if given), in arrival order."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, *, path: str | None = None, timeout: float = 20.0) -> list[SinkRequest]:
        """Wait until at least ``count`` requests (to ``path``) came; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received(path)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"callback sink: {len(got)} of {count} requests to {path or 'any path'} within {timeout} s: {got}")
            time.sleep(0.02)

    def __enter__(self) -> CallbackSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def sinks_on_one_port(*hosts: str, attempts: int = 50) -> Iterator[tuple[CallbackSink, ...]]:
    """Sinks on each of ``hosts``, all on one port: the first host's free port, tried again on
    another when a later host already has that port taken (by another test process, say)."""
    for attempt in range(attempts):
        with contextlib.ExitStack() as stack:
            try:
                first = stack.enter_context(CallbackSink(hosts[0]))
                sinks = (first, *(stack.enter_context(CallbackSink(host, first.port)) for host in hosts[1:]))
            except OSError as e:
                if e.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            yield sinks
            return
