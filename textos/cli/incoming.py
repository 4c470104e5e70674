"""``textos incoming``: incoming messages for the operator (``--unattributed``: those no account was given)."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, err, session_for
from textos.domain.clock import iso
from textos.services import admin, incoming_history
from textos.storage.ledger import to_credits
from textos.storage.models import IncomingSms

__all__ = ["incoming", "register"]


def incoming(
    unattributed: bool = typer.Option(
        False, "--unattributed", help="Messages no account was given (outside any conversation or virtual number), newest first."
    ),
    service: Optional[str] = typer.Option(None, "--service", help="An SMS account's incoming messages (as GET /sms/{s}/incoming shows them)."),
    limit: int = typer.Option(100, "--limit", min=1),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """List incoming messages: the unattributed ones (kept for the operator), or an account's."""
    if unattributed == (service is not None):
        err.print("[red]error:[/red] give either --unattributed or --service")
        raise typer.Exit(2)
    with session_for(database_url) as session:
        if unattributed:
            rows = [_row(r) for r in incoming_history.unattributed(session, limit)]
        else:
            account = admin.get_account(session, service)  # type: ignore[arg-type]
            ids = incoming_history.incoming_ids(session, account.id, incoming_history.IncomingFilter(), "FR")[-limit:]
            rows = [_row(session.get_one(IncomingSms, i)) for i in reversed(ids)]
    if as_json:
        print(json.dumps({"incoming": rows}))
        return
    table = Table(title="Unattributed incoming SMS" if unattributed else f"Incoming SMS of {service}")
    columns = ("id", "date", "sender", "receiver", "tag", "credits", "message")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    console.print(table)


def _row(row: IncomingSms) -> dict:
    return {
        "id": row.id, "date": iso(row.created_at), "sender": row.sender, "receiver": row.receiver, "tag": row.tag,
        "credits": to_credits(row.credits_milli), "message": row.text, "messageId": row.message_id,
    }


def register(app: typer.Typer) -> None:
    """Add the ``incoming`` command to the main CLI."""
    app.command("incoming")(incoming)
