"""The dashboard's charts: inline SVG written on the server, the one place pages draw them.

Two shapes: ``bars`` (horizontal, one row per category: a funnel, errors by ptt, the queue's
stages) and ``columns`` (vertical, an ordered series: a histogram, a value per day). Each
returns a ``<figure>``: its caption, an ``<svg role="img">`` with its ``<title>`` and the values
written beside the bars (where they fit), and every value in a small table (under ``<details>``,
no script) for screen readers, narrow screens and tests. Lengths are proportional to the values, from 0
to the largest; a chart with nothing to show says so in words (``empty``) instead of drawing
empty axes. Every text is escaped. The ``viewBox`` scales the drawing to the page's width, so a
phone shows the whole chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

__all__ = ["Bar", "bars", "columns", "compact"]

TONES = {"main": "#3b6fd8", "good": "#2e8b57", "loss": "#c83b3b", "neutral": "#9aa3b2"}
"""Fill of a bar by its ``tone``."""

BARS_WIDTH = 320
BARS_ROW = 34
BARS_LENGTH = 200
"""The longest bar of ``bars`` (the rest of the width holds its value, such as "1234 (100.0 %)")."""

COLUMNS_WIDTH = 320
COLUMNS_TOP = 18
COLUMNS_HEIGHT = 150
"""The tallest column of ``columns``."""
COLUMN_WIDEST = 48
CHARACTER = 6
"""About the width of a character of a column's labels (font size 10): labels wider than their
column are slanted."""
LINE = 11
"""The height of a slanted label's line: columns narrower than this label every n-th one."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One value of a chart."""

    label: str
    value: float
    text: str | None = None
    """How the value reads (default: the number itself)."""
    tone: str = "main"
    """``TONES``: ``main``, ``good``, ``loss`` or ``neutral``."""
    hint: str = ""
    """A longer explanation, shown as the bar's tooltip."""

    @property
    def reads(self) -> str:
        return self.text if self.text is not None else _number(self.value)


def compact(value: float) -> str:
    """A short form of a number for a label under a column: 950, 12k, 3.4M."""
    if abs(value) >= 999_500:
        return f"{value / 1e6:.1f}M".replace(".0M", "M")
    if abs(value) >= 10_000:
        return f"{value / 1e3:.0f}k"
    return _number(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _top(data: Sequence[Bar]) -> float:
    return max((b.value for b in data), default=0.0)


def _length(value: float, top: float, longest: float) -> float:
    return round(longest * max(value, 0.0) / top, 1) if top > 0 else 0.0


def _tip(bar: Bar) -> str:
    return f"{bar.label}: {bar.reads}" + (f" ({bar.hint})" if bar.hint else "")


def _figure(chart_id: str, title: str, svg: str, data: Sequence[Bar] = (), *, empty: bool = False) -> Markup:
    cid = escape(chart_id)
    rows = "".join(
        f'<tr data-label="{escape(b.label)}"><th scope="row">{escape(b.label)}</th><td class="num">{escape(b.reads)}</td></tr>'
        for b in data
    )
    values = f'<details><summary>Values</summary><table class="chart-values"><tbody>{rows}</tbody></table></details>' if rows else ""
    return Markup(
        f'<figure class="chart{" empty" if empty else ""}" id="{cid}"><figcaption>{escape(title)}</figcaption>{svg}{values}</figure>'
    )


def _svg(chart_id: str, title: str, width: int, height: int, body: str) -> str:
    """An image of ``width`` × ``height`` units drawn as wide as its box, named by its ``<title>``."""
    cid = escape(chart_id)
    return (f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="{cid}-title">'
            f'<title id="{cid}-title">{escape(title)}</title>{body}</svg>')


def _empty(chart_id: str, title: str, message: str) -> Markup:
    text = f'<text class="no-data" x="{BARS_WIDTH // 2}" y="25" font-size="14" text-anchor="middle">{escape(message)}</text>'
    return _figure(chart_id, title, _svg(chart_id, title, BARS_WIDTH, 40, text), empty=True)


def _has_data(data: Sequence[Bar]) -> bool:
    return any(b.value > 0 for b in data)


def bars(chart_id: str, title: str, data: Sequence[Bar], *, empty: str = "No data yet") -> Markup:
    """Horizontal bars, one row each: the label above its bar, the value at the bar's end."""
    if not _has_data(data):
        return _empty(chart_id, title, empty)
    top = _top(data)
    body = []
    for i, b in enumerate(data):
        y, length = i * BARS_ROW, _length(b.value, top, BARS_LENGTH)
        body.append(
            f'<g class="bar" data-label="{escape(b.label)}" data-value="{escape(_number(b.value))}"><title>{escape(_tip(b))}</title>'
            f'<text x="0" y="{y + 12}" font-size="12">{escape(b.label)}</text>'
            f'<rect x="0" y="{y + 16}" width="{length}" height="12" fill="{TONES.get(b.tone, TONES["main"])}"/>'
            f'<text class="value" x="{length + 4}" y="{y + 27}" font-size="12">{escape(b.reads)}</text></g>'
        )
    return _figure(chart_id, title, _svg(chart_id, title, BARS_WIDTH, len(data) * BARS_ROW + 4, "".join(body)), data)


def columns(chart_id: str, title: str, data: Sequence[Bar], *, empty: str = "No data yet") -> Markup:
    """Vertical columns in the order given, their values above them (when there is room) and
    their labels under them: level when they fit, else slanted (every n-th one when even
    slanted labels would overlap)."""
    if not _has_data(data):
        return _empty(chart_id, title, empty)
    top, slot = _top(data), (COLUMNS_WIDTH - 8) / len(data)
    width, longest = min(slot * 0.7, COLUMN_WIDEST), CHARACTER * max(len(b.label) for b in data)
    level = longest + 2 <= slot
    every = 1 if level else max(1, math.ceil(LINE / slot))
    base = COLUMNS_TOP + COLUMNS_HEIGHT
    body = [f'<line x1="4" y1="{base}" x2="{COLUMNS_WIDTH - 4}" y2="{base}" stroke="#9aa3b2"/>']
    for i, b in enumerate(data):
        x, height = 4 + i * slot, _length(b.value, top, COLUMNS_HEIGHT)
        middle = round(x + slot / 2, 1)
        parts = [
            f'<g class="bar" data-label="{escape(b.label)}" data-value="{escape(_number(b.value))}"><title>{escape(_tip(b))}</title>',
            f'<rect x="{round(x + (slot - width) / 2, 1)}" y="{round(base - height, 1)}" width="{round(width, 1)}" height="{height}" '
            f'fill="{TONES.get(b.tone, TONES["main"])}"/>',
        ]
        if slot >= CHARACTER * len(compact(b.value)) and b.value > 0:
            parts.append(f'<text class="value" x="{middle}" y="{round(base - height - 4, 1)}" font-size="10" '
                         f'text-anchor="middle">{escape(compact(b.value))}</text>')
        if i % every == 0:
            where = (f'x="{middle}" y="{base + 14}" text-anchor="middle"' if level else
                     f'x="{middle + 3}" y="{base + 10}" text-anchor="end" transform="rotate(-45 {middle + 3} {base + 10})"')
            parts.append(f'<text {where} font-size="10">{escape(b.label)}</text>')
        body.append("".join(parts) + "</g>")
    below = 20 if level else math.ceil(longest * 0.72) + 14
    return _figure(chart_id, title, _svg(chart_id, title, COLUMNS_WIDTH, base + below, "".join(body)), data)
