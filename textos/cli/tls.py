"""``textos tls selfsigned``: a certificate and key for serving HTTPS on a developer's machine."""

from __future__ import annotations

from pathlib import Path

import typer

from textos.cli.common import JsonOption, emit, err
from textos.tls import LOCAL_NAMES, self_signed

__all__ = ["register"]

tls_app = typer.Typer(help="TLS certificates for textos serve --tls-cert/--tls-key.", no_args_is_help=True)


@tls_app.command("selfsigned")
def selfsigned(
    cert: Path = typer.Option(Path("textos-cert.pem"), "--cert", help="Certificate file to write."),
    key: Path = typer.Option(Path("textos-key.pem"), "--key", help="Private key file to write (mode 0600)."),
    name: list[str] = typer.Option(
        list(LOCAL_NAMES), "--name", metavar="NAME", help="Host name or IP address the certificate is for (repeatable; default localhost, 127.0.0.1, ::1)."
    ),
    days: int = typer.Option(825, "--days", min=1, help="Days the certificate is valid."),
    force: bool = typer.Option(False, "--force", help="Replace existing files."),
    as_json: bool = JsonOption,
) -> None:
    """Make a self-signed certificate and key for local use, then serve HTTPS with them.

    Clients trust it by being given the certificate: NODE_EXTRA_CA_CERTS=textos-cert.pem for
    Node.js, REQUESTS_CA_BUNDLE=textos-cert.pem for the Python ovh client."""
    existing = [str(p) for p in (cert, key) if p.exists()]
    if existing and not force:
        err.print(f"[red]error:[/red] {' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''} (add --force to replace)")
        raise typer.Exit(2)
    self_signed(cert, key, name, days)
    serve = f"textos serve --tls-cert {cert} --tls-key {key}"
    emit({"cert": str(cert), "key": str(key), "names": ",".join(name), "days": days, "serve": serve}, as_json)
    if not as_json:
        print(f"Node.js clients trust it with NODE_EXTRA_CA_CERTS={cert}, the Python ovh client with REQUESTS_CA_BUNDLE={cert}")


def register(app: typer.Typer) -> None:
    app.add_typer(tls_app, name="tls")
