"""``textos callbacks``: run the callbacks worker alone (PostgreSQL), list and replay events."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, emit, session_for
from textos.config import load_settings
from textos.services import callbacks

__all__ = ["register"]

callbacks_app = typer.Typer(
    help="The callbacks outbox: without a subcommand, run its worker alone (PostgreSQL; textos serve runs one too).",
    invoke_without_command=True,
)


@callbacks_app.callback()
def run(
    ctx: typer.Context,
    database_url: Optional[str] = DbOption,
    config: Optional[str] = typer.Option(None, "--config", help="TOML settings file (default ./textos.toml)."),
) -> None:
    """Run the callbacks worker alone until interrupted (PostgreSQL: beside textos serve and other workers)."""
    if ctx.invoked_subcommand is not None:
        return
    from textos.server import callbacks as run_worker

    run_worker(load_settings(config, database_url=database_url))


@callbacks_app.command("list")
def list_events(
    status: Optional[str] = typer.Option(None, "--status", help="pending, delivered or failed."),
    service: Optional[str] = typer.Option(None, "--service", help="One SMS account (serviceName)."),
    limit: int = typer.Option(100, "--limit", min=1, help="The newest this many."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Callback events, newest first."""
    with session_for(database_url) as session:
        views = callbacks.list_views(session, status=status, service=service, limit=limit)
    if as_json:
        print(json.dumps(views))
        return
    table = Table("id", "serviceName", "kind", "status", "attempts", "created", "last", "url")
    for v in views:
        last = v["lastError"] or (str(v["lastHttpStatus"]) if v["lastHttpStatus"] else "")
        table.add_row(str(v["id"]), v["serviceName"], v["kind"], v["status"], str(v["attempts"]), v["creationDatetime"], last, v["url"])
    console.print(table)


@callbacks_app.command("replay")
def replay(
    event_id: int = typer.Argument(..., help="The event's id (textos callbacks list)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Send an event again, whatever its status (pending, due now, a new callback_max_age)."""
    with session_for(database_url) as session:
        view = callbacks.event_view(callbacks.replay(session, None, event_id))
    emit({k: v for k, v in view.items() if k != "params"}, as_json, f"Callback {event_id} replayed")


def register(app: typer.Typer) -> None:
    app.add_typer(callbacks_app, name="callbacks")
