"""A token bucket: at most ``rate`` events per second, in bursts of a tenth of a second.

The ESME caps its submits per bind with it (``tps``); the SMSC simulator caps what it
accepts with it (``tps_limit``, answering ESME_RTHROTTLED beyond).
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """Starts full; ``take(now)`` spends one token if there is one (``now``: ``time.monotonic()``)."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.burst = max(1.0, rate / 10)
        self.tokens = self.burst
        self.stamp = 0.0

    def take(self, now: float) -> bool:
        """True (and one token fewer) if an event may happen at ``now``."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.tokens = tokens if tokens < self.burst else self.burst
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    @property
    def interval(self) -> float:
        """Seconds between two tokens: how long to wait after a refusal."""
        return 1.0 / self.rate
