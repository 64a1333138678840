"""The local store: sanitised events kept in an embedded SQLite database.

The gateway writes through :class:`LocalStoreDestination`; the CLI
(``redline events``) reads through :meth:`LocalStore.query` and
:meth:`LocalStore.count`, possibly while the gateway is writing. The database
runs in WAL mode with a busy timeout so that readers and the writer do not
trip over each other.

Writes are idempotent: ``(project, insert_id)`` is unique and inserts use
``INSERT OR IGNORE``, so a batch re-sent after a crash stores nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import orjson

from .._datadir import private_file
from ..errors import DeliveryError
from ..events import Event, Kind, to_record
from ..protocols._vendor import PERSON
from ._store_process import StoreUnavailable, StoreWriter

__all__ = ["STORE_FILENAME", "LocalStore", "LocalStoreDestination"]

STORE_FILENAME = "store.db"
# how long the forwarder lets records gather after a partial batch (none:
# see LOCAL_MAX_BATCH in forwarder.py)
LINGER_SECONDS = 0.0

# Event times above this are taken as milliseconds (Mixpanel accepts both);
# 1e11 seconds is the year 5138, 1e11 milliseconds is 1973.
_MILLIS_THRESHOLD = 1e11

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    distinct_id TEXT,
    time REAL NOT NULL,
    insert_id TEXT NOT NULL,
    stored_at REAL NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (project, insert_id)
);
CREATE INDEX IF NOT EXISTS events_project_time ON events (project, time);
CREATE INDEX IF NOT EXISTS events_name_time ON events (name, time);
CREATE INDEX IF NOT EXISTS events_distinct_id ON events (distinct_id);
"""

