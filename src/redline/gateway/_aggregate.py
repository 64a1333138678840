"""Aggregation windows: the state behind the policy's ``aggregate`` rule.

The engine only marks an event as aggregated; this module folds such events
into windows kept in a SQLite file (``aggregates.db`` in the data dir) and
turns each closed window into one summary event in the outbox.

Windows are aligned on the gateway's clock when the event is received:
``window_start = floor(received / window_seconds) * window_seconds``. A
window's row is keyed by (project, event name, window start, window length,
group) and holds the count, sums, minima, maxima and how many named values
were not numbers.

Durability is the outbox's: a request's folds are committed (WAL,
``synchronous=FULL``) before the client is answered. A background task
closes due windows about once a second: it marks the rows as closing,
appends the summaries to the outbox for each of the project's routes, then
deletes the rows. A crash between the append and the delete sends the
summary again with the same ``$insert_id`` (derived from the row's key and
the time its first event arrived), which destinations deduplicate. On
shutdown every open window is closed early; windows a previous run left are
kept and closed when due. Events arriving after an early close start a new
row for the same window, whose summary has its own insert id.

All SQLite work runs on one worker thread, so rows are never read and
written concurrently and the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from .._datadir import private_file
from ..engine import Hasher
from ..errors import RedlineError
from ..events import Event, Kind, to_record
from ..outbox import Entry
from ..policy import Aggregate

log = logging.getLogger("redline.aggregate")

T = TypeVar("T")

COUNT_PROPERTY = "$aggregate_count"
WINDOW_START_PROPERTY = "$window_start"
WINDOW_SECONDS_PROPERTY = "$window_seconds"
# summaries are about many users: Mixpanel reads "" as "no user"
SUMMARY_DISTINCT_ID = ""
_INT_LIMIT = 2**63

_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_seconds INTEGER NOT NULL,
    grp BLOB NOT NULL,
    routes BLOB NOT NULL,
    first_seen REAL NOT NULL,
    closing INTEGER NOT NULL DEFAULT 0,
    state BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_key
    ON windows (project, name, window_start, window_seconds, grp, closing);
"""


class Appender(Protocol):
    """What the aggregator needs of the outbox."""

    async def append(self, entries: Sequence[Entry]) -> None: ...


class AggregatesUnavailable(RedlineError):
    """The aggregation store could not commit; the request is not answered
    as accepted."""


@dataclasses.dataclass(frozen=True, slots=True)
class Fold:
    """One sanitised event to fold into its window."""

    project: str
    routes: tuple[str, ...]
    event: Event
    rule: Aggregate


# (project, name, window start, window seconds, group JSON)
_Key = tuple[str, str, int, int, bytes]


@dataclasses.dataclass(slots=True)
class _Pending:
    routes: tuple[str, ...]
    first_seen: float
    state: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Closing:
    id: int
    project: str
    name: str
    window_start: int
    window_seconds: int
    group: bytes
    routes: tuple[str, ...]
    first_seen: float
    state: dict[str, Any]


def _number(value: Any) -> bool:
    kind = type(value)
    return (kind is int) or (kind is float and math.isfinite(value))


def _fresh(rule: Aggregate) -> dict[str, Any]:
    return {
        "count": 0,
        "sum": dict.fromkeys(rule.sum, 0),
        "min": {},
        "max": {},
        "non_numeric": {},
    }


def _fold_event(state: dict[str, Any], rule: Aggregate, properties: Any) -> None:
    state["count"] += 1
    odd: dict[str, int] = state["non_numeric"]
    # each named property once, however many lists name it
    for name in dict.fromkeys((*rule.sum, *rule.min, *rule.max)):
        if name not in properties:
            continue
        value = properties[name]
        if not _number(value):
            odd[name] = odd.get(name, 0) + 1
            continue
        if name in rule.sum:
            state["sum"][name] = _bounded(state["sum"].get(name, 0) + value)
        if name in rule.min:
            low = state["min"].get(name)
            state["min"][name] = value if low is None else min(low, value)
        if name in rule.max:
            high = state["max"].get(name)
            state["max"][name] = value if high is None else max(high, value)


