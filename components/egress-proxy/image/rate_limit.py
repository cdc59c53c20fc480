"""The per-host rate limit of routes.yaml's requests_per_minute.

Pure: no mitmproxy import.
"""

import time
from collections.abc import Callable

# Buckets kept before idle (full) ones are dropped: wildcard routes let an agent name many hosts.
RATE_LIMIT_MAX_HOSTS = 4096


class RateLimiter:
    """A token bucket per destination host: at most `per_minute` requests in any minute on
    average, in bursts of up to `per_minute`. Counts requests as the agent makes them
    (pipelock, behind it, counts a CONNECT and each request inside the tunnel)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # host -> (tokens, when)

    def take(self, host: str) -> float | None:
        """None if a request to `host` may go now (and counts it), else seconds until one may."""
        now = self.clock()
        tokens, then = self.buckets.get(host, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self.buckets[host] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if host not in self.buckets and len(self.buckets) >= RATE_LIMIT_MAX_HOSTS:
            self._drop_idle(now)
        self.buckets[host] = (tokens - 1.0, now)
        return None

    def _drop_idle(self, now: float) -> None:
        # A bucket that has refilled holds no state worth keeping.
        for host, (tokens, then) in list(self.buckets.items()):
            if tokens + (now - then) * self.rate >= self.per_minute:
                del self.buckets[host]
