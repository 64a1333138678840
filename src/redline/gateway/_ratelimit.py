"""Rate limits per ingest key (events) and per client address (requests).

The counting is the ``limits`` library's sliding-window counter over its
in-memory storage: two counters per key and window, expired by the library,
so memory follows the keys and addresses active in the last window. A
refusal is :class:`RateLimited`, a :class:`~redline.errors.RequestError`
with status 429 and the seconds to wait; each vendor's adapter turns it
into that vendor's own 429 answer (``error_response`` with
``retry_after``), so this module knows no wire format.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from ..config import RateLimitSpec
from ..errors import RequestError

__all__ = ["RateLimited", "RateLimiter"]


class RateLimited(RequestError):
    """Too many events for one key, or requests from one address."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, spec: RateLimitSpec | None) -> None:
        self._per_key: RateLimitItem | None = None
        self._per_client: RateLimitItem | None = None
        if spec is not None:
            self._per_key = parse(spec.per_key) if spec.per_key else None
            self._per_client = parse(spec.per_client) if spec.per_client else None
        active = self._per_key is not None or self._per_client is not None
        self._limiter = (
            SlidingWindowCounterRateLimiter(MemoryStorage()) if active else None
        )
        self.refused = 0

    @property
    def active(self) -> bool:
        return self._limiter is not None

    def client(self, address: str | None) -> None:
        """Count one request from ``address``; raise when over its limit."""
        if self._per_client is None or self._limiter is None or address is None:
            return
        if not self._limiter.hit(self._per_client, "client", address):
            self.refused += 1
            raise RateLimited(
                "too many requests from this address",
                self._wait(self._per_client, "client", address),
            )

    def key(self, key_id: str, events: int) -> None:
        """Count ``events`` for the key ``key_id``; raise when over its
        limit. A batch larger than the whole limit passes only into an
        empty window, so a limit below the SDK's batch size still lets
        batches through, one per window."""
        if self._per_key is None or self._limiter is None or events <= 0:
            return
        cost = min(events, self._per_key.amount)
        if not self._limiter.hit(self._per_key, "key", key_id, cost=cost):
            self.refused += 1
            raise RateLimited(
                "too many events for this ingest key",
                self._wait(self._per_key, "key", key_id),
            )

    def _wait(self, item: RateLimitItem, *ids: str) -> float:
        assert self._limiter is not None
        stats = self._limiter.get_window_stats(item, *ids)
        return float(max(1, math.ceil(stats.reset_time - time.time())))