def _bounded(total: int | float) -> int | float:
    # a sum of integers stays exact while 64 bits hold it
    if type(total) is int and not -_INT_LIMIT <= total < _INT_LIMIT:
        return float(total)
    return total


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    into["count"] += other["count"]
    for name, value in other["sum"].items():
        into["sum"][name] = _bounded(into["sum"].get(name, 0) + value)
    for name, value in other["min"].items():
        known = into["min"].get(name)
        into["min"][name] = value if known is None else min(known, value)
    for name, value in other["max"].items():
        known = into["max"].get(name)
        into["max"][name] = value if known is None else max(known, value)
    for name, value in other["non_numeric"].items():
        into["non_numeric"][name] = into["non_numeric"].get(name, 0) + value


def summary_event(
    name: str,
    window_start: int,
    window_seconds: int,
    group: Sequence[Sequence[Any]],
    state: dict[str, Any],
    insert_id: str,
) -> Event:
    """The event one window of one group is forwarded as."""
    properties: dict[str, Any] = {key: value for key, value in group}
    properties[COUNT_PROPERTY] = state["count"]
    for op in ("sum", "min", "max"):
        for prop, value in state[op].items():
            properties[f"{prop}_{op}"] = value
    for prop, count in state["non_numeric"].items():
        properties[f"{prop}_non_numeric"] = count
    properties[WINDOW_START_PROPERTY] = window_start
    properties[WINDOW_SECONDS_PROPERTY] = window_seconds
    return Event(
        Kind.TRACK,
        name,
        properties,
        distinct_id=SUMMARY_DISTINCT_ID,
        insert_id=insert_id,
        time=window_start,
    )


