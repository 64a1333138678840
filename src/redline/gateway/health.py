"""Readiness: may this gateway take traffic now?

Three conditions, each with a shape-only reason when it fails:

``outbox``
    a heartbeat (one row rewritten) goes through the outbox's writer and
    commits within the probe timeout, as an append would: it fails when the
    writer thread or process is gone, the file or its disk refuses writes
    (full, read-only, I/O errors), or the outbox is closed;
``policy``
    a valid compiled policy is loaded;
``backlog``
    fewer events wait than the high-water mark.

A result is reused for ``cache_seconds`` so that a busy prober does not
turn into a stream of transactions: one heartbeat commit per interval at
most (a second by default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

from ..outbox import Outbox

__all__ = ["Check", "Readiness"]

log = logging.getLogger("redline.health")


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    reason: str | None = None


class Readiness:
    def __init__(
        self,
        outbox: Outbox,
        policy: Callable[[], object | None],
        high_water: int,
        *,
        depth: Callable[[], int] | None = None,
        probe_timeout: float = 2.0,
        cache_seconds: float = 1.0,
    ) -> None:
        self._outbox = outbox
        self._policy = policy
        self.high_water = high_water
        self._depth = depth
        self._probe_timeout = probe_timeout
        self._cache_seconds = cache_seconds
        self._last: tuple[float, list[Check]] | None = None
        self._lock = asyncio.Lock()
        self.ready: bool | None = None  # the last result, for metrics

    async def checks(self) -> list[Check]:
        async with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self._cache_seconds:
                return self._last[1]
            result = [
                await self._check_outbox(),
                self._check_policy(),
                self._check_backlog(),
            ]
            ready = all(c.ok for c in result)
            if ready != self.ready:
                failing = [f"{c.name}: {c.reason}" for c in result if not c.ok]
                if ready:
                    log.info("ready")
                else:
                    log.warning("not ready", extra={"failing": failing})
            self.ready = ready
            self._last = (time.monotonic(), result)
            return result

    async def _check_outbox(self) -> Check:
        try:
            async with asyncio.timeout(self._probe_timeout):
                await self._outbox.heartbeat()
        except TimeoutError:
            return Check("outbox", False, "the outbox writer did not answer")
        except Exception as exc:
            # OutboxUnavailable names the SQLite error class, never a value
            return Check("outbox", False, f"cannot write ({type(exc).__name__})")
        return Check("outbox", True)

    def _check_policy(self) -> Check:
        policy = self._policy()
        if policy is None or not getattr(policy, "digest", None):
            return Check("policy", False, "no valid policy loaded")
        return Check("policy", True)

    def _check_backlog(self) -> Check:
        depth = self._depth() if self._depth is not None else 0
        if depth >= self.high_water:
            return Check(
                "backlog",
                False,
                f"{depth} events waiting, high-water mark {self.high_water}",
            )
        return Check("backlog", True)
