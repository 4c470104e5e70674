"""The test sink itself: sinks sharing one port survive a port already taken on a later host."""

import errno
import urllib.request

import callback_sink
import pytest
from callback_sink import CallbackSink, sinks_on_one_port


def test_sinks_on_one_port_share_the_port_and_each_hears_its_own_requests():
    with sinks_on_one_port("127.0.0.2", "127.0.0.1") as (first, second):
        assert first.port == second.port
        urllib.request.urlopen(first.url("/a"), timeout=5).read()
        urllib.request.urlopen(second.url("/b"), timeout=5).read()
        assert [r.path for r in first.received()] == ["/a"]
        assert [r.path for r in second.received()] == ["/b"]


def test_sinks_on_one_port_try_another_port_when_a_later_host_has_it_taken(monkeypatch: pytest.MonkeyPatch):
    tried: list[tuple[str, int]] = []

    class Taken(CallbackSink):
        def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
            tried.append((host, port))
            if port and len(tried) == 2:
                raise OSError(errno.EADDRINUSE, "Address already in use")
            super().__init__(host, port)

    monkeypatch.setattr(callback_sink, "CallbackSink", Taken)
    with sinks_on_one_port("127.0.0.2", "127.0.0.1") as (first, second):
        assert first.port == second.port
    assert [host for host, _ in tried] == ["127.0.0.2", "127.0.0.1", "127.0.0.2", "127.0.0.1"]
