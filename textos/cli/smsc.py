"""``textos smsc``: run the SMSC simulator until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import typer

from textos.simulator.scenario import Rule
from textos.simulator.smsc import SmscSimulator

__all__ = ["register", "smsc"]


def smsc(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(2775, help="TCP port (0: any free port)."),
    system_id: Optional[str] = typer.Option(None, "--system-id", help="Accepted system_id (default: accept any bind)."),
    password: str = typer.Option("", help="Password for --system-id."),
    receipt_delay: float = typer.Option(0.05, help="Seconds before a delivery receipt is sent."),
    tps: Optional[float] = typer.Option(None, help="Answer ESME_RTHROTTLED beyond this many submits/s."),
    rule: list[str] = typer.Option([], help="PATTERN=OUTCOME[:STATUS], e.g. 3370=undeliverable, re:999$=rejected:0x0b."),
    drop_after: Optional[int] = typer.Option(None, help="Cut the connection once after N submits."),
    receipt_loss_every: int = typer.Option(0, help="Lose every k-th receipt (0: none)."),
    receipt_id_format: str = typer.Option("same", help="Receipt ids: same | decimal | hex."),
    deliver_window: int = typer.Option(512, help="deliver_sm (receipts, incoming) awaiting an answer, per bind."),
    deliver_with: str = typer.Option("deliver_sm", help="Send receipts and incoming messages as deliver_sm or data_sm."),
) -> None:
    """Run the SMPP 3.4 SMSC simulator."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    simulator = SmscSimulator(
        host,
        port,
        {system_id: password} if system_id else None,
        receipt_delay=receipt_delay,
        rules=[Rule.parse(r) for r in rule],
        tps_limit=tps,
        drop_after=drop_after,
        receipt_loss_every=receipt_loss_every,
        receipt_id_format=receipt_id_format,
        deliver_window=deliver_window,
        deliver_with=deliver_with,
    )

    async def serve() -> None:
        await simulator.start()
        typer.echo(f"SMSC simulator on {host}:{simulator.port} (Ctrl-C to stop)")
        try:
            await asyncio.Event().wait()
        finally:
            await simulator.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        typer.echo(f"stopped: {simulator.submits} submits, {simulator.receipts_sent} receipts sent")


def register(app: typer.Typer) -> None:
    """Add the ``smsc`` command to the main CLI."""
    app.command("smsc")(smsc)
