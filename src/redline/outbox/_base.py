"""The outbox seam: a durable queue of sanitised events per route.

A *route* is one destination of one project (``"demo/local"``). The gateway
appends sanitised records and answers the client only once ``append`` has
returned, i.e. once they are durable. Forwarders lease due records per route,
then ack, retry or bury them. The SQLite outbox implements this on one
machine; a replicated stream can implement the same protocol later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """A record to append: already sanitised, already serialised."""

    route: str
    insert_id: str
    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Leased:
    """A record handed to a forwarder; ``id`` is what ack/retry/bury take."""

    id: int
    route: str
    insert_id: str
    payload: bytes
    attempts: int
    enqueued_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    route: str
    insert_id: str
    reason: str  # a shape-only description, never a value
    attempts: int
    failed_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class RouteStats:
    route: str
    depth: int
    oldest_age_seconds: float | None
    dead: int


class Outbox(Protocol):
    async def append(self, entries: Sequence[Entry]) -> None:
        """Store ``entries`` durably, all or none.

        Returns only after they are committed. Raises ``OutboxFull`` when the
        outbox is at its limit.
        """

    async def lease(self, route: str, limit: int) -> list[Leased]:
        """Up to ``limit`` records of ``route`` that are due, oldest first.

        A leased record is not handed out again until it is retried; after a
        restart every record not acked is due again.
        """

    async def ack(self, ids: Sequence[int]) -> None:
        """Delivered: remove for good."""

    async def retry(
        self, ids: Sequence[int], delay_seconds: float, reason: str
    ) -> None:
        """Not delivered: hand out again after ``delay_seconds``."""

    async def bury(self, ids: Sequence[int], reason: str) -> None:
        """Rejected for good: move to the dead-letter table."""

    async def routes(self) -> list[str]:
        """Every route with records waiting."""

    async def stats(self) -> list[RouteStats]: ...

    async def dead_letters(
        self, route: str | None = None, limit: int = 100
    ) -> list[DeadLetter]: ...

    async def replay(self, route: str | None = None) -> int:
        """Move dead letters (of one route, or all) back into the queue."""

    async def heartbeat(self) -> None:
        """Commit a small durable write of no other consequence: the
        outbox can store now. Raises when it cannot."""

    async def close(self) -> None: ...
