"""The durable outbox on one machine: SQLite in WAL mode with group commit.

What ``append`` promises once it has returned, by ``durability``:

``"power"`` (``PRAGMA synchronous=FULL``)
    Every commit fsyncs the write-ahead log before ``append`` returns.
    Against a process crash (an exception, the OOM killer, ``SIGKILL``):
    every acknowledged record survives. Against power loss or a kernel
    crash: every acknowledged record survives too, provided the disk honours
    fsync (no volatile write cache that lies about flushing).

``"process"`` (``PRAGMA synchronous=NORMAL``)
    A commit is written to the log but not fsynced; the log is fsynced only
    when it is checkpointed into the database. Against a process crash,
    including ``SIGKILL``: every acknowledged record survives, because the
    kernel already holds the written pages. Against power loss or a kernel
    crash: the transactions committed since the last checkpoint may be lost,
    whole (never half a transaction), and the database stays consistent.

Either way an ack, retry or bury lost in a crash only means the record is
handed out again: delivery is at least once, and destinations deduplicate by
``insert_id``. A leased record that was never acked is due again after a
restart (leases live in memory); a retry delay survives a restart.

The writer. One writer owns the writing connection: a thread of this
process (``writer="thread"``, the default here) or a child process
(``writer="process"``, what the gateway runs; see
:mod:`redline.outbox._process`). ``append``, ``lease``, ``ack``, ``retry``,
``bury``, ``replay`` and ``heartbeat`` go to it in order; it takes everything that is
waiting, runs it in ONE transaction (each call in its own savepoint, so one
bad call fails alone; a lone call needs none), commits once, and resolves
every caller's future on the loop. A failed commit
fails every call of that transaction with :class:`OutboxUnavailable`; none
of them is reported as done. ``stats``, ``routes`` and ``dead_letters`` only
read, so they run in a worker thread on a connection of their own; WAL lets
them read while the writer writes.

Lifecycle::

    outbox = await SqliteOutbox.open(path, durability="power")
    ...
    await outbox.close()

or ``async with SqliteOutbox(path) as outbox: ...``. ``start`` (called by
both) opens the file, creates the schema and counts the stored records; every
method must then be called from the loop that called ``start``.

Storage. The records of one ``append`` call are stored per route as one row,
a *segment*: their insert ids, their payloads packed together, and which of
them are already gone. One row per request rather than one per event is what
makes the outbox cheap next to the request path: a batch of 50 events costs
one insert, one lease read and one delete. A record's id is its segment's id
shifted left by 16 bits plus its index; a retry of part of a segment moves
those records into a segment of their own, so due times and attempts stay
per record as the protocol promises.

Order: ``lease`` hands out a route's due records by due time, then by id.
Fresh records are due when appended, so they come out oldest first; a
retried record takes its place again when its delay is over.

Depth. The writer knows how many records are stored: it counts them when
it opens the file, then adds what each of its own calls did. Another
process may change the file too (``redline outbox replay``): at the start
of each transaction the writer reads ``PRAGMA data_version``, which changes
only when another connection has committed, and counts the records again
when it did (the pragma takes about a microsecond; a count of 1,000,000
records took 0.12 s). Every transaction's outcome carries the depth after
it, which :attr:`SqliteOutbox.depth` (and the ``OutboxFull`` check) takes
over.

The CLI helpers :func:`read_stats`, :func:`read_dead_letters` and
:func:`replay_dead_letters` use plain ``sqlite3`` calls and are safe to run
while a gateway has the file open. A running gateway sees a replay done by
the CLI at its next transaction (its forwarders lease at least every half
second): from then on its depth counts the replayed records and its
forwarders send them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import queue
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar

import orjson

from .._datadir import private_file
from ..errors import OutboxFull, RedlineError
from ._base import DeadLetter, Entry, Leased, RouteStats
from ._process import RemoteWriter

__all__ = [
    "OutboxUnavailable",
    "SqliteOutbox",
    "read_dead_letters",
    "read_stats",
    "replay_dead_letters",
]

logger = logging.getLogger("redline.outbox")

Durability = Literal["power", "process"]
WriterKind = Literal["thread", "process"]
Listener = Callable[[set[str]], None]

_SYNCHRONOUS: Final[dict[str, str]] = {"power": "FULL", "process": "NORMAL"}
_BUSY_TIMEOUT_MS: Final = 5_000
_SCHEMA_VERSION: Final = 2
# the seconds an OutboxFull tells clients to wait
FULL_RETRY_AFTER_SECONDS: Final = 5
# the most queued calls one transaction takes, to bound its latency
_MAX_CALLS_PER_TRANSACTION: Final = 4_096

# a record id is its segment's id << _INDEX_BITS | its index in the segment
_INDEX_BITS: Final = 16
_MAX_SEGMENT: Final = 1 << _INDEX_BITS
_INDEX_MASK: Final = _MAX_SEGMENT - 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    insert_ids BLOB NOT NULL,
    records BLOB NOT NULL,
    size INT NOT NULL,
    waiting INT NOT NULL,
    gone BLOB,
    attempts INT NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (route, not_before, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    insert_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    attempts INT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_route ON dead_letters (route, id);
CREATE TABLE IF NOT EXISTS heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    beats INT NOT NULL,
    at REAL NOT NULL
);
"""
# heartbeat: one row the readiness probe rewrites (see SqliteOutbox.heartbeat).
# An outbox of schema 2 without it gains it when opened; a Redline that
# does not know it ignores it, so it needs no new schema version.

