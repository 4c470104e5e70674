"""One send per answer: uvicorn's httptools protocol with the writes of one event-loop turn gathered.

uvicorn writes an answer's status line and headers when the app sends
``http.response.start``, then its body on ``http.response.body``: two ``send`` system
calls for every small JSON answer, each one running the loopback peer's receive path in
the kernel too (about 10 % of the API process's time under the on-the-fly load,
docs/BENCHMARKS.md). ``GatheredWrites`` holds what is written during one turn of the
event loop and sends it in one call at the end of that turn; closing the connection
sends what is held first. Order and flow control are unchanged (the transport underneath
still buffers and pauses the protocol as before).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GatheredWrites", "GatheringHttpToolsProtocol"]


class GatheredWrites:
    """A transport whose ``write``s of one loop turn go to the one underneath as one."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is held now (a closed connection drops it, as its transport would)."""
        if not self._held:
            return
        held, self._held = self._held, []
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, abort …
        return getattr(self._transport, name)


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through ``GatheredWrites`` (``http=`` of uvicorn's config)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(GatheredWrites(transport, self.loop))  # type: ignore[arg-type]