_INSERT = """
INSERT OR IGNORE INTO events
    (project, kind, name, distinct_id, time, insert_id, stored_at, record)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

TimeBound = float | int | datetime | None

# the fields of an outbox record (events.to_record), and its kinds
_RECORD_KEYS = ("k", "n", "p", "d", "i", "t", "ip", "imp", "e")
_KINDS = frozenset(kind.value for kind in Kind)


class LocalStore:
    """An SQLite file of sanitised events, safe to share between threads.

    ``LocalStore.in_dir(data_dir)`` opens ``store.db`` in the data directory.
    Reads and writes are synchronous; the destination runs its writes in a
    worker thread so the event loop never waits on the disk.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        private_file(self.path)
        self._conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout,
            isolation_level=None,  # explicit transactions only
            check_same_thread=False,
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)
        self._closed = False

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str]) -> LocalStore:
        return cls(Path(data_dir) / STORE_FILENAME)

    def insert(self, project: str, events: Sequence[Event]) -> int:
        """Store ``events`` of ``project`` in one transaction.

        Returns how many were new; events whose insert id is already stored
        for the project are skipped.
        """
        now = time.time()
        return self._insert_rows([_row(project, to_record(e), now) for e in events])

    def insert_records(
        self, project: str, records: Sequence[bytes]
    ) -> tuple[int, list[int]]:
        """Store ``records`` of ``project`` given in their outbox form
        (:func:`~redline.events.to_record` as JSON), in one transaction,
        without making events of them first.

        Returns how many were new, and the indexes of the records that
        could not be read (those are not stored).
        """
        now = time.time()
        rows = []
        unreadable = []
        for index, payload in enumerate(records):
            try:
                rows.append(_row(project, _outbox_record(payload), now))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                unreadable.append(index)
        return self._insert_rows(rows), unreadable

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> int:
        with self._lock:
            self._check_open()
            before = self._conn.total_changes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_INSERT, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return self._conn.total_changes - before

    def query(
        self,
        project: str | None = None,
        name: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        distinct_id: str | None = None,
        limit: int = 100,
        order: Literal["asc", "desc"] = "desc",
        *,
        kind: Kind | str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored events in Mixpanel's export shape, by event time.

        Each item is ``{"event": name, "properties": {...}}`` with
        ``distinct_id``, ``time`` and ``$insert_id`` put back among the
        properties. Two keys beside ``properties`` say what else was stored,
        when there is any: ``ip``, the client address after the policy's IP
        rule, and ``person``, the person operations an analytics event
        carried (PostHog's ``$set``, Amplitude's ``user_properties``), after
        the profile rules, as ``{"$set": {...}, "$set_once": {...}}``.
        ``since`` is inclusive and ``until`` exclusive; both are
        epoch seconds or datetimes. Events stored without a time sort by the
        time they were stored.
        """
        if order not in ("asc", "desc"):
            raise ValueError("order must be 'asc' or 'desc'")
        if limit < 0:
            raise ValueError("limit must not be negative")
        where, params = _where(project, name, since, until, distinct_id, kind)
        direction = "ASC" if order == "asc" else "DESC"
        sql = (
            f"SELECT record FROM events{where} "
            f"ORDER BY time {direction}, id {direction} LIMIT ?"
        )
        with self._lock:
            self._check_open()
            cursor = self._conn.execute(sql, (*params, limit))
            records = [row[0] for row in cursor.fetchall()]
        return [_export_shape(orjson.loads(record)) for record in records]

    def count(
        self,
        project: str | None = None,
        name: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        distinct_id: str | None = None,
        *,
        kind: Kind | str | None = None,
    ) -> int:
        """How many stored events match; the filters are those of ``query``."""
        where, params = _where(project, name, since, until, distinct_id, kind)
        with self._lock:
            self._check_open()
            row = self._conn.execute(f"SELECT COUNT(*) FROM events{where}", params)
            return int(row.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise sqlite3.ProgrammingError("the local store is closed")


class LocalStoreDestination:
    """Delivers one project's events into a shared :class:`LocalStore`,
    or through a :class:`StoreWriter` process (as the gateway does).

    The store belongs to the caller: ``aclose`` leaves it open. After a
    batch smaller than ``max_batch`` the forwarder waits ``linger`` seconds
    before it leases again: a commit costs the store about as much as
    dozens of rows (every index page the batch touched is written again),
    so under steady traffic fuller batches cost several times less per
    event, and events reach the store that much later.
    """

    def __init__(
        self,
        store: LocalStore | StoreWriter,
        project: str,
        *,
        max_batch: int = 500,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.store = store
        self.project = project
        self.max_batch = max_batch
        self.linger = linger

    async def send(self, events: Sequence[Event]) -> None:
        try:
            await asyncio.to_thread(self.store.insert, self.project, events)
        except (sqlite3.Error, StoreUnavailable) as exc:
            raise _write_failed(exc) from None

    async def send_records(self, records: Sequence[bytes]) -> None:
        """Like :meth:`send`, for records in their outbox form: they are read
        in the store's worker thread, and never made into events. Records
        that cannot be read are rejected for good; the others are stored."""
        try:
            _, unreadable = await asyncio.to_thread(
                self.store.insert_records, self.project, records
            )
        except (sqlite3.Error, StoreUnavailable) as exc:
            raise _write_failed(exc) from None
        if unreadable:
            reason = "undecodable record"
            raise DeliveryError(
                reason, permanent=True, rejected=dict.fromkeys(unreadable, reason)
            )

    async def aclose(self) -> None:
        return None


def _write_failed(exc: Exception) -> DeliveryError:
    # locked, disk full, I/O error, a writer process lost: worth another
    # try later
    if isinstance(exc, StoreUnavailable):
        return DeliveryError(str(exc))
    return DeliveryError(f"local store write failed ({type(exc).__name__})")


def _outbox_record(payload: bytes) -> dict[str, Any]:
    """An outbox record read back, with exactly the fields of
    :func:`~redline.events.to_record` (KeyError, TypeError or ValueError
    when it is not one)."""
    loaded = orjson.loads(payload)
    record = {key: loaded[key] for key in _RECORD_KEYS}
    if record["k"] not in _KINDS:
        raise ValueError("unknown record kind")
    return record


def _row(project: str, record: dict[str, Any], stored_at: float) -> tuple[Any, ...]:
    """The store's row for one record in the form of ``to_record``."""
    text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    insert_id = record["i"]
    if not insert_id:
        # a stable stand-in, so that re-sending the same record is still a
        # no-op
        insert_id = "sha256:" + hashlib.sha256(text).hexdigest()
    return (
        project,
        record["k"],
        record["n"],
        record["d"],
        _seconds(record["t"], stored_at),
        insert_id,
        stored_at,
        text.decode(),
    )


def _seconds(value: object, fallback: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fallback
    seconds = float(value)
    if seconds > _MILLIS_THRESHOLD:
        seconds /= 1000.0
    return seconds


def _epoch(bound: float | int | datetime) -> float:
    if isinstance(bound, datetime):
        return bound.timestamp()
    return float(bound)


def _where(
    project: str | None,
    name: str | None,
    since: TimeBound,
    until: TimeBound,
    distinct_id: str | None,
    kind: Kind | str | None,
) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("project", project),
        ("name", name),
        ("distinct_id", distinct_id),
        ("kind", None if kind is None else Kind(kind).value),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("time >= ?")
        params.append(_epoch(since))
    if until is not None:
        clauses.append("time < ?")
        params.append(_epoch(until))
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return where, tuple(params)


def _export_shape(record: dict[str, Any]) -> dict[str, Any]:
    properties = dict(record.get("p") or {})
    if record.get("d") is not None:
        properties["distinct_id"] = record["d"]
    if record.get("t") is not None:
        properties["time"] = record["t"]
    if record.get("i") is not None:
        properties["$insert_id"] = record["i"]
    shaped: dict[str, Any] = {"event": record["n"], "properties": properties}
    # beside the properties, so that neither can be taken for a property
    if record.get("ip") is not None:
        shaped["ip"] = record["ip"]
    envelope = record.get("e")
    person = envelope.get(PERSON) if isinstance(envelope, dict) else None
    if person:
        shaped["person"] = person
    return shaped
