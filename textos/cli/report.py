"""``textos report``: a campaign's report in the terminal (the report of ``GET /sms/{s}/reports…``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, session_for
from textos.domain.clock import naive_utc
from textos.domain.errors import BadRequest
from textos.services import admin, reports

__all__ = ["register", "report"]


def _moment(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return naive_utc(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise BadRequest(f"{option}: {value!r} is not an ISO 8601 date or datetime") from None


def report(
    service: str = typer.Option(..., "--service", help="The SMS account (serviceName)."),
    tag: Optional[str] = typer.Option(None, "--tag", help="The messages sent with this tag."),
    batch: Optional[str] = typer.Option(None, "--batch", help="The messages of this batch (its id)."),
    since: Optional[str] = typer.Option(None, "--from", help="Accepted from (ISO 8601, UTC without an offset; whole hours)."),
    until: Optional[str] = typer.Option(None, "--to", help="Accepted before (excluded; widened to a whole hour)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """What became of a campaign: states, rates, errors by ptt, delivery time, STOPs, replies, credits."""
    with session_for(database_url) as session:
        account = admin.get_account(session, service)
        scope = reports.scope_for(session, account.id, tag=tag, batch_id=batch, since=_moment(since, "from"), until=_moment(until, "to"))
        data = reports.report(session, scope).as_json(account.service_name)
    if as_json:
        print(json.dumps(data))
        return
    _print(data)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _print(data: dict[str, Any]) -> None:
    scope = ", ".join(f"{label} {data[key]}" for key, label in (("tag", "tag"), ("batchId", "batch"), ("from", "from"), ("to", "to"))
                      if data[key] is not None)
    summary = Table(title=f"Report of {data['serviceName']}" + (f" ({scope})" if scope else ""), show_header=False)
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    summary.add_column(justify="right")
    summary.add_row("messages", str(data["messages"]), "")
    for state, n in data["states"].items():
        summary.add_row(f"  {state}", str(n), _rate(n / data["messages"]) if data["messages"] else "")
    summary.add_row("delivery rate", "", _rate(data["deliveryRate"]))
    summary.add_row("error rate", "", _rate(data["errorRate"]))
    times = data["deliveryTime"]
    summary.add_row("delivery time p50 / p90 / p99", " / ".join(_duration(times[p]) for p in ("p50", "p90", "p99")), "")
    summary.add_row("STOPs", str(data["stops"]), _rate(data["stopRate"]))
    summary.add_row("replies", str(data["replies"]), _rate(data["replyRate"]))
    summary.add_row("credits", f"{data['credits']:g}", "")
    console.print(summary)
    if data["errorsByPtt"]:
        errors = Table(title="Errors by ptt")
        errors.add_column("ptt", justify="right")
        errors.add_column("messages", justify="right")
        for ptt, n in data["errorsByPtt"].items():
            errors.add_row(ptt, str(n))
        console.print(errors)
    used = [i for i, bar in enumerate(times["histogram"]) if bar["messages"]]
    if used:
        histogram = Table(title="Delivery time")
        histogram.add_column("up to", justify="right")
        histogram.add_column("messages", justify="right")
        histogram.add_column("")
        bars = times["histogram"][used[0] : used[-1] + 1]
        most = max(bar["messages"] for bar in bars)
        for bar in bars:
            edge = "slower" if bar["upTo"] is None else _duration(bar["upTo"])
            histogram.add_row(edge, str(bar["messages"]), "█" * round(30 * bar["messages"] / most))
        console.print(histogram)
    if data["stopsByDay"]:
        stops = Table(title="STOPs by day")
        stops.add_column("day")
        stops.add_column("STOPs", justify="right")
        for day in data["stopsByDay"]:
            stops.add_row(day["day"], str(day["stops"]))
        console.print(stops)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the main CLI."""
    app.command("report")(report)
