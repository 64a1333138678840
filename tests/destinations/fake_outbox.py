"""An in-memory Outbox that keeps the protocol's promises, for forwarder tests.

It follows SqliteOutbox's observable behaviour: ``attempts`` counts earlier
retries, ``lease`` hands out due records by due time then id and never a
record already leased, ``retry`` and ``bury`` release the lease, listeners
hear the routes that got records after each append or replay.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from redline.outbox._base import DeadLetter, Entry, Leased, RouteStats


@dataclasses.dataclass(slots=True)
class _Row:
    id: int
    route: str
    insert_id: str
    payload: bytes
    attempts: int
    not_before: float
    enqueued_at: float
    last_error: str | None = None


class FakeOutbox:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.rows: dict[int, _Row] = {}
        self.leased: set[int] = set()
        self.dead: list[DeadLetter] = []
        self._dead_payloads: dict[int, bytes] = {}
        self._next_dead = 1
        self.retry_calls: list[tuple[tuple[int, ...], float, str]] = []
        self.lease_calls = 0
        self._next_id = 1
        self._listeners: list[Callable[[set[str]], None]] = []
        self.closed = False

    def add_listener(self, callback: Callable[[set[str]], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def _announce(self, routes: set[str]) -> None:
        for listener in list(self._listeners):
            listener(set(routes))

    async def append(self, entries: Sequence[Entry]) -> None:
        now = self.clock()
        for entry in entries:
            self.rows[self._next_id] = _Row(
                self._next_id, entry.route, entry.insert_id, entry.payload, 0, now, now
            )
            self._next_id += 1
        if entries:
            self._announce({entry.route for entry in entries})

    async def lease(self, route: str, limit: int) -> list[Leased]:
        self.lease_calls += 1
        now = self.clock()
        due = sorted(
            (
                row
                for row in self.rows.values()
                if row.route == route
                and row.not_before <= now
                and row.id not in self.leased
            ),
            key=lambda row: (row.not_before, row.id),
        )[: max(limit, 0)]
        self.leased.update(row.id for row in due)
        return [
            Leased(r.id, r.route, r.insert_id, r.payload, r.attempts, r.enqueued_at)
            for r in due
        ]

    async def ack(self, ids: Sequence[int]) -> None:
        for id_ in ids:
            self.leased.discard(id_)
            self.rows.pop(id_, None)

    async def retry(
        self, ids: Sequence[int], delay_seconds: float, reason: str
    ) -> None:
        self.retry_calls.append((tuple(ids), delay_seconds, reason))
        for id_ in ids:
            self.leased.discard(id_)
            row = self.rows.get(id_)
            if row is not None:
                row.attempts += 1
                row.not_before = self.clock() + max(delay_seconds, 0.0)
                row.last_error = reason

    async def bury(self, ids: Sequence[int], reason: str) -> None:
        for id_ in ids:
            self.leased.discard(id_)
            row = self.rows.pop(id_, None)
            if row is not None:
                dead_id = self._next_dead
                self._next_dead += 1
                self._dead_payloads[dead_id] = row.payload
                self.dead.append(
                    DeadLetter(
                        dead_id,
                        row.route,
                        row.insert_id,
                        reason,
                        row.attempts + 1,
                        self.clock(),
                    )
                )

    async def routes(self) -> list[str]:
        return sorted({row.route for row in self.rows.values()})

    async def stats(self) -> list[RouteStats]:
        now = self.clock()
        names = {row.route for row in self.rows.values()}
        names |= {dead.route for dead in self.dead}
        out = []
        for route in sorted(names):
            rows = [row for row in self.rows.values() if row.route == route]
            oldest = min((row.enqueued_at for row in rows), default=None)
            out.append(
                RouteStats(
                    route,
                    len(rows),
                    None if oldest is None else max(now - oldest, 0.0),
                    sum(1 for dead in self.dead if dead.route == route),
                )
            )
        return out

    async def dead_letters(
        self, route: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        found = [d for d in self.dead if route is None or d.route == route]
        return found[: max(limit, 0)]

    async def replay(self, route: str | None = None) -> int:
        back = [d for d in self.dead if route is None or d.route == route]
        self.dead = [d for d in self.dead if d not in back]
        await self.append(
            [Entry(d.route, d.insert_id, self._dead_payloads.pop(d.id)) for d in back]
        )
        return len(back)

    async def heartbeat(self) -> None:
        """Memory always takes writes."""

    async def close(self) -> None:
        self.closed = True
