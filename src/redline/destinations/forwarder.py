"""The forwarder: moves records from the outbox to their destinations.

One asyncio task per route leases due records, decodes them, hands them to
the route's destination and settles every record with the outbox:

* delivered: ``ack``;
* a retryable failure: ``retry`` after exponential backoff with full jitter
  (never sooner than the destination's ``Retry-After``), and the route pauses
  as long before it leases again;
* a permanent failure, or the last allowed attempt: ``bury`` with a
  shape-only reason;
* too large: the batch is split in halves and each half sent on its own; a
  single record that is still too large is buried.

A record the forwarder never settles (a crash, a cancelled shutdown) stays
in the outbox and is delivered again after a restart; destinations are
idempotent by insert id, so that is safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

import orjson

from ..config import Config
from ..errors import DeliveryError
from ..events import from_record
from ..outbox._base import Leased, Outbox
from ._base import Destination
from ._partial import PartialDelivery
from ._store_process import StoreWriter
from .amplitude import AmplitudeDestination
from .local import LocalStore, LocalStoreDestination
from .mixpanel import MixpanelDestination
from .posthog import PostHogDestination
from .segment import SegmentDestination

__all__ = ["DeliveryCounters", "Forwarder", "build_destinations"]

log = logging.getLogger("redline.forwarder")

# the local store's batches. Batches of 1000 with a 0.1 s linger cost less
# CPU per event in isolation, but under bench/gateway.py's load (fresh
# insert ids, quiet machine) they lowered the gateway's maximum (14,000-
# 18,000 against 21,500-22,100 events/s) and raised its p99 at half of it
# (23-46 ms against 13.5-19 ms): the longer bursts hold the interpreter
LOCAL_MAX_BATCH = 100
# larger batches are decoded in a worker thread, so that the request loop
# is never held for long
_DECODE_ON_LOOP = 100
_MAX_REASON = 200


@dataclasses.dataclass(slots=True)
class DeliveryCounters:
    """What one route's forwarder has done since start, for metrics."""

    delivered: int = 0
    retried: int = 0
    buried: int = 0
    batches: int = 0
    last_error: str | None = None  # shape-only, like dead-letter reasons


# a record and what the destination takes of it: the event, or the
# record's bytes for a destination that reads them itself (send_records)
_Item = tuple[Leased, Any]
_Send = Callable[[list[Any]], Awaitable[None]]