class Aggregator:
    """Owns the aggregation windows of one gateway.

    ``hasher`` gives the hasher of the policy in force (it derives the
    summaries' insert ids); ``clock`` tells the time in epoch seconds.
    """

    def __init__(
        self,
        path: Path,
        outbox: Appender,
        hasher: Callable[[], Hasher],
        *,
        clock: Callable[[], float] = time.time,
        interval: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self._outbox = outbox
        self._hasher = hasher
        self._clock = clock
        self._interval = interval
        self._conn: sqlite3.Connection | None = None
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        # True while rows may be stored: the ticker reads nothing otherwise
        self._pending = False
        self.summaries = 0

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="redline-aggregate"
        )
        left = await self._run(self._open)
        if left:
            log.info("aggregation windows from a previous run", extra={"rows": left})
        self._pending = left > 0
        self._task = asyncio.create_task(self._tick(), name="redline-aggregate")

    async def close(self) -> None:
        """Stop the ticker, close every open window early, and close."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._worker is None:
            return
        try:
            if self._pending:
                sent = await self.flush(everything=True)
                log.info("shutdown: aggregation windows closed", extra={"rows": sent})
        except Exception as exc:
            # the rows stay; the next start closes them
            log.warning(
                "shutdown: aggregation windows kept for the next start",
                extra={"error": type(exc).__name__},
            )
        await self._run(self._close_conn)
        self._worker.shutdown(wait=True)
        self._worker = None

    # -- folding ---------------------------------------------------------

    async def add(self, folds: Sequence[Fold]) -> None:
        """Fold events into their windows; returns once committed."""
        if not folds:
            return
        received = self._clock()
        pending: dict[_Key, _Pending] = {}
        for fold in folds:
            rule = fold.rule
            width = rule.window_seconds
            start = int(received // width) * width
            properties = fold.event.properties
            group = orjson.dumps(
                [[name, properties.get(name)] for name in rule.group_by]
            )
            key = (fold.project, fold.event.name, start, width, group)
            found = pending.get(key)
            if found is None:
                found = _Pending(fold.routes, received, _fresh(rule))
                pending[key] = found
            _fold_event(found.state, rule, properties)
        await self._run(self._store, pending)
        self._pending = True

    # -- closing windows -------------------------------------------------

    async def flush(self, *, everything: bool = False) -> int:
        """Close due windows (all with ``everything``): their summaries go
        to the outbox, then their rows are deleted. Returns how many."""
        closing, remaining = await self._run(
            self._close_due, None if everything else self._clock()
        )
        if not closing:
            self._pending = remaining > 0
            return 0
        hasher = self._hasher()
        entries: list[Entry] = []
        for row in closing:
            group = orjson.loads(row.group)
            insert_id = hasher.insert_id(
                [
                    "aggregate",
                    row.project,
                    row.name,
                    row.window_start,
                    row.window_seconds,
                    group,
                    row.first_seen,
                ]
            )
            event = summary_event(
                row.name,
                row.window_start,
                row.window_seconds,
                group,
                row.state,
                insert_id,
            )
            payload = orjson.dumps(to_record(event))
            entries.extend(Entry(route, insert_id, payload) for route in row.routes)
        self._pending = True
        if entries:
            await self._outbox.append(entries)
        await self._run(self._delete, [row.id for row in closing])
        self._pending = remaining > 0
        self.summaries += len(closing)
        log.info(
            "aggregation windows closed",
            extra={"rows": len(closing), "entries": len(entries)},
        )
        return len(closing)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not self._pending:
                continue
            try:
                await self.flush()
            except Exception as exc:
                # OutboxFull or a disk error: the rows stay closing and the
                # next tick tries again
                log.warning(
                    "aggregation windows not closed; retrying",
                    extra={"error": type(exc).__name__},
                )

    # -- the worker thread -----------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._worker is not None, "the aggregator is not started"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, fn, *args)

    def _open(self) -> int:
        private_file(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError("journal_mode WAL not available")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(_SCHEMA)
            left = int(conn.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
        except sqlite3.Error as exc:
            conn.close()
            raise AggregatesUnavailable(
                f"cannot open the aggregation store ({type(exc).__name__})"
            ) from None
        self._conn = conn
        return left

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise AggregatesUnavailable("the aggregation store is closed")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise AggregatesUnavailable(
                f"the aggregation store could not commit ({type(exc).__name__})"
            ) from None
        return result

    def _store(self, pending: dict[_Key, _Pending]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            for key, item in pending.items():
                row = conn.execute(
                    "SELECT id, state FROM windows WHERE project = ? AND name = ?"
                    " AND window_start = ? AND window_seconds = ? AND grp = ?"
                    " AND closing = 0",
                    key,
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO windows (project, name, window_start,"
                        " window_seconds, grp, routes, first_seen, state)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            *key,
                            orjson.dumps(list(item.routes)),
                            item.first_seen,
                            orjson.dumps(item.state),
                        ),
                    )
                    continue
                state = orjson.loads(row[1])
                _merge(state, item.state)
                conn.execute(
                    "UPDATE windows SET state = ? WHERE id = ?",
                    (orjson.dumps(state), row[0]),
                )

        self._transaction(work)

    def _close_due(self, now: float | None) -> tuple[list[_Closing], int]:
        def work(conn: sqlite3.Connection) -> tuple[list[_Closing], int]:
            query = (
                "SELECT id, project, name, window_start, window_seconds, grp,"
                " routes, first_seen, state FROM windows"
            )
            if now is None:
                rows = conn.execute(query + " ORDER BY id").fetchall()
            else:
                rows = conn.execute(
                    query + " WHERE closing = 1 OR window_start + window_seconds <= ?"
                    " ORDER BY id",
                    (now,),
                ).fetchall()
            conn.executemany(
                "UPDATE windows SET closing = 1 WHERE id = ?",
                [(row[0],) for row in rows],
            )
            total = int(conn.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
            closing = [
                _Closing(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    tuple(orjson.loads(row[6])),
                    row[7],
                    orjson.loads(row[8]),
                )
                for row in rows
            ]
            return closing, total - len(closing)

        return self._transaction(work)

    def _delete(self, ids: list[int]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM windows WHERE id = ?", [(i,) for i in ids])

        self._transaction(work)
