"""Per-key token buckets: 429 with ``Retry-After`` when a key asks faster than its rate.

Buckets live in each worker process (no shared state, no database hit per request). With W workers
a key can therefore reach up to W times its rate in aggregate; the limit exists to stop one runaway
client from starving the others, not to bill by the request.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

#: seconds of traffic a bucket holds: a key may burst to ``rate * BURST_SECONDS`` requests at once
BURST_SECONDS = 2.0
_MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key_id: str, rate: float, cost: float = 1.0) -> float | None:
        """Spend ``cost`` tokens; ``None`` when allowed, else seconds until it would be allowed."""
        if rate <= 0:
            return None
        burst = max(1.0, rate * BURST_SECONDS)
        cost = min(cost, burst)  # a request bigger than the bucket waits for a full bucket
        now = time.monotonic()
        prev = self._buckets.get(key_id)
        tokens = burst if prev is None else min(burst, prev[0] + (now - prev[1]) * rate)
        if tokens >= cost:
            self._buckets[key_id] = (tokens - cost, now)
            self._buckets.move_to_end(key_id)
            if len(self._buckets) > _MAX_BUCKETS:
                self._buckets.popitem(last=False)
            return None
        self._buckets[key_id] = (tokens, now)
        return (cost - tokens) / rate


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds; round up so a client that obeys it is let through."""
    return str(max(1, math.ceil(seconds)))
