"""What every ``textos`` command shares: options, a database session, output.

The CLI is a composition root: a command that works on the database installs the
automatic top-up (``services.topup``) with the price book of its settings, so that a
debit it makes (``credits add``, ``quota hold``, a campaign) orders credits as the
server would.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from textos.config import Settings, load_settings
from textos.domain.errors import TextosError
from textos.services import topup
from textos.services.prices import PriceBook
from textos.storage.db import Database

console = Console()
err = Console(stderr=True)

DbOption = typer.Option(None, "--database-url", help="Database URL (default sqlite:///textos.db, env TEXTOS_DATABASE_URL).")
JsonOption = typer.Option(False, "--json", help="Print one JSON object.")


def settings_for(database_url: str | None) -> Settings:
    return load_settings(database_url=database_url)


def prices_of(settings: Settings) -> PriceBook:
    """The price book of ``settings``; a malformed one ends the command with exit code 2."""
    try:
        return PriceBook.from_settings(settings)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def install_top_up(settings: Settings) -> None:
    """Subscribe the automatic top-up at ``settings``' prices."""
    topup.install(prices_of(settings))


@contextmanager
def session_for(database_url: str | None) -> Iterator[Session]:
    """A migrated database's write session, the top-up installed; domain errors end the command with exit code 2."""
    settings = settings_for(database_url)
    install_top_up(settings)
    db = Database.of(settings)
    try:
        db.migrate()
        with db.session() as session:
            yield session
    except TextosError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()


def emit(data: dict, as_json: bool, title: str = "") -> None:
    """One JSON object on stdout, or a two-column table."""
    if as_json:
        print(json.dumps(data))
        return
    table = Table(title=title or None, show_header=False)
    for key, value in data.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)
