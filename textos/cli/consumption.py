"""``textos consumption``: an account's consumption of a month by user, tag or sender, for
re-invoicing (the report of ``GET /sms/{s}/consumption``)."""

from __future__ import annotations

import csv
import json
import sys
from typing import Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, session_for
from textos.services import admin, consumption as reports

__all__ = ["consumption", "register"]


def consumption(
    service: str = typer.Option(..., "--service", help="The SMS account (serviceName)."),
    month: str = typer.Option(..., "--month", help="YYYY-MM, in UTC (2026-11: from 2026-11-01 00:00 to 2026-12-01 00:00)."),
    by: reports.GroupBy = typer.Option(..., "--by", help="Group by user, tag or sender."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (group;messages;parts;credits), total last."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Messages, parts and credits of a month's outgoing SMS, per user, tag or sender."""
    with session_for(database_url) as session:
        start, end = reports.month_period(month)
        account = admin.get_account(session, service)
        data = {"serviceName": account.service_name, **reports.report(session, account.id, by, start, end)}
    if as_json:
        print(json.dumps(data))
        return
    if as_csv:
        out = csv.writer(sys.stdout, delimiter=";", lineterminator="\n")
        out.writerow([by.value, "messages", "parts", "credits"])
        for g in data["groups"]:
            out.writerow(["" if g["group"] is None else g["group"], g["messages"], g["parts"], g["credits"]])
        total = data["total"]
        out.writerow(["total", total["messages"], total["parts"], total["credits"]])
        return
    table = Table(title=f"Consumption of {service}, {month}, by {by.value}")
    for column in (by.value, "messages", "parts", "credits"):
        table.add_column(column)
    for g in data["groups"]:
        label = "(account)" if g["group"] is None and by is reports.GroupBy.USER else (g["group"] or "")
        table.add_row(label, str(g["messages"]), str(g["parts"]), str(g["credits"]))
    total = data["total"]
    table.add_row("total", str(total["messages"]), str(total["parts"]), str(total["credits"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``consumption`` command to the main CLI."""
    app.command("consumption")(consumption)
