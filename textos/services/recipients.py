"""The recipients of a job: numbers read, checked, deduplicated, texts rendered and priced.

:func:`price` turns receiver rows (a request's list, or the rows of a CSV document)
into message rows (``storage.message_rows.Row``), handed to ``emit`` chunk by chunk
so that memory stays bounded whatever the size of the document:

- each number is normalised (``FastReceivers``: a fast path, phonenumbers otherwise)
  and kept when its country is allowed; the first occurrence of a number wins;
- with a document whose columns the message names (``#prenom#``), each recipient's
  text is rendered (mail merge) — a missing column, an empty value or a character no
  network delivers (``domain.encoding.check_characters``) refuses the job;
- each recipient is charged for the parts its text is sent in on *its* route:
  ``analyze(text, concat_for(e164))`` (a carrier tying parts with a 16-bit reference
  fits one septet less per part), times the credit rate of its country.

A refusal (``BadRequest``) happens here, before anything is written or charged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from textos.config import Settings
from textos.domain.encoding import Concatenation, TextInfo, analyze, check_characters
from textos.domain.errors import BadRequest
from textos.domain.numbers import INVALID, FastReceivers, InvalidReceiver
from textos.receivers.merge import MergeError, Template, find_placeholders
from textos.receivers.receivers_csv import CsvError
from textos.storage.message_rows import Row

__all__ = [
    "CHUNK", "MAX_PARTS", "ConcatFor", "Priced", "Recipients", "Texts", "compose_text", "describe_text", "price",
    "udh8_everywhere",
]  # fmt: skip

MAX_PARTS = 255
CHUNK = 20_000
PROGRESS_EVERY = 0.5  # seconds between progress reports

ConcatFor = Callable[[str], Concatenation]
"""How long messages to a receiver (E.164) are tied together: the concatenation of its route."""


def udh8_everywhere(e164: str) -> Concatenation:
    """The default rule: every route ties long messages with an 8-bit UDH reference."""
    return Concatenation.UDH8


def compose_text(message: str, no_stop_clause: bool, settings: Settings) -> str:
    """The text as it reaches the handset: the STOP clause is part of it unless waived."""
    return message if no_stop_clause else message + settings.stop_clause


def describe_text(text: str, concat: Concatenation = Concatenation.UDH8) -> TextInfo:
    """Encoding and parts of ``text`` tied with ``concat``; refuses texts networks cannot carry."""
    info = analyze(text, concat)
    if info.parts > MAX_PARTS:
        raise BadRequest(f"message: {info.parts} parts, more than the {MAX_PARTS} a concatenated SMS can have")
    return info


class Texts:
    """Parts of a text as each receiver's route sends it; cached per ``(text, concatenation)``."""

    CACHED = 4096

    def __init__(self, concat_for: ConcatFor | None = None) -> None:
        self.concat_for = concat_for or udh8_everywhere
        self._cache: dict[tuple[str, Concatenation], TextInfo] = {}

    def describe(self, text: str, e164: str) -> TextInfo:
        """``describe_text(text, concat_for(e164))``; the route is asked only for long texts."""
        info = self._info(text, Concatenation.UDH8)
        if info.parts == 1:  # one part: no concatenation, the same on every route
            return info
        concat = self.concat_for(e164)
        return info if concat is Concatenation.UDH8 else self._info(text, concat)

    def _info(self, text: str, concat: Concatenation) -> TextInfo:
        key = (text, concat)
        info = self._cache.get(key)
        if info is None:
            info = describe_text(text, concat)
            if len(self._cache) < self.CACHED:  # merged texts are mostly distinct: keep the cache small
                self._cache[key] = info
        return info


@dataclass
class Recipients:
    """Receiver rows to price: mappings holding ``number_column`` (and the merge columns)."""

    rows: Iterable[Mapping[str, str]]
    number_column: str = "number"
    columns: list[str] | None = None
    """The document's columns, None for a plain list (no mail merge)."""
    line_num: Callable[[], int] = lambda: 0
    """The document line of the last row (for error messages)."""
    field: str = "receivers"
    """The request field refusals name."""

    @classmethod
    def of_list(cls, receivers: Iterable[object]) -> Recipients:
        return cls({"number": str(r)} for r in receivers)


@dataclass
class Priced:
    """What pricing found; the message rows themselves went to ``emit``."""

    job_text: str
    count: int = 0
    """Distinct valid receivers: the job's messages."""
    total_milli: int = 0
    rows_read: int = 0
    invalid: list[str] = field(default_factory=list)
    """Invalid receivers as written (at most ``report_limit``)."""
    invalid_count: int = 0
    valid_sample: list[str] = field(default_factory=list)
    """Valid receivers in E.164 (at most ``report_limit``)."""


