"""Receivers documents (services/documents.py): the settings' limits apply, refusals name the request field,
an account has at most ``fetch_max_per_account`` documents downloading."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from typing import Any

import pytest
from helpers import wait_until

from textos.config import Settings
from textos.domain.errors import BadRequest, TooManyRequests
from textos.services import documents
from textos.services.documents import count_rows, download, downloading, fetch_limits, fetched


def test_limits_follow_the_settings():
    limits = fetch_limits(Settings(fetch_timeout=5.0, bulk_max_bytes=1000))
    assert (limits.max_bytes, limits.total_timeout, limits.connect_timeout, limits.read_timeout) == (1000, 5.0, 5.0, 5.0)
    assert fetch_limits(Settings(), max_bytes=10).max_bytes == 10


def test_a_refused_download_names_the_field():
    with pytest.raises(BadRequest, match="csvUrl: .*loopback"):
        download("http://127.0.0.1:9/x.csv", io.BytesIO(), Settings(fetch_allow_private=False), "csvUrl", 1)


def test_rows_are_counted_and_unusable_documents_refused(tmp_path):
    good, empty = tmp_path / "good.csv", tmp_path / "empty.csv"
    good.write_text("number\n+33612345678\n+33612345679\n")
    empty.write_text("")
    assert count_rows(str(good), Settings(), "csv") == 2
    with pytest.raises(BadRequest, match="csv: receivers CSV is empty"):
        count_rows(str(empty), Settings(), "csv")
    with pytest.raises(BadRequest, match="csv: .*more than 1"):
        count_rows(str(good), Settings(bulk_max_rows=1), "csv")


class _Held:
    """Downloads that last until released: awaited ones on an asyncio event, blocking ones on a thread event."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = asyncio.Event()
        self.release_blocking = threading.Event()

        async def fetch_async(url: str, dest: Any, **_: object) -> int:
            await self.release.wait()
            return dest.write(b"number\n+33612345678\n")

        def fetch(url: str, dest: Any, **_: object) -> int:
            assert self.release_blocking.wait(10)
            return dest.write(b"number\n+33612345678\n")

        monkeypatch.setattr(documents, "fetch_to_file_async", fetch_async)
        monkeypatch.setattr(documents, "fetch_to_file", fetch)


def test_an_account_has_at_most_fetch_max_per_account_downloads_then_is_refused(monkeypatch):
    settings = Settings(fetch_max_per_account=2)

    async def scenario() -> None:
        held = _Held(monkeypatch)

        async def fetch(account_id: int) -> str:
            async with fetched("https://files.example/a.csv", settings, "receiversDocumentUrl", account_id) as path:
                assert os.path.exists(path)
                return path

        first = [asyncio.ensure_future(fetch(1)) for _ in range(2)]
        other = asyncio.ensure_future(fetch(2))  # another account is not counted with the first
        await asyncio.sleep(0.05)
        assert (downloading(1), downloading(2)) == (2, 1)
        with pytest.raises(TooManyRequests, match="receiversDocumentUrl: this account already has 2 receivers documents downloading"):
            await fetch(1)
        held.release.set()
        paths = await asyncio.gather(*first, other)
        assert not any(os.path.exists(p) for p in paths)  # removed after use
        assert (downloading(1), downloading(2)) == (0, 0)
        assert await fetch(1)  # places are given back

    asyncio.run(scenario())


def test_a_blocking_download_waits_for_a_free_place(monkeypatch):
    """Background batches (blocking downloads) wait their turn instead of being refused."""
    held, settings = _Held(monkeypatch), Settings(fetch_max_per_account=1)
    done: list[int] = []

    def background() -> None:
        done.append(download("https://files.example/a.csv", io.BytesIO(), settings, "receiversSlotId", 7))

    threads = [threading.Thread(target=background) for _ in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: downloading(7) == 1, timeout=5, what="one download under way")
    assert done == [] and all(t.is_alive() for t in threads)  # the second waits its turn
    held.release_blocking.set()
    for t in threads:
        t.join(10)
    assert len(done) == 2 and downloading(7) == 0
