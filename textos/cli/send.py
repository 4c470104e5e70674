"""``textos send``: post a campaign from a local contacts CSV and follow it until delivered.

It works on the database like the other admin commands (``--database-url``); the
running ``textos serve`` delivers the messages. Mail merge uses ``#column#``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from textos.cli.common import install_top_up
from textos.config import load_settings
from textos.delivery.routing import concatenation_rule
from textos.domain.errors import NotFound, TextosError
from textos.services import admin, batches, jobs
from textos.services.batches import BatchStatus
from textos.services.campaigns import local_source
from textos.services.jobs import SendRequest
from textos.storage.db import Database
from textos.storage.ledger import to_credits
from textos.storage.models_bulk import Batch

__all__ = ["register", "send"]


def send(
    service: str = typer.Option(..., "--service", help="SMS account (serviceName)."),
    csv: Path = typer.Option(..., "--csv", exists=True, dir_okay=False, help="Contacts CSV (number column, more columns for #merge#)."),
    message: str = typer.Option(..., "--message", help='Text; "#column#" is replaced per contact, e.g. "Bonjour #prenom#".'),
    sender: Optional[str] = typer.Option(None, "--sender", help="A registered, enabled sender."),
    name: str = typer.Option("", "--name", help="Batch name (default: the file name)."),
    tag: str = typer.Option("", "--tag", help="Tag of the messages."),
    no_stop_clause: bool = typer.Option(False, "--no-stop-clause", help="Do not append the STOP clause (non-commercial SMS)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow delivery until every SMS has a final state."),
    timeout: float = typer.Option(3600.0, "--timeout", help="Give up following after this many seconds."),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="Database URL (env TEXTOS_DATABASE_URL)."),
    as_json: bool = typer.Option(False, "--json", help="No progress bar; print one JSON summary."),
) -> None:
    """Send a campaign to every contact of a CSV and show its progress until delivery completes."""
    console = Console(stderr=as_json)
    settings = load_settings(database_url=database_url)
    install_top_up(settings)
    db = Database.of(settings)
    try:
        db.migrate()
        req = SendRequest(message=message, sender=sender, no_stop_clause=no_stop_clause, tag=tag)
        source = local_source(csv)
        with db.session() as session:
            try:
                account = admin.get_account(session, service)
            except NotFound:
                raise typer.BadParameter(f"no SMS account {service!r}", param_hint="--service") from None
            jobs.check_sendable(session, account, req, settings)
            batch = batches.new_batch(session, account, req, name or csv.name)
            account_id, batch_id = account.id, batch.id
        errors: list[BaseException] = []

        def ingest() -> None:
            try:
                batches.run(db, settings, account_id, req, "cli", batch_id, source=source,
                            concat_for=concatenation_rule(settings))
            except BaseException as exc:  # noqa: BLE001 - shown below
                errors.append(exc)

        thread = threading.Thread(target=ingest, name="textos-send", daemon=True)
        thread.start()
        summary = _follow(db, batch_id, thread, wait, timeout, console, quiet=as_json)
        if errors:
            exc = errors[0]
            text = exc.message if isinstance(exc, TextosError) else repr(exc)
            if as_json:
                print(json.dumps({"batch": batch_id, "status": "FAILED", "error": text}))
            else:
                console.print(f"[red]error:[/red] {text}")
            raise typer.Exit(2)
        if as_json:
            print(json.dumps(summary))
        else:
            table = Table(title=f"campaign {summary['name']}")
            for key in ("batch", "status", "rows", "valid", "skipped", "delivered", "failed", "pending", "sent", "credits"):
                table.add_column(key)
            table.add_row(*(str(summary[k]) for k in ("batch", "status", "rows", "valid", "skipped", "delivered", "failed", "pending", "sent", "credits")))
            console.print(table)
    finally:
        db.dispose()


def _snapshot(db: Database, batch_id: str) -> dict:
    batches.complete_finished(db, batch_id)  # this command writes too: it moves its batch on when done
    with db.read() as session:
        batch = session.get_one(Batch, batch_id)
        stats = batches.batch_stats(session, batch)
        valid = batches.valid_receivers(session, batch)
        return {
            "batch": batch.id, "name": batch.name, "status": batch.status, "rows": batch.total_records,
            "valid": valid or 0, "skipped": max(0, batch.total_records - (valid or 0)) if valid else 0,
            "delivered": stats.delivered, "failed": stats.failed, "pending": stats.pending, "sent": stats.sent,
            "credits": to_credits(stats.credits_milli),
        }


def _follow(db: Database, batch_id: str, thread: threading.Thread, wait: bool, timeout: float,
            console: Console, quiet: bool) -> dict:
    deadline = time.monotonic() + timeout
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=quiet, transient=False) as progress:
        reading = progress.add_task("reading contacts", total=None)
        while thread.is_alive():
            snap = _snapshot(db, batch_id)
            progress.update(reading, completed=snap["rows"])
            time.sleep(0.2)
        thread.join()
        snap = _snapshot(db, batch_id)
        progress.update(reading, total=snap["rows"], completed=snap["rows"])
        if snap["status"] in (BatchStatus.FAILED.value, BatchStatus.CANCELED.value) or not wait:
            return snap
        delivering = progress.add_task("delivering", total=snap["valid"])
        while time.monotonic() < deadline:
            snap = _snapshot(db, batch_id)
            progress.update(delivering, completed=snap["delivered"] + snap["failed"])
            if snap["pending"] == 0 and snap["sent"] == 0:
                break
            time.sleep(0.2)
    return snap


def register(app: typer.Typer) -> None:
    app.command("send")(send)
