"""``textos number``: virtual numbers, assigned to accounts by the operator."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, emit, session_for, settings_for
from textos.domain.clock import iso
from textos.services import admin, virtual_numbers

__all__ = ["register"]

number_app = typer.Typer(
    help="Virtual numbers: long numbers dedicated to one account, sent from and answered to (no 48 h limit).",
    no_args_is_help=True,
)


@number_app.command("add")
def number_add(
    service: str = typer.Option(..., "--service", help="The account (serviceName) the number is given to."),
    number: str = typer.Option(..., "--number", help="The number, e.g. +33612345678 (BE, CH, DE, ES, FR or UK)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Assign a virtual number to an account (a number belongs to one account at a time)."""
    region = settings_for(database_url).default_region
    with session_for(database_url) as session:
        row = virtual_numbers.assign(session, admin.get_account(session, service), number, region)
        emit({"serviceName": service, **virtual_numbers.view(row)}, as_json)


@number_app.command("list")
def number_list(
    service: Optional[str] = typer.Option(None, "--service", help="Only this account's numbers."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """List assigned virtual numbers, oldest first."""
    with session_for(database_url) as session:
        account_id = admin.get_account(session, service).id if service else None
        rows = [
            {"number": row.number, "serviceName": name, "countryCode": virtual_numbers.view(row)["countryCode"], "createdAt": iso(row.created_at)}
            for row, name in virtual_numbers.listing(session, account_id)
        ]
    if as_json:
        print(json.dumps({"numbers": rows}))
        return
    table = Table(title="Virtual numbers")
    for col in ("number", "serviceName", "countryCode", "createdAt"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("number", "serviceName", "countryCode", "createdAt")))
    console.print(table)


@number_app.command("remove")
def number_remove(
    number: str = typer.Option(..., "--number"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Take a virtual number back from its account (its messages stay in the account's history)."""
    region = settings_for(database_url).default_region
    with session_for(database_url) as session:
        removed, service = virtual_numbers.remove(session, number, region)
    emit({"number": removed, "serviceName": service, "removed": True}, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(number_app, name="number")
