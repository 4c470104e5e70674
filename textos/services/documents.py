"""Receivers documents: downloaded within the settings' limits, read as rows, counted.

``textos.receivers`` does the work (SSRF-guarded fetch, CSV reading); this module
applies the deployment's settings and turns their refusals into ``BadRequest``
naming the request field the document came from.
"""

from __future__ import annotations

from typing import IO

from textos.config import Settings
from textos.domain.errors import BadRequest
from textos.receivers.fetch import FetchError, FetchLimits, fetch_to_file
from textos.receivers.receivers_csv import CsvError, CsvLayout, Receivers, read_receivers

__all__ = ["count_rows", "download", "fetch_limits", "read_rows"]


def fetch_limits(settings: Settings, max_bytes: int | None = None) -> FetchLimits:
    timeout = float(settings.fetch_timeout)
    return FetchLimits(
        max_bytes=max_bytes or settings.bulk_max_bytes,
        total_timeout=timeout,
        connect_timeout=min(10.0, timeout),
        read_timeout=min(30.0, timeout),
    )


def download(url: str, dest: IO[bytes], settings: Settings, field: str, max_bytes: int | None = None) -> int:
    """Fetch ``url`` into ``dest`` (SSRF-guarded, bounded); BadRequest naming ``field``."""
    try:
        return fetch_to_file(url, dest, allow_private=settings.fetch_allow_private, limits=fetch_limits(settings, max_bytes))
    except FetchError as exc:
        raise BadRequest(f"{field}: {exc.message}") from None


def read_rows(path: str, settings: Settings, field: str) -> tuple[CsvLayout, Receivers]:
    """The layout and lazy rows of the document at ``path``; BadRequest naming ``field``."""
    try:
        return read_receivers(path, max_rows=settings.bulk_max_rows)
    except CsvError as exc:
        raise BadRequest(f"{field}: {exc}") from None


def count_rows(path: str, settings: Settings, field: str) -> int:
    """How many receiver rows the document at ``path`` holds (reading it whole: it must be usable)."""
    _layout, rows = read_rows(path, settings, field)
    try:
        with rows:
            return sum(1 for _ in rows)
    except CsvError as exc:
        raise BadRequest(f"{field}: {exc}") from None