def price(
    recipients: Recipients,
    message: str,
    stop_clause: str,
    allowed: frozenset[str],
    settings: Settings,
    texts: Texts,
    emit: Callable[[list[Row]], None],
    *,
    report_limit: int,
    progress: Callable[[int], None] | None = None,
    outside: str = "",
) -> Priced:
    """Read, validate, deduplicate, render and price every receiver, emitting rows by chunks.

    ``progress(rows_read)`` is called at most every ``PROGRESS_EVERY`` seconds; it may
    raise to stop (a batch canceled meanwhile). ``BadRequest`` when no receiver is valid (saying
    ``outside``: why destinations are restricted further, e.g. ``senderForResponse`` to France).
    """
    template: Template | None = None
    if recipients.columns is not None and find_placeholders(message, recipients.columns):
        try:
            template = Template(message, recipients.columns, empty="error")
        except MergeError as exc:
            raise BadRequest(f"message: {exc}") from None
    job_text = message + stop_clause
    job_info = describe_text(job_text)
    single = job_info.parts == 1
    encoding, characters, parts = job_info.encoding.value, job_info.characters, job_info.parts
    describe = texts.describe
    parser = FastReceivers(settings.default_region)
    decide = parser.decide_pair
    slow = parser.parse
    number_column, line_num = recipients.number_column, recipients.line_num
    rates = settings.rates
    rate_cache: dict[tuple[int, str], int] = {}

    def cost_of(parts: int, country: str) -> int:
        key = (parts, country)
        cost = rate_cache.get(key)
        if cost is None:
            cost = rate_cache[key] = rates.cost_milli(parts, country)
        return cost

    priced = Priced(job_text=job_text)
    invalid = priced.invalid
    sample = priced.valid_sample
    chunk: list[Row] = []
    last_progress = time.monotonic()
    seen: set[int] = set()  # E.164 numbers as ints: ~64 MB for a million
    seen_add = seen.add
    distinct = rows_read = invalid_count = total_milli = 0
    e164: str
    country: str
    try:
        for row in recipients.rows:
            rows_read += 1
            raw = row[number_column]
            found = decide(raw)
            if found is None:
                try:
                    receiver = slow(raw)
                    found = (receiver.e164, receiver.country)
                except InvalidReceiver:
                    found = INVALID
            if found is INVALID or found[1] not in allowed:  # type: ignore[index]
                invalid_count += 1
                if len(invalid) < report_limit:
                    invalid.append(raw)
                continue
            e164, country = found  # type: ignore[misc]
            key = int(e164[1:])
            if key in seen:
                continue
            seen_add(key)
            distinct += 1
            if template is not None:
                try:
                    text = template.render(row, line_num()) + stop_clause
                except MergeError as exc:
                    raise BadRequest(f"message: {exc}") from None
                check_characters(text, f"message: receivers CSV row {line_num()}")
                info = describe(text, e164)
                cost = cost_of(info.parts, country)
                chunk.append((e164, country, text, info.encoding.value, info.characters, info.parts, cost))
            elif single:
                cost = cost_of(parts, country)
                chunk.append((e164, country, None, encoding, characters, parts, cost))
            else:
                info = describe(job_text, e164)
                cost = cost_of(info.parts, country)
                chunk.append((e164, country, None, info.encoding.value, info.characters, info.parts, cost))
            total_milli += cost
            if len(sample) < report_limit:
                sample.append(e164)
            if len(chunk) >= CHUNK:
                emit(chunk)
                chunk = []
                now = time.monotonic()
                if progress is not None and now - last_progress >= PROGRESS_EVERY:
                    last_progress = now
                    progress(rows_read)
        if chunk:
            emit(chunk)
    except CsvError as exc:
        raise BadRequest(f"{recipients.field}: {exc}") from None
    finally:
        priced.count, priced.rows_read, priced.invalid_count, priced.total_milli = distinct, rows_read, invalid_count, total_milli
        close = getattr(recipients.rows, "close", None)
        if close is not None:
            close()
    if not distinct:
        shown = ", ".join(invalid[:10])
        raise BadRequest(
            f"{recipients.field}: no valid receiver (invalid or outside allowed countries "
            f"{', '.join(sorted(allowed)) or 'none'}{'; ' + outside if outside else ''}){': ' + shown if shown else ''}"
        )
    return priced
