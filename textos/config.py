"""Settings: defaults, overridden by ``textos.toml`` then by ``TEXTOS_*`` environment variables.

Precedence (lowest first): built-in defaults, the TOML file (``TEXTOS_CONFIG`` or
``./textos.toml``), environment variables, then command-line flags.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textos.domain.pricing import CreditRates
from textos.domain.stop_words import DEFAULT_STOP_WORDS

VACUUM_MODES = ("auto", "always", "off")
"""The values of ``Settings.vacuum`` (``storage.vacuum``)."""

DEFAULT_DATABASE_URL = "sqlite:///textos.db"
DEFAULT_COUNTRIES = ("FR", "GB", "IE", "ES", "IT", "PL")


@dataclass
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    """API processes of ``textos serve`` (more than one needs PostgreSQL)."""
    public_url: str | None = None
    """Base URL clients sign against (``https://sms.example.com``), for reverse proxies.
    Unset: taken from each request's scheme and Host header."""
    tls_cert: str | None = None
    """PEM certificate (chain) file: with ``tls_key``, ``textos serve`` speaks HTTPS itself
    (``textos tls selfsigned`` makes a pair for local use). Unset: plain HTTP."""
    tls_key: str | None = None
    """PEM private key file of ``tls_cert``."""
    time_window: int = 180
    """Seconds a signed request's timestamp may differ from the server clock."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body accepted, in bytes; larger ones get a 413 while they arrive, before
    authentication. 4 MiB holds a ``POST /sms/{s}/jobs`` with 100,000 receivers written
    ``"+33 6 12 34 56 78", `` (21 bytes each: 2.1 MB) and a 10,000-character message sent
    as ``\\uXXXX`` escapes (60 kB), with room to spare."""
    allowed_countries: tuple[str, ...] = DEFAULT_COUNTRIES
    """Default destination countries of a new SMS account (ISO 3166 alpha-2)."""
    default_region: str = "FR"
    """Region used to read national-format receivers (``0612345678``)."""
    credit_rates: dict[str, float] = field(default_factory=dict)
    """Credits per SMS part by destination country; missing countries use ``default_credit_rate``."""
    default_credit_rate: float = 1.0
    stop_clause: str = "\nSTOP 36111"
    """Appended to commercial messages (``noStopClause`` false)."""
    default_sender: str = "Textos"
    response_short_code: str = "36111"
    """Short code used as sender with ``senderForResponse`` (two-way SMS)."""
    embedded_simulator: bool = True
    """Run the built-in SMSC simulator when no carrier is configured."""
    simulator: str = "smpp"
    """``smpp``: a real SMPP server on loopback, reached by the SMPP connector; ``inprocess``: no socket."""
    simulator_port: int = 0
    """Port of the embedded SMPP simulator (0: any free port on 127.0.0.1)."""
    simulator_receipt_delay: float = 0.2
    receipt_timeout: float = 259_200.0
    """Seconds a sent message waits for its delivery receipt (72 h, as large aggregators use);
    then it settles as *no_receipt* (ptt 6). A receipt that comes later still settles it."""
    simulator_receipt_timeout: float = 120.0
    """The receipt deadline when the embedded simulator is the carrier (no carrier configured):
    the shorter of this and ``receipt_timeout`` (see ``receipt_deadline``)."""
    simulator_outcomes: dict[str, str] = field(default_factory=dict)
    """Scripted simulator outcomes by receiver prefix: ``{"+3369900": "UNDELIV"}`` (or ``REJECT``)."""
    dispatcher_interval: float = 0.05
    dispatcher_batch: int = 500
    """Messages claimed at a time."""
    dispatcher_inflight: int = 4
    """Claimed batches being submitted at once (duplicates after a crash are bounded by batch × inflight)."""
    incoming_part_ttl: float = 1800.0
    """Seconds to wait for the missing parts of a long incoming message before storing what came."""
    fetch_allow_private: bool = False
    """Allow receiver CSV URLs and callback URLs on private/loopback addresses (``[fetch] allow_private`` in TOML)."""
    bulk_max_rows: int = 2_000_000
    bulk_max_bytes: int = 200 * 1024 * 1024
    fetch_timeout: float = 60.0
    """Seconds a receivers document may take to download, whole (however slowly its server trickles)."""
    fetch_max_per_account: int = 4
    """Receivers documents one account may have downloading at once; a request over it is refused (429),
    a background batch waits its turn."""
    password_max_failures: int = 5
    """Wrong passwords one name may get before it is locked out (the right one too, until the lockout ends)."""
    password_address_max_failures: int = 20
    """Wrong passwords one client address (an IPv6 /64) may send, for any names, before it is locked out."""
    password_lockout_seconds: float = 60.0
    """The first lockout; each further one of the same name or address lasts twice the one before."""
    password_lockout_max_seconds: float = 3600.0
    """The longest lockout."""
    prices: dict[str, Any] = field(default_factory=dict)
    """The price book (``[prices]`` table of textos.toml): packs, tax rate, credits by country."""
    carriers: dict[str, Any] = field(default_factory=dict)
    """``[carriers.NAME] url = "smpp://..."`` tables of textos.toml."""
    routes: list[dict[str, Any]] = field(default_factory=list)
    """``[[routes]] prefix = "+33", carriers = ["a", "b"]`` (failover order)."""
    smsc_urls: list[str] = field(default_factory=list)
    """Extra carriers (``smpp://system_id:password@host:port?window=64``)."""
    secret_key: str | None = None
    """Key sealing application secrets in the database: 32 random bytes in URL-safe base64.
    Unset: read from ``secret_key_file`` (``storage.at_rest``)."""
    secret_key_file: str | None = None
    """File holding that key, created 0600 on first start. Unset: beside a SQLite database
    (``textos.db.key``); for PostgreSQL ``~/.config/textos/HOST-PORT-DATABASE.key``."""
    callback_backoff: float = 5.0
    """Seconds before the first retry of a callback not answered 2xx; each retry waits twice as
    long as the one before (less up to a quarter, at random), up to ``callback_backoff_max``."""
    callback_backoff_max: float = 900.0
    """The longest wait between two attempts of a callback (15 min)."""
    callback_max_age: float = 86_400.0
    """Seconds a callback is retried (from its event, or its replay) before it is *failed*."""
    callback_concurrency: int = 8
    """Callback requests in flight at once per target host (per worker process)."""
    short_numbers: str = "36000-36999"
    """The pool of short numbers ``senderForResponse`` messages are sent from: ranges and numbers,
    comma-separated (``36000-36099,36500``). ``response_short_code`` (the STOP clause's number) is
    never handed out for a conversation."""
    conversation_hours: float = 48.0
    """Hours a (receiver, short number) pair routes replies to the message sent on it."""
    reply_credits: float = 1.0
    """Credits an attributed reply costs its account (OVH: at least 1)."""

    stop_words: list[str] = field(default_factory=lambda: list(DEFAULT_STOP_WORDS))
    """Texts that are a STOP (``domain.stop_words``: case, accents, blanks and punctuation around
    do not matter). ``TEXTOS_STOP_WORDS=STOP,ARRET,...``."""
    stop_number: str | None = None
    """The number a handset sends STOP to (the STOP clause's). Unset: the last number of 3 to 8
    digits in ``stop_clause`` (36111 for ``"\\nSTOP 36111"``)."""
    stop_attribution_days: int = 30
    """A STOP sent to ``stop_number`` blacklists its sender for every account whose commercial
    message reached that sender within this many days before the STOP (``services.blacklists``)."""
    smtp_url: str = ""
    """Where quota alerts by email go (``services.quotas``): ``smtp://[user:password@]host[:port]``
    (``?starttls=1`` to upgrade), or ``smtps://…``; ``?from=address`` sets the sender
    (``textos@localhost`` by default). Empty: no email is sent (the alert is logged)."""
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    """Addresses or networks of the reverse proxies whose ``X-Forwarded-For`` (and ``X-Forwarded-Proto``)
    are believed: a request from one of them is from the right-most address of ``X-Forwarded-For``
    that is not one of them (http2sms's ``ipRestrictions``, consumer keys' ``allowedIPs``, password
    limits per address). ``TEXTOS_TRUSTED_PROXIES=10.0.0.5,192.168.1.0/24``; ``none``: trust nobody."""
    document_ttl_hours: float = 168.0
    """Hours a consumption export (``/me/document``) and its ``getUrl`` last (7 days)."""
    dashboard_session_hours: float = 12.0
    """Hours a dashboard login lasts (``/dashboard``); logging out ends it at once."""
    log_format: str = "text"
    """``text`` (one readable line per event) or ``json`` (one JSON object per line, with the request id:
    the answer's ``X-Ovh-Queryid``; plus an access line per request). ``textos serve --log-format``."""
    metrics_max_labels: int = 20
    """``/metrics``: accounts (callback hosts) named in the per-account (per-host) gauges; the others are
    added up as ``other``, so the label set stays bounded."""
    metrics_port: int = 0
    """``textos dispatch`` (no API of its own): serve its instruments (carriers) at ``http://host:port/metrics``;
    0: not served. ``textos dispatch --metrics-port``."""
    vacuum: str = "auto"
    """PostgreSQL: ``auto``, the process running delivery vacuums and analyses Textos' tables by
    autovacuum's rule while the server's ``autovacuum`` is off (``storage.vacuum``); ``always``;
    ``off``, never. ``TEXTOS_VACUUM``."""

    def __post_init__(self) -> None:
        if self.vacuum not in VACUUM_MODES:
            raise ValueError(f"vacuum: one of {', '.join(VACUUM_MODES)} (not {self.vacuum!r})")
        self.rates = CreditRates.of(self.credit_rates, self.default_credit_rate)
        """The one credit-rate rule (``domain.pricing``): keys of any case, as in textos.toml."""
        self.credit_rates = dict(self.rates.by_country)

    def credit_rate(self, country: str) -> float:
        return self.rates.per_part(country)

    def receipt_deadline(self, *, embedded_simulator: bool) -> float:
        """Seconds a sent message waits for its receipt: ``receipt_timeout``, or with the embedded
        simulator as the carrier (whose receipts come within ``simulator_receipt_delay``, and are
        lost if the process is killed) the shorter of it and ``simulator_receipt_timeout``."""
        if embedded_simulator:
            return min(self.receipt_timeout, self.simulator_receipt_timeout)
        return self.receipt_timeout

    def stop_clause_number(self) -> str | None:
        """Where handsets send STOP: ``stop_number``, else the clause's last number of 3 to 8 digits."""
        if self.stop_number:
            return self.stop_number.strip()
        found = re.findall(r"(?<![\d+])(\d{3,8})(?!\d)", self.stop_clause or "")
        return found[-1] if found else None

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV_KEYS: dict[str, str] = {
    "TEXTOS_DATABASE_URL": "database_url",
    "TEXTOS_HOST": "host",
    "TEXTOS_PORT": "port",
    "TEXTOS_WORKERS": "workers",
    "TEXTOS_PUBLIC_URL": "public_url",
    "TEXTOS_TLS_CERT": "tls_cert",
    "TEXTOS_TLS_KEY": "tls_key",
    "TEXTOS_TIME_WINDOW": "time_window",
    "TEXTOS_MAX_BODY_BYTES": "max_body_bytes",
    "TEXTOS_ALLOWED_COUNTRIES": "allowed_countries",
    "TEXTOS_DEFAULT_REGION": "default_region",
    "TEXTOS_STOP_CLAUSE": "stop_clause",
    "TEXTOS_CREDIT_RATES": "credit_rates",
    "TEXTOS_DEFAULT_CREDIT_RATE": "default_credit_rate",
    "TEXTOS_DEFAULT_SENDER": "default_sender",
    "TEXTOS_EMBEDDED_SIMULATOR": "embedded_simulator",
    "TEXTOS_SIMULATOR": "simulator",
    "TEXTOS_SIMULATOR_PORT": "simulator_port",
    "TEXTOS_SIMULATOR_RECEIPT_DELAY": "simulator_receipt_delay",
    "TEXTOS_SIMULATOR_OUTCOMES": "simulator_outcomes",
    "TEXTOS_RECEIPT_TIMEOUT": "receipt_timeout",
    "TEXTOS_SIMULATOR_RECEIPT_TIMEOUT": "simulator_receipt_timeout",
    "TEXTOS_DISPATCHER_INTERVAL": "dispatcher_interval",
    "TEXTOS_DISPATCHER_BATCH": "dispatcher_batch",
    "TEXTOS_DISPATCHER_INFLIGHT": "dispatcher_inflight",
    "TEXTOS_INCOMING_PART_TTL": "incoming_part_ttl",
    "TEXTOS_FETCH_ALLOW_PRIVATE": "fetch_allow_private",
    "TEXTOS_FETCH_TIMEOUT": "fetch_timeout",
    "TEXTOS_FETCH_MAX_PER_ACCOUNT": "fetch_max_per_account",
    "TEXTOS_BULK_MAX_ROWS": "bulk_max_rows",
    "TEXTOS_BULK_MAX_BYTES": "bulk_max_bytes",
    "TEXTOS_SMSC": "smsc_urls",
    "TEXTOS_SECRET_KEY": "secret_key",
    "TEXTOS_SECRET_KEY_FILE": "secret_key_file",
    "TEXTOS_PASSWORD_MAX_FAILURES": "password_max_failures",
    "TEXTOS_PASSWORD_ADDRESS_MAX_FAILURES": "password_address_max_failures",
    "TEXTOS_PASSWORD_LOCKOUT_SECONDS": "password_lockout_seconds",
    "TEXTOS_PASSWORD_LOCKOUT_MAX_SECONDS": "password_lockout_max_seconds",
    "TEXTOS_CALLBACK_BACKOFF": "callback_backoff",
    "TEXTOS_CALLBACK_BACKOFF_MAX": "callback_backoff_max",
    "TEXTOS_CALLBACK_MAX_AGE": "callback_max_age",
    "TEXTOS_CALLBACK_CONCURRENCY": "callback_concurrency",
    "TEXTOS_SHORT_NUMBERS": "short_numbers",
    "TEXTOS_CONVERSATION_HOURS": "conversation_hours",
    "TEXTOS_REPLY_CREDITS": "reply_credits",
    "TEXTOS_STOP_WORDS": "stop_words",
    "TEXTOS_STOP_NUMBER": "stop_number",
    "TEXTOS_STOP_ATTRIBUTION_DAYS": "stop_attribution_days",
    "TEXTOS_SMTP_URL": "smtp_url",
    "TEXTOS_TRUSTED_PROXIES": "trusted_proxies",
    "TEXTOS_DOCUMENT_TTL_HOURS": "document_ttl_hours",
    "TEXTOS_DASHBOARD_SESSION_HOURS": "dashboard_session_hours",
    "TEXTOS_LOG_FORMAT": "log_format",
    "TEXTOS_METRICS_MAX_LABELS": "metrics_max_labels",
    "TEXTOS_METRICS_PORT": "metrics_port",
    "TEXTOS_VACUUM": "vacuum",
}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if isinstance(value, str):
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return value.strip().lower() in ("1", "true", "yes", "on")
        if kind.startswith("tuple"):
            return tuple(v.strip().upper() for v in value.split(",") if v.strip())
        if kind.startswith("dict"):
            pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
            mapping = {k.strip(): v.strip() for k, v in pairs}
            if "float" in kind:
                return {k.upper(): float(v) for k, v in mapping.items()}
            return mapping
        if kind.startswith("list"):
            return [v.strip() for v in value.split(",") if v.strip()]
    if kind.startswith("tuple") and isinstance(value, list):
        return tuple(str(v).upper() for v in value)
    return value


def load_settings(config_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the TOML file, the environment and ``overrides``."""
    values: dict[str, Any] = {}
    path = Path(config_path or os.environ.get("TEXTOS_CONFIG", "textos.toml"))
    if path.is_file():
        data = tomllib.loads(path.read_text())
        section = data.get("textos", data)
        known = {f.name for f in dataclasses.fields(Settings)}
        for key, value in section.items():
            key = key.replace("-", "_")
            if key == "fetch" and isinstance(value, dict):
                if "allow_private" in value:
                    values["fetch_allow_private"] = bool(value["allow_private"])
            elif key in known:
                values[key] = _coerce(key, value)
    for env, key in _ENV_KEYS.items():
        if env in os.environ and os.environ[env] != "":
            values[key] = _coerce(key, os.environ[env])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
