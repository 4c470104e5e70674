"""observability/logs.py: one JSON object per line, with the request id of the request being answered."""

from __future__ import annotations

import json
import logging

import pytest

from textos.observability import logs


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.getLogger("textos.test").makeRecord("textos.test", logging.WARNING, __file__, 1, message, args or ("world",), None)
    rec.__dict__.update(extra)
    return rec


def test_a_record_is_one_json_line_with_its_extra_fields():
    line = logs.JsonFormatter().format(record(route="/1.0/x", status=200))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world" and entry["level"] == "WARNING" and entry["logger"] == "textos.test"
    assert entry["route"] == "/1.0/x" and entry["status"] == 200 and "request_id" not in entry
    assert entry["time"].endswith("+00:00")


def test_inside_a_request_the_line_carries_its_query_id():
    token = logs.request_id.set("TX.0123456789abcdef")
    try:
        entry = json.loads(logs.JsonFormatter().format(record()))
    finally:
        logs.request_id.reset(token)
    assert entry["request_id"] == "TX.0123456789abcdef"


def test_a_traceback_stays_inside_the_line():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        rec = record()
        rec.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(rec)
    assert len(line.splitlines()) == 1 and "ValueError: boom" in json.loads(line)["exception"]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="one of text, json"):
        logs.configure("yaml")