class Forwarder:
    """Delivers each route of ``outbox`` to ``destinations[route]``.

    ``retry_initial`` and ``retry_max`` bound the backoff before a retryable
    failure is tried again: the n-th attempt waits a random time up to
    ``min(retry_max, retry_initial * 2 ** (n - 1))`` seconds. After
    ``max_attempts`` failed attempts a record is buried. When nothing is due
    a route waits for the outbox to announce new records (``add_listener``,
    when the outbox has it, or :meth:`wake`) or ``poll_interval`` seconds.
    """

    def __init__(
        self,
        outbox: Outbox,
        destinations: Mapping[str, Destination],
        *,
        retry_initial: float = 2.0,
        retry_max: float = 60.0,
        max_attempts: int = 20,
        rng: random.Random | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        if retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("need 0 < retry_initial <= retry_max")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.destinations = dict(destinations)
        self.stats: dict[str, DeliveryCounters] = {
            route: DeliveryCounters() for route in self.destinations
        }
        self._outbox = outbox
        self._rng = rng or random.Random()
        self._wake = {route: asyncio.Event() for route in self.destinations}
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failures = dict.fromkeys(self.destinations, 0)
        self._paused_until = dict.fromkeys(self.destinations, 0.0)
        self._next_due: dict[str, float] = {}
        self._unlisten: Callable[[], object] | None = None

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks.values())

    def start(self) -> None:
        """Start one task per route; call from inside the event loop."""
        if self._tasks:
            raise RuntimeError("the forwarder is already started")
        # SqliteOutbox announces commits; the Outbox protocol does not promise
        # it, so without it the routes poll
        add_listener = getattr(self._outbox, "add_listener", None)
        if callable(add_listener):
            remove = add_listener(self._on_commit)
            self._unlisten = remove if callable(remove) else None
        for route in self.destinations:
            self._tasks[route] = asyncio.create_task(
                self._run(route), name=f"redline-forwarder:{route}"
            )
        log.info("forwarder started routes=%d", len(self._tasks))

    def wake(self, routes: Iterable[str] | None = None) -> None:
        """Tell the routes (all when None) that records may be due."""
        for route in self.destinations if routes is None else routes:
            event = self._wake.get(route)
            if event is not None:
                event.set()

    async def stop(self, deadline: float) -> None:
        """Stop leasing, let sends in flight finish, then close destinations.

        ``deadline`` is a time on the running loop's clock
        (``asyncio.get_running_loop().time()``); tasks still busy then are
        cancelled and their records stay in the outbox for the next start.
        """
        loop = asyncio.get_running_loop()
        self._stop.set()
        self.wake()
        tasks = [task for task in self._tasks.values() if not task.done()]
        cancelled = 0
        if tasks:
            _, pending = await asyncio.wait(
                tasks, timeout=max(0.0, deadline - loop.time())
            )
            for task in pending:
                task.cancel()
            cancelled = len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("forwarder stopped routes=%d cancelled=%d", len(tasks), cancelled)

        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for route, destination in self.destinations.items():
            try:
                await destination.aclose()
            except Exception as exc:
                log.warning(
                    "route=%s destination close failed (%s)",
                    route,
                    type(exc).__name__,
                )

    def _on_commit(self, routes: Collection[str]) -> None:
        self.wake(routes)

    async def _run(self, route: str) -> None:
        destination = self.destinations[route]
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                pause = self._paused_until[route] - loop.time()
                if pause > 0:
                    # a Retry-After or backoff: new records do not cut it short
                    await _wait(self._stop, pause)
                    continue
                self._wake[route].clear()
                leased = await self._outbox.lease(route, destination.max_batch)
                if not leased:
                    await _wait(self._wake[route], self._idle_timeout(route))
                    continue
                await self._forward(route, destination, leased)
                linger = getattr(destination, "linger", 0.0)
                if linger > 0 and len(leased) < destination.max_batch:
                    # a destination that does better with full batches:
                    # records gather a while before the next lease (new
                    # ones do not cut it short; stopping does)
                    await _wait(self._stop, linger)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # the outbox failed (locked, disk full, closed): keep going
                self.stats[route].last_error = f"outbox error ({type(exc).__name__})"
                log.error("route=%s outbox error (%s)", route, type(exc).__name__)
                await _wait(self._stop, self.poll_interval)

    def _idle_timeout(self, route: str) -> float:
        timeout = self.poll_interval
        due = self._next_due.get(route)
        if due is not None:
            left = due - asyncio.get_running_loop().time()
            if left > 0:
                timeout = min(timeout, left + 0.001)
            else:
                del self._next_due[route]
        return timeout

    async def _forward(
        self, route: str, destination: Destination, leased: list[Leased]
    ) -> None:
        send_records = getattr(destination, "send_records", None)
        if send_records is not None:
            # the destination reads the records itself
            raw = [(record, record.payload) for record in leased]
            await self._deliver(route, send_records, raw)
            return
        if len(leased) > _DECODE_ON_LOOP:
            items, broken = await asyncio.to_thread(_decode, leased)
        else:
            items, broken = _decode(leased)
        if broken:
            await self._outbox.bury(broken, "undecodable record")
            counters = self.stats[route]
            counters.buried += len(broken)
            counters.last_error = "undecodable record"
            log.warning(
                "route=%s events=%d buried=%d status=undecodable",
                route,
                len(broken),
                len(broken),
            )
        if items:
            await self._deliver(route, destination.send, items)

    async def _deliver(self, route: str, send: _Send, items: list[_Item]) -> None:
        counters = self.stats[route]
        counters.batches += 1
        started = time.perf_counter()
        error: DeliveryError | None
        try:
            await send([event for _, event in items])
        except DeliveryError as exc:
            error = exc
        except Exception as exc:
            # a bug or an unforeseen failure in the destination: retryable,
            # named by type only (its message might quote a value)
            error = DeliveryError(f"unexpected {type(exc).__name__} in destination")
        else:
            error = None
        elapsed_ms = (time.perf_counter() - started) * 1000

        if error is None:
            await self._outbox.ack([record.id for record, _ in items])
            counters.delivered += len(items)
            self._failures[route] = 0
            log.info(
                "route=%s events=%d delivered=%d status=ok ms=%.1f",
                route,
                len(items),
                len(items),
                elapsed_ms,
            )
            return

        reason = str(error)[:_MAX_REASON]
        counters.last_error = reason
        delivered, rejected, rest = _outcome(error, len(items))
        if delivered:
            await self._outbox.ack([items[i][0].id for i in delivered])
            counters.delivered += len(delivered)
        buried = await self._bury_rejected(items, rejected)

        retried = 0
        halves: list[list[_Item]] = []
        remaining = [items[i] for i in rest]
        if not remaining:
            status = "partial"
        elif error.too_large and len(remaining) > 1:
            status = "split"
            middle = len(remaining) // 2
            halves = [remaining[:middle], remaining[middle:]]
        elif error.too_large:
            status = "too_large"
            await self._outbox.bury([remaining[0][0].id], "too large")
            buried += 1
        elif error.permanent:
            status = "rejected"
            await self._outbox.bury([record.id for record, _ in remaining], reason)
            buried += len(remaining)
        else:
            status = "retry"
            retried, exhausted = await self._retry(route, remaining, error, reason)
            buried += exhausted
        counters.retried += retried
        counters.buried += buried

        log.warning(
            "route=%s events=%d delivered=%d retried=%d buried=%d status=%s "
            "ms=%.1f reason=%s",
            route,
            len(items),
            len(delivered),
            retried,
            buried,
            status,
            elapsed_ms,
            reason,
        )
        for half in halves:
            if self._stop.is_set():
                # shutting down: the rest stays in the outbox for next time
                break
            await self._deliver(route, send, half)

    async def _bury_rejected(self, items: list[_Item], rejected: dict[int, str]) -> int:
        by_reason: defaultdict[str, list[int]] = defaultdict(list)
        for index, why in rejected.items():
            by_reason[(why or "rejected")[:_MAX_REASON]].append(items[index][0].id)
        for why, ids in by_reason.items():
            await self._outbox.bury(ids, why)
        return len(rejected)

    async def _retry(
        self, route: str, items: list[_Item], error: DeliveryError, reason: str
    ) -> tuple[int, int]:
        """Schedule the records again; bury those out of attempts."""
        loop = asyncio.get_running_loop()
        floor = error.retry_after or 0.0
        by_attempt: defaultdict[int, list[int]] = defaultdict(list)
        exhausted: list[int] = []
        for record, _ in items:
            attempt = record.attempts + 1  # this one included
            if attempt >= self.max_attempts:
                exhausted.append(record.id)
            else:
                by_attempt[attempt].append(record.id)

        retried = 0
        for attempt, ids in sorted(by_attempt.items()):
            delay = max(self._backoff(attempt), floor)
            await self._outbox.retry(ids, delay, reason)
            retried += len(ids)
            due = loop.time() + delay
            self._next_due[route] = min(self._next_due.get(route, due), due)
        if exhausted:
            await self._outbox.bury(
                exhausted,
                f"gave up after {self.max_attempts} attempts: {reason}"[:_MAX_REASON],
            )

        # the destination is struggling: hold the whole route back too, so
        # a backlog is not pushed through a failing upstream
        self._failures[route] += 1
        pause = max(self._backoff(self._failures[route]), floor)
        self._paused_until[route] = loop.time() + pause
        return retried, len(exhausted)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry_max, self.retry_initial * 2 ** min(attempt - 1, 62))
        return self._rng.uniform(0.0, ceiling)


