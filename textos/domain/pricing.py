"""Credits: their unit, and what one SMS part costs towards each country.

Credits are counted in thousandths (integers), so sums are exact and rates such
as 1.5 stay exact. ``CreditRates`` is the one credit-rate rule: jobs are charged
with it and ``/sms/rates/destinations`` announces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

MILLI = 1000


def to_milli(credits: float) -> int:
    return int(round(credits * MILLI))


def to_credits(milli: int) -> float:
    return milli / MILLI


@dataclass(frozen=True)
class CreditRates:
    """Credits per SMS part by destination country (ISO alpha-2, any case); others pay ``default``."""

    by_country: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0

    @classmethod
    def of(cls, rates: Mapping[str, Any] | None, default: Any = 1.0) -> "CreditRates":
        return cls({str(k).strip().upper(): float(v) for k, v in (rates or {}).items()}, float(default))

    def per_part(self, country: str) -> float:
        """Credits for one part towards ``country`` (``all``: the default rate)."""
        if country.lower() == "all":
            return self.default
        return self.by_country.get(country.upper(), self.default)

    def cost_milli(self, parts: int, country: str) -> int:
        """What a message of ``parts`` parts towards ``country`` is charged, in milli-credits."""
        return to_milli(parts * self.per_part(country))
