"""One SMPP carrier account and its options: ``SmppCarrierConfig``, read from an
``smpp://`` URL and/or a ``[carriers.NAME]`` table of textos.toml.

The option names are a user contract (README, "Carrier options"); an option this module
does not know is refused by name, with the password left out of the message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from textos.domain.encoding import Concatenation

__all__ = ["CARRIER_OPTIONS", "SOURCE_TON_NPI", "SmppCarrierConfig"]

SOURCE_TON_NPI: dict[str, tuple[int, int]] = {
    "alpha": (5, 0),  # alphanumeric, unknown plan
    "numeric": (1, 1),  # international, ISDN/E.164
    "virtual": (1, 1),
    "shortcode": (3, 0),  # network specific
}
"""Kind of sender → (source_addr_ton, source_addr_npi); overridable per carrier (``ton_npi_<kind>``)."""


@dataclass
class SmppCarrierConfig:
    """One SMPP carrier account (host, credentials, binds, flow control)."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    bind_mode: str = "trx"
    """'trx' (transceiver binds) or 'tx+rx' (a transmitter and a receiver per bind)."""
    binds: int = 1
    window: int = 64
    tps: float | None = None
    """Max submits per second per bind (None: no cap)."""
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    reconnect_backoff: tuple[float, float] = (0.5, 30.0)
    source_ton_npi: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(SOURCE_TON_NPI))
    dest_ton_npi: tuple[int, int] = (1, 1)
    concatenation: Concatenation = Concatenation.UDH8
    """How the parts of a long message are tied: 'udh8', 'udh16' or 'sar' (it decides the parts)."""
    registered_delivery: bool = True
    service_type: str = ""
    throttle_backoff: float = 1.0
    """Seconds a bind pauses after ESME_RTHROTTLED / ESME_RMSGQFUL."""
    submit_deadline: float = 30.0
    """How long a submit keeps sending parts again (throttled, or lost with the link)."""
    receipt_batch_delay: float = 0.0
    """Seconds to wait for more receipts before storing a batch. No wait by default: while
    one batch is being stored the next one gathers anyway, and waiting only holds the
    SMSC's receipt window (a window of 64 with 5 ms here capped receipts at ~6k/s)."""
    name: str = "smpp"

    def __post_init__(self) -> None:
        if self.bind_mode not in ("trx", "tx+rx"):
            raise ValueError("bind_mode must be 'trx' or 'tx+rx'")
        self.concatenation = _concatenation(self.concatenation)
        if self.window < 1 or self.binds < 1:
            raise ValueError("window and binds must be >= 1")

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> "SmppCarrierConfig":
        """``smpp://system_id:password@host:port?window=64&tps=500&binds=2&bind=trx``.

        Query keys are the options of ``CARRIER_OPTIONS`` (an unknown key is an error).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smpp", "smpps"):
            raise ValueError(f"not an smpp:// URL: {url!r}")
        kw: dict[str, object] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 2775,
            "system_id": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
        }
        _apply_options(kw, {k: v[-1] for k, v in parse_qs(parts.query).items()}, where=f"smpp URL {_redacted(parts)}")
        if "name" not in kw:
            kw["name"] = f"smpp:{kw['system_id']}@{kw['host']}"
        kw.update(overrides)
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> "SmppCarrierConfig":
        """A ``[carriers.NAME]`` table of textos.toml: ``url`` plus any ``CARRIER_OPTIONS``
        key (``window = 64``, ``ton_npi_alpha = [5, 0]``…), which win over the URL's query."""
        if "url" not in table:
            raise ValueError(f"carriers.{name}: 'url' is required (smpp://system_id:password@host:port)")
        config = cls.from_url(str(table["url"]), name=name)
        kw: dict[str, Any] = {"source_ton_npi": config.source_ton_npi}
        _apply_options(kw, {k: v for k, v in table.items() if k != "url"}, where=f"carriers.{name}")
        kw["name"] = name
        return dataclasses.replace(config, **kw)


def _redacted(parts: SplitResult) -> str:
    return f"smpp://{parts.username or ''}@{parts.hostname or ''}:{parts.port or 2775}"


def _pair(conv: Callable[[str], Any]) -> Callable[[Any], tuple[Any, Any]]:
    """``"5:0"`` or ``[5, 0]`` → ``(5, 0)``."""

    def parse(value: Any) -> tuple[Any, Any]:
        items = value.split(":") if isinstance(value, str) else list(value)
        if len(items) != 2:
            raise ValueError("two values expected, as 5:0")
        return conv(items[0]), conv(items[1])

    return parse


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() not in ("0", "false", "no", "off")


def _bind_mode(value: Any) -> str:
    bind = str(value).lower().replace(" ", "+")
    return {"trx": "trx", "transceiver": "trx", "tx+rx": "tx+rx", "txrx": "tx+rx"}.get(bind, bind)


def _tps(value: Any) -> float | None:
    return None if str(value) in ("", "0", "none") else float(value)


def _concatenation(value: Any) -> Concatenation:
    if isinstance(value, Concatenation):
        return value
    try:
        return Concatenation(str(value).lower())
    except ValueError:
        raise ValueError("concatenation must be 'udh8', 'udh16' or 'sar'") from None


CARRIER_OPTIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "window": ("window", int),
    "binds": ("binds", int),
    "bind": ("bind_mode", _bind_mode),
    "tps": ("tps", _tps),
    "enquire_link": ("enquire_link_interval", float),
    "timeout": ("response_timeout", float),
    "reconnect": ("reconnect_backoff", _pair(float)),
    "throttle_backoff": ("throttle_backoff", float),
    "deadline": ("submit_deadline", float),
    "system_type": ("system_type", str),
    "service_type": ("service_type", str),
    "concat": ("concatenation", _concatenation),
    "dlr": ("registered_delivery", _flag),
    "name": ("name", str),
    "ton_npi_dest": ("dest_ton_npi", _pair(int)),
}
"""Carrier options, in an ``smpp://`` URL's query or a ``[carriers.NAME]`` table:
key → (``SmppCarrierConfig`` field, parser). ``ton_npi_<sender type>`` (alpha, numeric,
virtual, shortcode) sets the source TON:NPI used for that kind of sender."""


def _apply_options(kw: dict[str, Any], options: dict[str, Any], *, where: str) -> None:
    for key, value in options.items():
        try:
            if key.startswith("ton_npi_") and key[8:] in SOURCE_TON_NPI:
                current = dict(kw.get("source_ton_npi") or SOURCE_TON_NPI)
                current[key[8:]] = _pair(int)(value)
                kw["source_ton_npi"] = current
                continue
            if key not in CARRIER_OPTIONS:
                known = sorted([*CARRIER_OPTIONS, *(f"ton_npi_{t}" for t in SOURCE_TON_NPI)])
                raise ValueError(f"unknown option (known: {', '.join(known)})")
            attr, conv = CARRIER_OPTIONS[key]
            kw[attr] = conv(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {key}={value!r}: {exc}") from None