def _decode(leased: list[Leased]) -> tuple[list[_Item], list[int]]:
    """The records as events, and the ids of those that cannot be read."""
    items: list[_Item] = []
    broken: list[int] = []
    for record in leased:
        try:
            items.append((record, from_record(orjson.loads(record.payload))))
        except Exception:
            broken.append(record.id)
    return items, broken


def _outcome(
    error: DeliveryError, size: int
) -> tuple[list[int], dict[int, str], list[int]]:
    """Split batch indexes into delivered, rejected (with reasons) and rest."""
    rejected = {i: why for i, why in error.rejected.items() if 0 <= i < size}
    if isinstance(error, PartialDelivery):
        delivered = sorted(
            i for i in error.delivered if 0 <= i < size and i not in rejected
        )
        settled = set(delivered) | rejected.keys()
        return delivered, rejected, [i for i in range(size) if i not in settled]
    if rejected:
        # a partial rejection: the rest arrived
        return [i for i in range(size) if i not in rejected], rejected, []
    return [], {}, list(range(size))


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass


def build_destinations(
    config: Config, store: LocalStore | StoreWriter
) -> dict[str, Destination]:
    """One destination per project and upstream, keyed by outbox route."""
    destinations: dict[str, Destination] = {}
    for project in config.projects.values():
        for upstream in project.upstreams:
            route = f"{project.name}/{upstream.destination}"
            spec = upstream.spec
            if spec.type == "local":
                # the local store takes bigger batches unless told otherwise
                explicit = "max_batch" in spec.model_fields_set
                destinations[route] = LocalStoreDestination(
                    store,
                    project.name,
                    max_batch=spec.max_batch if explicit else LOCAL_MAX_BATCH,
                )
            elif spec.type == "posthog":
                destinations[route] = PostHogDestination(upstream)
            elif spec.type == "segment":
                destinations[route] = SegmentDestination(upstream)
            elif spec.type == "amplitude":
                destinations[route] = AmplitudeDestination(upstream)
            else:
                destinations[route] = MixpanelDestination(upstream)
    return destinations
