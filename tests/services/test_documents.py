"""Receivers documents (services/documents.py): the settings' limits apply, refusals name the request field."""

from __future__ import annotations

import io

import pytest

from textos.config import Settings
from textos.domain.errors import BadRequest
from textos.services.documents import count_rows, download, fetch_limits


def test_limits_follow_the_settings():
    limits = fetch_limits(Settings(fetch_timeout=5.0, bulk_max_bytes=1000))
    assert (limits.max_bytes, limits.total_timeout, limits.connect_timeout, limits.read_timeout) == (1000, 5.0, 5.0, 5.0)
    assert fetch_limits(Settings(), max_bytes=10).max_bytes == 10


def test_a_refused_download_names_the_field():
    with pytest.raises(BadRequest, match="csvUrl: .*loopback"):
        download("http://127.0.0.1:9/x.csv", io.BytesIO(), Settings(fetch_allow_private=False), "csvUrl")


def test_rows_are_counted_and_unusable_documents_refused(tmp_path):
    good, empty = tmp_path / "good.csv", tmp_path / "empty.csv"
    good.write_text("number\n+33612345678\n+33612345679\n")
    empty.write_text("")
    assert count_rows(str(good), Settings(), "csv") == 2
    with pytest.raises(BadRequest, match="csv: receivers CSV is empty"):
        count_rows(str(empty), Settings(), "csv")
    with pytest.raises(BadRequest, match="csv: .*more than 1"):
        count_rows(str(good), Settings(bulk_max_rows=1), "csv")
