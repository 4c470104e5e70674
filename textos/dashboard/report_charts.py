"""A campaign report (``services.reports.Report``) as the campaign page shows it: the series of
its four charts (drawn by ``dashboard.charts``) and how its rates and durations read.

* **Delivery funnel**: accepted → handed to a carrier (and settled there: delivered, failed or
  without receipt) → delivered, each stage followed by what it lost (rejected, expired,
  cancelled or STOP-listed before sending; failed or without receipt after), and the messages
  not final yet apart.
* **Delivery time**: the report's histogram bars, labelled by their upper edge.
* **STOP rate over time**: STOPs per day (days between the first and the last one shown at 0,
  up to ``STOP_DAYS_SHOWN`` days), each with its share of the delivered messages.
* **Errors by ptt**: each code with its meaning (``domain.ptt``), most frequent first.
"""

from __future__ import annotations

import datetime as dt

from textos.dashboard.charts import Bar
from textos.domain.delivery_time import DISPLAY_EDGES
from textos.domain.ptt import PTT
from textos.services.reports import Report

__all__ = ["STOP_DAYS_SHOWN", "delivery_times", "duration", "errors_by_ptt", "funnel", "percent", "short_duration", "stops_over_time"]

NOT_SENT = (("rejected", "rejected by the carrier"), ("expired", "expired before sending"),
            ("cancelled", "cancelled"), ("blacklisted", "STOP-listed, not sent"))  # fmt: skip
"""Losses between acceptance and a carrier: report state, label."""
LOST_BY_CARRIER = (("failed", "failed"), ("no_receipt", "no receipt"))
"""Losses between a carrier and the handset."""
STOP_DAYS_SHOWN = 62
"""Longest span of days drawn with its empty days; a longer one shows only the days with STOPs."""


def percent(share: float | None) -> str:
    """A rate as a percentage ("—" when there is nothing to divide by)."""
    if share is None:
        return "—"
    return f"{share * 100:.2f} %" if 0 < share < 0.01 else f"{share * 100:.1f} %"


def duration(seconds: float | None) -> str:
    """A delivery time as it reads on a card: 0.4 s, 2.5 min, 1.2 h, 2.0 d ("—": none delivered)."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def short_duration(seconds: float) -> str:
    """An edge of the histogram: 1s, 30s, 2m, 1h, 1d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _of(part: int, whole: int) -> str:
    return f"{part} ({percent(part / whole)})" if whole else str(part)


def funnel(report: Report) -> list[Bar]:
    s, accepted = report.states, report.messages
    handed = s["delivered"] + sum(s[state] for state, _ in LOST_BY_CARRIER)
    rows = [Bar("Accepted", accepted, _of(accepted, accepted))]
    rows += [Bar(f"– {label}", s[state], _of(s[state], accepted), "loss") for state, label in NOT_SENT if s[state]]
    if s["pending"]:
        rows.append(Bar("– not final yet", s["pending"], _of(s["pending"], accepted), "neutral",
                        "queued, being sent, or sent and awaiting the receipt"))
    rows.append(Bar("Handed to carrier", handed, _of(handed, accepted), hint="sent, with a final outcome"))
    rows += [Bar(f"– {label}", s[state], _of(s[state], accepted), "loss") for state, label in LOST_BY_CARRIER if s[state]]
    rows.append(Bar("Delivered", s["delivered"], _of(s["delivered"], accepted), "good"))
    return rows


def delivery_times(report: Report) -> list[Bar]:
    return [
        Bar(f"≤{short_duration(edge)}", n, hint=f"delivered within {duration(edge)}") if edge is not None
        else Bar(f">{short_duration(DISPLAY_EDGES[-1])}", n, hint=f"delivered after more than {duration(DISPLAY_EDGES[-1])}")
        for edge, n in report.delivery_time.histogram
    ]


def stops_over_time(report: Report) -> list[Bar]:
    days = dict(report.stops_by_day)
    if days:
        first, last = min(days), max(days)
        if (last - first).days < STOP_DAYS_SHOWN:
            days = {first + dt.timedelta(d): days.get(first + dt.timedelta(d), 0) for d in range((last - first).days + 1)}
    return [
        Bar(day.strftime("%m-%d"), n, f"{n} ({percent(n / report.delivered)})" if report.delivered else str(n), "loss", day.isoformat())
        for day, n in sorted(days.items())
    ]


def errors_by_ptt(report: Report) -> list[Bar]:
    return [
        Bar(f"{ptt} · {PTT[ptt].description}" if ptt in PTT else f"{ptt} · unknown code", n, tone="loss",
            hint=PTT[ptt].comment if ptt in PTT else "")
        for ptt, n in sorted(report.errors_by_ptt.items(), key=lambda item: (-item[1], item[0]))
    ]