_INSERT: Final = (
    "INSERT INTO outbox (route, insert_ids, records, size, waiting, attempts,"
    " not_before, enqueued_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COUNT: Final = "SELECT COALESCE(SUM(waiting), 0) FROM outbox"
_SEGMENT: Final = (
    "SELECT route, insert_ids, records, size, waiting, gone, attempts,"
    " enqueued_at FROM outbox WHERE id = ?"
)


# --- segments ----------------------------------------------------------------


def _pack(payloads: Sequence[bytes]) -> bytes:
    """Payloads as one blob: their lengths (uint32 LE), then their bytes."""
    return struct.pack(f"<{len(payloads)}I", *map(len, payloads)) + b"".join(payloads)


def _unpack(blob: bytes, size: int) -> list[bytes]:
    lengths = struct.unpack_from(f"<{size}I", blob)
    out = []
    at = 4 * size
    view = memoryview(blob)
    for length in lengths:
        out.append(bytes(view[at : at + length]))
        at += length
    return out


def _gone(value: bytes | None) -> set[int]:
    return set(orjson.loads(value)) if value else set()


def _segments(
    route: str, insert_ids: Sequence[str], payloads: Sequence[bytes]
) -> Iterable[tuple[str, bytes, bytes, int]]:
    """(route, insert ids, packed records, size) rows of at most
    ``_MAX_SEGMENT`` records each."""
    for at in range(0, len(insert_ids), _MAX_SEGMENT):
        ids = insert_ids[at : at + _MAX_SEGMENT]
        yield (
            route,
            orjson.dumps(list(ids)),
            _pack(payloads[at : at + _MAX_SEGMENT]),
            len(ids),
        )


def _insert_segments(
    conn: sqlite3.Connection,
    route: str,
    insert_ids: Sequence[str],
    payloads: Sequence[bytes],
    *,
    attempts: int,
    not_before: float,
    enqueued_at: float,
    last_error: str | None = None,
) -> None:
    conn.executemany(
        _INSERT,
        [
            (r, ids, blob, size, size, attempts, not_before, enqueued_at, last_error)
            for r, ids, blob, size in _segments(route, insert_ids, payloads)
        ],
    )


def _by_segment(ids: Iterable[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for id_ in ids:
        out.setdefault(id_ >> _INDEX_BITS, set()).add(id_ & _INDEX_MASK)
    return out


@dataclasses.dataclass(slots=True)
class _Segment:
    id: int
    route: str
    insert_ids: list[str]
    records: bytes
    size: int
    waiting: int
    gone: set[int]
    attempts: int
    enqueued_at: float

    @classmethod
    def load(cls, conn: sqlite3.Connection, id_: int) -> _Segment | None:
        row = conn.execute(_SEGMENT, (id_,)).fetchone()
        if row is None:
            return None
        route, ids, records, size, waiting, gone, attempts, enqueued_at = row
        return cls(
            id_,
            route,
            orjson.loads(ids),
            records,
            size,
            waiting,
            _gone(gone),
            attempts,
            enqueued_at,
        )

    def present(self, indexes: Iterable[int]) -> list[int]:
        """Of ``indexes``, those still waiting in this segment, in order."""
        return sorted(i for i in indexes if 0 <= i < self.size and i not in self.gone)

    def remove(self, conn: sqlite3.Connection, indexes: list[int]) -> None:
        """Mark ``indexes`` (all present) gone; delete the row when empty."""
        self.gone.update(indexes)
        self.waiting -= len(indexes)
        if self.waiting <= 0:
            conn.execute("DELETE FROM outbox WHERE id = ?", (self.id,))
        else:
            conn.execute(
                "UPDATE outbox SET waiting = ?, gone = ? WHERE id = ?",
                (self.waiting, orjson.dumps(sorted(self.gone)), self.id),
            )


T = TypeVar("T")


class OutboxUnavailable(RedlineError):
    """The outbox could not store or serve a call; nothing was reported done.

    The message names the SQLite error class, never a stored value.
    """


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in manual-transaction mode; patched by tests."""
    private_file(path)
    return sqlite3.connect(
        str(path),
        timeout=_BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
    )


def _unavailable(what: str, exc: BaseException) -> OutboxUnavailable:
    return OutboxUnavailable(f"outbox {what} failed ({type(exc).__name__})")


# --- calls queued for the writer thread ---------------------------------


@dataclasses.dataclass(slots=True)
class _Done(Generic[T]):
    """What a call did, applied on the loop once its transaction committed."""

    result: T
    depth_delta: int = 0
    routes: frozenset[str] = frozenset()


class _Call(Generic[T]):
    __slots__ = ("done", "error", "future", "leased", "run")

    def __init__(
        self,
        run: Callable[[_Writer], _Done[T]],
        future: asyncio.Future[T] | None,
    ) -> None:
        self.run = run
        self.future = future
        self.done: _Done[T] | None = None
        self.error: BaseException | None = None
        # ids this call leased, released again if its transaction fails
        self.leased: list[int] = []


class _Append(_Call[None]):
    __slots__ = ("entries",)

    def __init__(self, entries: Sequence[Entry], future: asyncio.Future[None] | None):
        super().__init__(self._insert, future)
        self.entries = entries

    def _insert(self, writer: _Writer) -> _Done[None]:
        now = writer.clock()
        by_route: dict[str, tuple[list[str], list[bytes]]] = {}
        for e in self.entries:
            ids, payloads = by_route.setdefault(e.route, ([], []))
            ids.append(e.insert_id)
            payloads.append(e.payload)
        for route, (ids, payloads) in by_route.items():
            _insert_segments(
                writer.conn,
                route,
                ids,
                payloads,
                attempts=0,
                not_before=now,
                enqueued_at=now,
            )
        return _Done(None, len(self.entries), frozenset(by_route))


_STOP: Final = object()


class _Writer:
    """State owned by the writer thread: its connection, the leases and
    the records stored."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]):
        self.conn = conn
        self.clock = clock
        # route -> ids handed out and not yet acked, retried or buried
        self.leased: dict[str, set[int]] = {}
        self.lease_route: dict[int, str] = {}
        # records stored as of the last commit, and the file's data_version
        # then; None: not known (count again)
        self.depth: int | None = None
        self._version: int | None = None

    def open_depth(self) -> int:
        """The records stored, counted in a read transaction of its own
        (when the writer starts)."""
        self.conn.execute("BEGIN")
        try:
            depth = self.refresh()
        finally:
            self.conn.execute("COMMIT")
        return depth

    def refresh(self) -> int:
        """Inside a transaction: the records stored, counted again if
        another connection has committed since this one last looked."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self.depth is None or version != self._version:
            self.depth = self.conn.execute(_COUNT).fetchone()[0]
            self._version = version
        return self.depth

    def release(self, ids: Iterable[int]) -> None:
        for id_ in ids:
            route = self.lease_route.pop(id_, None)
            if route is not None:
                held = self.leased[route]
                held.discard(id_)
                if not held:
                    del self.leased[route]


class _Lease(_Call[list[Leased]]):
    __slots__ = ("limit", "route")

    def __init__(
        self,
        route: str,
        limit: int,
        future: asyncio.Future[list[Leased]] | None,
    ) -> None:
        super().__init__(self._select, future)
        self.route = route
        self.limit = limit

    def _select(self, w: _Writer) -> _Done[list[Leased]]:
        route = self.route
        held = w.leased.get(route, set())
        out: list[Leased] = []
        cursor = w.conn.execute(
            "SELECT id, insert_ids, records, size, gone, attempts, enqueued_at"
            " FROM outbox WHERE route = ? AND not_before <= ?"
            " ORDER BY not_before, id",
            (route, w.clock()),
        )
        try:
            for seg_id, ids, records, size, gone, attempts, enqueued_at in cursor:
                base = seg_id << _INDEX_BITS
                skip = _gone(gone)
                wanted = [
                    i for i in range(size) if i not in skip and (base | i) not in held
                ]
                if not wanted:
                    continue
                insert_ids = orjson.loads(ids)
                payloads = _unpack(records, size)
                for i in wanted[: self.limit - len(out)]:
                    out.append(
                        Leased(
                            base | i,
                            route,
                            insert_ids[i],
                            payloads[i],
                            attempts,
                            enqueued_at,
                        )
                    )
                if len(out) >= self.limit:
                    break
        finally:
            cursor.close()
        if out:
            held = w.leased.setdefault(route, set())
            for leased in out:
                held.add(leased.id)
                w.lease_route[leased.id] = route
                self.leased.append(leased.id)
        return _Done(out)


def _ack(ids: Sequence[int]) -> Callable[[_Writer], _Done[None]]:
    def run(w: _Writer) -> _Done[None]:
        # released first: if this fails the records are due again rather
        # than held for ever (at least once, never lost)
        w.release(ids)
        removed = 0
        for seg_id, indexes in _by_segment(ids).items():
            segment = _Segment.load(w.conn, seg_id)
            if segment is None:
                continue
            present = segment.present(indexes)
            if present:
                segment.remove(w.conn, present)
                removed += len(present)
        return _Done(None, -removed)

    return run


def _retry(
    ids: Sequence[int], delay: float, reason: str
) -> Callable[[_Writer], _Done[None]]:
    def run(w: _Writer) -> _Done[None]:
        w.release(ids)
        not_before = w.clock() + max(delay, 0.0)
        for seg_id, indexes in _by_segment(ids).items():
            segment = _Segment.load(w.conn, seg_id)
            if segment is None:
                continue
            present = segment.present(indexes)
            if not present:
                continue
            if len(present) == segment.waiting:
                w.conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, not_before = ?,"
                    " last_error = ? WHERE id = ?",
                    (not_before, reason, seg_id),
                )
                continue
            # part of the segment: those records move to a segment of their
            # own with their own due time and attempts
            payloads = _unpack(segment.records, segment.size)
            _insert_segments(
                w.conn,
                segment.route,
                [segment.insert_ids[i] for i in present],
                [payloads[i] for i in present],
                attempts=segment.attempts + 1,
                not_before=not_before,
                enqueued_at=segment.enqueued_at,
                last_error=reason,
            )
            segment.remove(w.conn, present)
        return _Done(None)

    return run


def _bury(ids: Sequence[int], reason: str) -> Callable[[_Writer], _Done[None]]:
    def run(w: _Writer) -> _Done[None]:
        w.release(ids)
        now = w.clock()
        removed = 0
        for seg_id, indexes in _by_segment(ids).items():
            segment = _Segment.load(w.conn, seg_id)
            if segment is None:
                continue
            present = segment.present(indexes)
            if not present:
                continue
            payloads = _unpack(segment.records, segment.size)
            w.conn.executemany(
                "INSERT INTO dead_letters"
                " (route, insert_id, payload, reason, attempts, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        segment.route,
                        segment.insert_ids[i],
                        payloads[i],
                        reason,
                        segment.attempts + 1,
                        now,
                    )
                    for i in present
                ],
            )
            segment.remove(w.conn, present)
            removed += len(present)
        return _Done(None, -removed)

    return run


def _replay(
    conn: sqlite3.Connection, route: str | None, now: float
) -> tuple[int, frozenset[str]]:
    where, args = ("WHERE route = ?", (route,)) if route is not None else ("", ())
    by_route: dict[str, tuple[list[str], list[bytes]]] = {}
    for r, insert_id, payload in conn.execute(
        f"SELECT route, insert_id, payload FROM dead_letters {where} ORDER BY id",
        args,
    ):
        ids, payloads = by_route.setdefault(r, ([], []))
        ids.append(insert_id)
        payloads.append(bytes(payload))
    count = 0
    for r, (ids, payloads) in by_route.items():
        _insert_segments(
            conn, r, ids, payloads, attempts=0, not_before=now, enqueued_at=now
        )
        count += len(ids)
    conn.execute(f"DELETE FROM dead_letters {where}", args)
    return count, frozenset(by_route)


def _replay_call(route: str | None) -> Callable[[_Writer], _Done[int]]:
    def run(w: _Writer) -> _Done[int]:
        count, routes = _replay(w.conn, route, w.clock())
        return _Done(count, count, routes)

    return run


def _heartbeat(w: _Writer) -> _Done[None]:
    # the count always changes, so the row's page is always written: SQLite
    # leaves a page it would write unchanged out of the commit
    beat = w.conn.execute(
        "UPDATE heartbeat SET beats = beats + 1, at = ? WHERE id = 1", (w.clock(),)
    )
    if beat.rowcount == 0:
        w.conn.execute(
            "INSERT INTO heartbeat (id, beats, at) VALUES (1, 1, ?)", (w.clock(),)
        )
    return _Done(None)


def _call_for(kind: str, args: Any, future: asyncio.Future[Any] | None) -> _Call[Any]:
    """The writer's call for a request of ``kind`` (as the public methods
    make them; the process writer gets them over its pipe)."""
    if kind == "append":
        return _Append(args, future)
    if kind == "lease":
        route, limit = args
        return _Lease(route, limit, future)
    if kind == "ack":
        return _Call(_ack(args), future)
    if kind == "retry":
        ids, delay, reason = args
        return _Call(_retry(ids, delay, reason), future)
    if kind == "bury":
        ids, reason = args
        return _Call(_bury(ids, reason), future)
    if kind == "replay":
        return _Call(_replay_call(args), future)
    if kind == "heartbeat":
        return _Call(_heartbeat, future)
    raise ValueError(f"unknown outbox call {kind!r}")


# --- the outbox ------------------------------------------------------------


class SqliteOutbox:
    """The :class:`~redline.outbox.Outbox` protocol on a SQLite file.

    ``durability`` chooses what an acknowledged append survives (see the
    module docstring). ``max_events`` bounds the records waiting (leased or
    not, dead letters excluded); an append that would pass it raises
    :class:`~redline.errors.OutboxFull`. ``clock`` gives the time used for
    due times, ages and failure times.
    """

    def __init__(
        self,
        path: Path,
        *,
        durability: Durability = "power",
        max_events: int = 1_000_000,
        clock: Callable[[], float] = time.time,
        writer: WriterKind = "thread",
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise ValueError(
                f"durability must be 'power' or 'process', not {durability!r}"
            )
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if writer not in ("thread", "process"):
            raise ValueError(f"writer must be 'thread' or 'process', not {writer!r}")
        self.path = Path(path)
        self.writer: WriterKind = writer
        self.durability: Durability = durability
        self.max_events = max_events
        self._clock = clock
        self._queue: queue.SimpleQueue[_Call[Any] | object] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # the process writer, and its callers in the order of their calls
        self._remote: RemoteWriter | None = None
        self._pending: collections.deque[tuple[asyncio.Future[Any], int, str]] = (
            collections.deque()
        )
        self._remote_gone = False
        self._reaper: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closing = False
        # records stored, and records of appends queued but not yet committed;
        # both only change on the loop
        self._depth = 0
        self._reserved = 0
        self._commits = 0
        self._listeners: list[Listener] = []

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        durability: Durability = "power",
        max_events: int = 1_000_000,
        clock: Callable[[], float] = time.time,
        writer: WriterKind = "thread",
    ) -> SqliteOutbox:
        """Construct and :meth:`start` an outbox."""
        outbox = cls(
            path,
            durability=durability,
            max_events=max_events,
            clock=clock,
            writer=writer,
        )
        await outbox.start()
        return outbox

    async def __aenter__(self) -> SqliteOutbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- lifecycle

    async def start(self) -> None:
        """Open the file, create the schema, count the records waiting.

        Starts the writer thread or process. Raises :class:`OutboxUnavailable`
        if the file cannot be opened as an outbox.
        """
        if self._thread is not None or self._remote is not None:
            return
        if self._closing:
            raise OutboxUnavailable("outbox is closed")
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = loop.create_future()
        self._loop = loop
        self._stopped = loop.create_future()
        if self.writer == "process":
            try:
                self._remote, self._depth = await RemoteWriter.start(
                    self.path, self.durability, self._settle_remote, self._remote_exited
                )
            except BaseException:
                self._closing = True
                raise
            self._opened()
            return
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="redline-outbox-writer", daemon=True
        )
        self._thread.start()
        try:
            self._depth = await ready
        except BaseException:
            self._closing = True
            await self._stopped
            raise
        self._opened()

    def _opened(self) -> None:
        logger.info(
            "outbox open: path=%s durability=%s writer=%s depth=%s",
            self.path,
            self.durability,
            self.writer,
            self._depth,
        )

    async def close(self) -> None:
        """Finish every queued call, stop the writer thread, close the file.

        Calling it again (or concurrently) waits for the same shutdown.
        """
        first = not self._closing
        self._closing = True
        if self._stopped is None:
            return
        if self._remote is not None:
            if first:
                self._remote.finish()
            await asyncio.shield(self._stopped)
            if first:
                await self._remote.wait()
                logger.info("outbox closed: path=%s depth=%s", self.path, self._depth)
            return
        if self._thread is None:
            return
        if first:
            self._queue.put(_STOP)
        await asyncio.shield(self._stopped)
        if first:
            self._thread.join()
            logger.info("outbox closed: path=%s depth=%s", self.path, self._depth)

    # -- observation

    @property
    def depth(self) -> int:
        """Records stored and waiting, as of the writer's last transaction
        (another process's changes included, see the module docstring)."""
        return self._depth

    @property
    def commits(self) -> int:
        """Transactions the writer has committed so far."""
        return self._commits

    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(routes)`` on the loop after records become due.

        ``routes`` is the set of routes that just got records (by an append
        or a replay). Returns a function that removes the listener. A
        listener that raises is logged and kept.
        """
        self._listeners.append(callback)
        return lambda: self.remove_listener(callback)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback``; a callback not listening is ignored."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    # -- the protocol

    async def append(self, entries: Sequence[Entry]) -> None:
        """Store ``entries`` durably, all or none; return once committed.

        Raises :class:`~redline.errors.OutboxFull` when the records waiting
        plus these would pass ``max_events``, and :class:`OutboxUnavailable`
        when the commit fails. A caller cancelled while waiting may still
        have its entries committed.
        """
        if not entries:
            return
        n = len(entries)
        if self._depth + self._reserved + n > self.max_events:
            raise OutboxFull(FULL_RETRY_AFTER_SECONDS)
        future: asyncio.Future[None] = self._require_loop().create_future()
        self._reserved += n
        self._dispatch("append", list(entries), future, reserved=n)
        await future

    async def lease(self, route: str, limit: int) -> list[Leased]:
        if limit <= 0:
            return []
        future: asyncio.Future[list[Leased]] = self._require_loop().create_future()
        self._dispatch("lease", (route, limit), future)
        return await future

    async def ack(self, ids: Sequence[int]) -> None:
        if ids:
            await self._submit("ack", list(ids))

    async def retry(
        self, ids: Sequence[int], delay_seconds: float, reason: str
    ) -> None:
        if ids:
            await self._submit("retry", (list(ids), delay_seconds, reason))

    async def bury(self, ids: Sequence[int], reason: str) -> None:
        if ids:
            await self._submit("bury", (list(ids), reason))

    async def replay(self, route: str | None = None) -> int:
        """Move dead letters back into the queue, due now, attempts reset.

        Replayed records do not count against ``max_events``.
        """
        result: int = await self._submit("replay", route)
        return result

    async def heartbeat(self) -> None:
        """Rewrite the outbox's one heartbeat row and commit, as an append
        commits (through the writer, synced for ``power``).

        Raises :class:`OutboxUnavailable` when the commit fails: the file or
        its disk refuses writes, the writer is gone or the outbox is closed.
        A call that changes nothing would not find that out: SQLite commits
        it without writing.
        """
        await self._submit("heartbeat", None)

    async def routes(self) -> list[str]:
        self._require_loop()
        return await asyncio.to_thread(_read_routes, self.path)

    async def stats(self) -> list[RouteStats]:
        self._require_loop()
        return await asyncio.to_thread(read_stats, self.path, now=self._clock())

    async def dead_letters(
        self, route: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        self._require_loop()
        return await asyncio.to_thread(read_dead_letters, self.path, route, limit)

    # -- loop side

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._closing:
            raise OutboxUnavailable("outbox is closed")
        if self._loop is None:
            raise OutboxUnavailable("outbox is not started")
        if self._remote_gone:
            raise OutboxUnavailable("outbox writer process exited")
        return self._loop

    async def _submit(self, kind: str, args: Any) -> Any:
        future: asyncio.Future[Any] = self._require_loop().create_future()
        self._dispatch(kind, args, future)
        return await future

    def _dispatch(
        self, kind: str, args: Any, future: asyncio.Future[Any], reserved: int = 0
    ) -> None:
        """Hand one call to the writer: the thread's queue, or the process's
        pipe (with this process's clock, so both writers keep one time)."""
        if self._remote is None:
            self._queue.put(_call_for(kind, args, future))
            return
        if kind == "append":
            # plain tuples pickle several times faster than the dataclass
            args = [(e.route, e.insert_id, e.payload) for e in args]
        self._pending.append((future, reserved, kind))
        self._remote.send((kind, args, self._clock()))

    def _settle_remote(self, outcomes: list[tuple[Any, ...]]) -> None:
        """On the loop: the process writer's outcomes, one per call, in the
        order of the calls."""
        routes: set[str] = set()
        for outcome in outcomes:
            future, reserved, kind = self._pending.popleft()
            self._reserved -= reserved
            if outcome[0] == "ok":
                _, result, depth, committed_routes, commits = outcome
                if kind == "lease":
                    result = [Leased(*fields) for fields in result]
                routes.update(committed_routes)
                if not future.done():
                    future.set_result(result)
            else:
                _, error, depth, commits = outcome
                if not future.done():
                    future.set_exception(error)
            if depth is not None:
                self._depth = depth
            self._commits = commits
        self._tell(routes)

    def _remote_exited(self) -> None:
        """On the loop: the process writer's answers ended. Expected after
        :meth:`close`; otherwise every later call fails, as with a dead
        writer thread, until the gateway starts again."""
        if not self._closing:
            self._remote_gone = True
            logger.error("outbox writer process exited")
            if self._remote is not None:
                # collected now, not at close: no zombie for the gateway's life
                self._reaper = asyncio.ensure_future(self._remote.wait())
        while self._pending:
            future, reserved, _ = self._pending.popleft()
            self._reserved -= reserved
            if not future.done():
                future.set_exception(OutboxUnavailable("outbox writer process exited"))
        self._stopped_now()

    def _settle(
        self, calls: list[_Call[Any]], committed: bool, depth: int | None
    ) -> None:
        """On the loop: account for a transaction (``depth``: the records
        stored after it, None if not known) and wake its callers."""
        if committed:
            self._commits += 1
        if depth is not None:
            self._depth = depth
        routes: set[str] = set()
        for call in calls:
            if isinstance(call, _Append):
                self._reserved -= len(call.entries)
            done = call.done
            future = call.future
            assert future is not None  # the thread's calls all have one
            if call.error is None and done is not None:
                routes |= done.routes
                if not future.done():
                    future.set_result(done.result)
            elif not future.done():
                future.set_exception(
                    call.error or OutboxUnavailable("outbox call failed")
                )
        self._tell(routes)

    def _tell(self, routes: set[str]) -> None:
        if routes:
            for listener in list(self._listeners):
                try:
                    listener(set(routes))
                except Exception:
                    logger.exception("outbox listener failed")

    # -- writer thread

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            # the loop is closed: nobody is left to tell
            logger.warning("outbox writer could not reach the event loop")

    def _run(self, ready: asyncio.Future[int]) -> None:
        try:
            conn = self._open_writer()
            writer = _Writer(conn, self._clock)
            depth = writer.open_depth()
        except Exception as exc:
            error = _unavailable("open", exc)
            error.__cause__ = exc
            self._post(ready.set_exception, error)
            self._post(self._stopped_now)
            return

        self._post(ready.set_result, depth)
        try:
            self._serve(writer)
        finally:
            try:
                conn.close()
            except sqlite3.Error as exc:
                logger.warning("outbox close failed (%s)", type(exc).__name__)
            self._post(self._stopped_now)

    def _stopped_now(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _open_writer(self) -> sqlite3.Connection:
        return _open_writer(self.path, self.durability)

    def _serve(self, writer: _Writer) -> None:
        stopping = False
        while not stopping:
            calls: list[_Call[Any]] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    assert isinstance(item, _Call)
                    calls.append(item)
                if stopping or len(calls) >= _MAX_CALLS_PER_TRANSACTION:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if calls:
                committed = _transact(writer, calls)
                self._post(self._settle, calls, committed, writer.depth)


# --- the writer's transactions (the thread's, or the process's) ---------


def _open_writer(path: Path, durability: Durability) -> sqlite3.Connection:
    """The writing connection: WAL, the durability's synchronous level,
    the schema made or upgraded."""
    conn = _connect(path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError("journal_mode WAL not available")
        conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise sqlite3.DatabaseError("outbox schema is newer than this Redline")
        if version == 1:
            _upgrade_from_1(conn)
        conn.executescript(
            f"BEGIN; {_SCHEMA} PRAGMA user_version = {_SCHEMA_VERSION}; COMMIT;"
        )
    except BaseException:
        conn.close()
        raise
    return conn


def _transact(writer: _Writer, calls: list[_Call[Any]]) -> bool:
    """Run ``calls`` in one transaction; True if it committed."""
    conn = writer.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
        depth = writer.refresh()
    except Exception as exc:
        _fail_all(writer, calls, _unavailable("transaction", exc), exc)
        return False

    # most transactions hold one call (one request's append): it needs
    # no savepoint of its own, and every statement saved is one hand-over
    # of the interpreter lock less between this thread and the requests
    alone = len(calls) == 1
    for call in calls:
        try:
            if not alone:
                conn.execute("SAVEPOINT call")
            call.done = call.run(writer)
            if not alone:
                conn.execute("RELEASE call")
        except Exception as exc:
            undone = _undo_alone(conn) if alone else _undo_call(conn)
            if not undone:
                _fail_all(writer, calls, _unavailable("write", exc), exc)
                return False
            writer.release(call.leased)
            if isinstance(exc, sqlite3.Error):
                call.error = _unavailable("write", exc)
                call.error.__cause__ = exc
            else:
                call.error = exc
            logger.warning("outbox call failed (%s)", type(exc).__name__)

    if not conn.in_transaction:
        return True  # a lone call failed and was rolled back
    try:
        conn.execute("COMMIT")
    except Exception as exc:
        _fail_all(writer, calls, _unavailable("commit", exc), exc)
        return False
    for call in calls:
        if call.error is None and call.done is not None:
            depth += call.done.depth_delta
    writer.depth = depth
    return True


def _undo_alone(conn: sqlite3.Connection) -> bool:
    """Roll back the transaction of a lone call that failed."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
    return True


def _undo_call(conn: sqlite3.Connection) -> bool:
    """Roll one call back to its savepoint; False if the whole
    transaction is gone (SQLite rolls back by itself on some errors)."""
    if not conn.in_transaction:
        return False
    try:
        conn.execute("ROLLBACK TO call")
        conn.execute("RELEASE call")
    except sqlite3.Error:
        return False
    return True


def _fail_all(
    writer: _Writer,
    calls: list[_Call[Any]],
    error: OutboxUnavailable,
    cause: BaseException,
) -> None:
    error.__cause__ = cause
    writer.depth = None  # counted again by the next transaction
    if writer.conn.in_transaction:
        try:
            writer.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            logger.warning("outbox rollback failed (%s)", type(exc).__name__)
    entries = 0
    for call in calls:
        writer.release(call.leased)
        call.error = error
        if isinstance(call, _Append):
            entries += len(call.entries)
    logger.error(
        "outbox transaction failed (%s): calls=%s entries=%s",
        type(cause).__name__,
        len(calls),
        entries,
    )


def _upgrade_from_1(conn: sqlite3.Connection) -> None:
    """Schema 1 kept one row per record: each becomes a segment of one."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DROP INDEX IF EXISTS outbox_due")
        conn.execute("ALTER TABLE outbox RENAME TO outbox_v1")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        rows = conn.execute(
            "SELECT route, insert_id, payload, attempts, not_before, enqueued_at,"
            " last_error FROM outbox_v1 ORDER BY id"
        )
        for route, insert_id, payload, attempts, not_before, enqueued, error in rows:
            _insert_segments(
                conn,
                route,
                [insert_id],
                [bytes(payload)],
                attempts=attempts,
                not_before=not_before,
                enqueued_at=enqueued,
                last_error=error,
            )
        conn.execute("DROP TABLE outbox_v1")
        conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    logger.info("outbox schema upgraded from version 1")


# --- plain helpers for the CLI ---------------------------------------------


def _connect_existing(path: Path) -> sqlite3.Connection:
    if not Path(path).is_file():
        raise OutboxUnavailable(f"no outbox file at {path}")
    try:
        conn = _connect(path)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise _unavailable("open", exc) from exc
    return conn


def _read_routes(path: Path) -> list[str]:
    conn = _connect_existing(path)
    try:
        rows = conn.execute("SELECT DISTINCT route FROM outbox ORDER BY route")
        return [route for (route,) in rows]
    except sqlite3.Error as exc:
        raise _unavailable("read", exc) from exc
    finally:
        conn.close()


def read_stats(path: Path, *, now: float | None = None) -> list[RouteStats]:
    """Per route: records waiting, age of the oldest, dead letters.

    ``now`` defaults to ``time.time()``. Sorted by route. Safe while a
    gateway has the outbox open.
    """
    now = time.time() if now is None else now
    conn = _connect_existing(path)
    try:
        conn.execute("BEGIN")
        waiting = conn.execute(
            "SELECT route, SUM(waiting), MIN(enqueued_at) FROM outbox GROUP BY route"
        ).fetchall()
        dead = dict(
            conn.execute(
                "SELECT route, COUNT(*) FROM dead_letters GROUP BY route"
            ).fetchall()
        )
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise _unavailable("read", exc) from exc
    finally:
        conn.close()

    stats = {
        route: RouteStats(route, depth, max(now - oldest, 0.0), dead.pop(route, 0))
        for route, depth, oldest in waiting
    }
    for route, count in dead.items():
        stats[route] = RouteStats(route, 0, None, count)
    return [stats[route] for route in sorted(stats)]


def read_dead_letters(
    path: Path, route: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """Up to ``limit`` dead letters (of one route, or all), oldest first."""
    where, args = ("WHERE route = ?", (route,)) if route is not None else ("", ())
    conn = _connect_existing(path)
    try:
        rows = conn.execute(
            "SELECT id, route, insert_id, reason, attempts, failed_at"
            f" FROM dead_letters {where} ORDER BY id LIMIT ?",
            (*args, max(limit, 0)),
        ).fetchall()
    except sqlite3.Error as exc:
        raise _unavailable("read", exc) from exc
    finally:
        conn.close()
    return [DeadLetter(*row) for row in rows]


def replay_dead_letters(path: Path, route: str | None = None) -> int:
    """Move dead letters (of one route, or all) back into the queue.

    Returns how many. One transaction; safe while a gateway runs (see the
    module docstring for what the gateway notices).
    """
    conn = _connect_existing(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        count, _ = _replay(conn, route, time.time())
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise _unavailable("replay", exc) from exc
    finally:
        conn.close()
    return count
