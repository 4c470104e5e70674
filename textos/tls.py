"""TLS for ``textos serve``: checking a certificate and key before serving, and a self-signed pair for local use.

The Node.js ``ovh`` client always speaks HTTPS; ``textos serve --tls-cert FILE --tls-key FILE``
serves it directly. A self-signed certificate is for a developer's machine: a client trusts
it by being given the certificate itself as its CA (``NODE_EXTRA_CA_CERTS=cert.pem``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
"""Names a self-signed certificate is valid for unless told otherwise."""


def check_pair(cert: str | None, key: str | None) -> None:
    """Refuse (``ValueError``, one line naming the files) a certificate without its key, or a pair
    TLS cannot load: better said before serving than as a traceback from the server."""
    if not cert and not key:
        return
    if not cert or not key:
        raise ValueError("tls_cert and tls_key go together: give both (--tls-cert FILE --tls-key FILE) or neither")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use the TLS certificate {cert} with the key {key}: {exc}") from None


def self_signed(cert_path: Path, key_path: Path, names: Sequence[str] = LOCAL_NAMES, days: int = 825) -> None:
    """Write a new EC P-256 key (readable by its owner only) and a certificate for ``names``
    (host names and IP addresses, all in subjectAltName) signed by that key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Textos (self-signed)")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        out.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
