"""Access rules of a consumer key: ``{"method": "GET", "path": "/sms/*"}``, as OVH applies them.

A ``*`` matches any run of characters, ``/`` included. A rule ending in ``/*`` also
covers the path without that suffix (``GET /sms/sms-ab12345-1/*`` grants
``GET /sms/sms-ab12345-1``), which is what the ``ovh`` client's recursive rules ask for.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

from textos.domain.errors import BadRequest

METHODS = ("GET", "POST", "PUT", "DELETE")


class RuleError(BadRequest):
    """A rule (or an allowed address) that cannot be understood: a 400 naming the field."""


@dataclass(frozen=True, slots=True)
class AccessRule:
    method: str
    path: str

    @classmethod
    def parse(cls, text: str) -> "AccessRule":
        """Read ``"GET /sms/*"`` (method, space, path)."""
        method, _, path = text.strip().partition(" ")
        return cls.of({"method": method, "path": path.strip()})

    @classmethod
    def of(cls, data: Mapping[str, object]) -> "AccessRule":
        method = str(data.get("method", "")).upper()
        path = str(data.get("path", ""))
        if method not in METHODS:
            raise RuleError(f"accessRules: method {method!r} is not one of {', '.join(METHODS)}")
        if not path.startswith("/"):
            raise RuleError(f"accessRules: path {path!r} must start with '/'")
        return cls(method, path)

    def as_dict(self) -> dict[str, str]:
        return {"method": self.method, "path": self.path}

    def allows(self, method: str, path: str) -> bool:
        return self.method == method.upper() and _pattern(self.path).fullmatch(path) is not None


@lru_cache(maxsize=4096)
def _pattern(rule_path: str) -> re.Pattern[str]:
    base = rule_path[:-2] if rule_path.endswith("/*") else None
    regex = ".*".join(re.escape(chunk) for chunk in rule_path.split("*"))
    if base is not None:
        regex = f"(?:{regex}|{'.*'.join(re.escape(c) for c in base.split('*'))})"
    return re.compile(regex)


def check_allowed_ips(blocks: Iterable[str] | None) -> list[str] | None:
    """``allowedIPs`` of a consumer key, each an address or a network (``192.0.2.0/24``), as given."""
    if blocks is None:
        return None
    checked = list(blocks)
    for block in checked:
        try:
            ipaddress.ip_network(block, strict=False)
        except ValueError:
            raise RuleError(f"allowedIPs: {block!r} is not an IP address or network") from None
    return checked


def is_allowed(rules: Iterable[Mapping[str, object]], method: str, path: str) -> bool:
    """True when one of ``rules`` grants ``method`` on ``path`` (relative to ``/1.0``)."""
    method = method.upper()
    for rule in rules:
        if str(rule.get("method", "")).upper() != method:  # grants nothing here (or is not a rule): not read further
            continue
        try:
            if AccessRule.of(rule).allows(method, path):
                return True
        except RuleError:
            continue
    return False
