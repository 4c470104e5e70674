"""``textos smsc``: run the SMSC simulator until Ctrl-C; ``textos mo``: inject an incoming SMS into one."""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import typer

from textos.simulator.scenario import Rule
from textos.simulator.smsc import SmscSimulator

__all__ = ["mo", "register", "smsc"]


def smsc(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(2775, help="TCP port (0: any free port)."),
    system_id: Optional[str] = typer.Option(None, "--system-id", help="Accepted system_id (default: accept any bind)."),
    password: str = typer.Option("", help="Password for --system-id."),
    receipt_delay: float = typer.Option(0.05, help="Seconds before a delivery receipt is sent."),
    tps: Optional[float] = typer.Option(None, help="Answer ESME_RTHROTTLED beyond this many submits/s."),
    rule: list[str] = typer.Option([], metavar="RULE", help="PATTERN=OUTCOME[:STATUS] (repeatable), e.g. 3370=undeliverable, re:999$=rejected:0x0b."),
    drop_after: Optional[int] = typer.Option(None, help="Cut the connection once after N submits."),
    receipt_loss_every: int = typer.Option(0, help="Lose every k-th receipt (0: none)."),
    receipt_id_format: str = typer.Option("same", help="Receipt ids: same | decimal | hex."),
    deliver_window: int = typer.Option(512, help="deliver_sm (receipts, incoming) awaiting an answer, per bind."),
    deliver_with: str = typer.Option("deliver_sm", help="Send receipts and incoming messages as deliver_sm or data_sm."),
    http_port: Optional[int] = typer.Option(
        None, help="Also serve the HTTP hook on 127.0.0.1:PORT (POST /_simulator/mo, GET /_simulator/stats, /submits; see textos mo)."
    ),
    record_last: int = typer.Option(1000, help="Submits kept for GET /_simulator/submits (the last N)."),
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
        record_last=record_last,
    )

    async def serve() -> None:
        from textos.server import settle_gc

        await simulator.start()
        settle_gc()  # a full collection under load stalled its answers by ~0.1 s (docs/BENCHMARKS.md, session 11)
        typer.echo(f"SMSC simulator on {host}:{simulator.port} (Ctrl-C to stop)")
        hook = None
        if http_port is not None:
            import uvicorn

            from textos.api.errors import install
            from textos.simulator.http import hook_app

            hook_asgi = hook_app(simulator, install_errors=install)
            hook = uvicorn.Server(uvicorn.Config(hook_asgi, host="127.0.0.1", port=http_port, log_level="warning"))
            hook_task = asyncio.create_task(hook.serve())
            while not hook.started:
                if hook_task.done():
                    typer.echo(f"the HTTP hook could not listen on 127.0.0.1:{http_port}", err=True)
                    raise typer.Exit(1)
                await asyncio.sleep(0.01)
            typer.echo(f"HTTP hook on http://127.0.0.1:{http_port}/_simulator (textos mo --url http://127.0.0.1:{http_port})")
        try:
            await asyncio.Event().wait()
        finally:
            if hook is not None:
                hook.should_exit = True
                await hook_task
            await simulator.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        typer.echo(f"stopped: {simulator.submits} submits, {simulator.receipts_sent} receipts sent")


def mo(
    sender: str = typer.Option(..., help="Who sends it, e.g. +33612345678."),
    receiver: Optional[str] = typer.Option(None, help="The number it is sent to, e.g. 36111 (or --reply-to-last)."),
    reply_to_last: bool = typer.Option(
        False, "--reply-to-last", help="Answer the last message the sender's handset received, to the number it came from."
    ),
    text: str = typer.Option(..., help="The message (a long one is sent in parts)."),
    concat: str = typer.Option("udh8", help="How a long message is split: udh8, udh16 or sar."),
    url: Optional[str] = typer.Option(
        None, help="The simulator's HTTP hook: a textos serve (embedded simulator) or textos smsc --http-port. Default: textos serve's host and port."
    ),
    port: Optional[int] = typer.Option(None, help="Port of the textos serve to reach (default: the port setting, TEXTOS_PORT, 8080)."),
    config: Optional[str] = typer.Option(None, help="TOML settings file (default ./textos.toml)."),
) -> None:
    """Inject an incoming SMS (a reply, a STOP) into a running simulator."""
    import httpx

    from textos.config import load_settings
    from textos.server import local_url

    if url is None:
        settings = load_settings(config, port=port)
        url = local_url("http", settings.host, settings.port)
    if (receiver is None) == (not reply_to_last):
        typer.echo("give either --receiver or --reply-to-last", err=True)
        raise typer.Exit(2)
    body: dict[str, object] = {"sender": sender, "text": text, "concat": concat}
    body.update({"replyToLast": True} if reply_to_last else {"receiver": receiver})
    try:
        answer = httpx.post(url.rstrip("/") + "/_simulator/mo", json=body, timeout=10)
    except httpx.HTTPError as exc:
        typer.echo(f"no simulator at {url}: {exc} (is textos serve running there? see --url, --port)", err=True)
        raise typer.Exit(1) from None
    if answer.status_code != 200:
        typer.echo(f"{answer.status_code}: {answer.text}", err=True)
        raise typer.Exit(1)
    found = answer.json()
    to = f" to {found.get('receiver')}" if reply_to_last else ""
    typer.echo(f"injected in {found['parts']} part(s){to} at {url}")


def register(app: typer.Typer) -> None:
    """Add the ``smsc`` and ``mo`` commands to the main CLI."""
    app.command("smsc")(smsc)
    app.command("mo")(mo)
