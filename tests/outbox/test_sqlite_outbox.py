"""The SQLite outbox: queue semantics, durability and failure behaviour."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import redline.outbox
from redline.errors import OutboxFull
from redline.outbox import (
    Entry,
    OutboxUnavailable,
    SqliteOutbox,
    read_dead_letters,
    read_stats,
    replay_dead_letters,
)
from redline.outbox import sqlite as sqlite_outbox


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entries(route: str, *ids: str) -> list[Entry]:
    return [Entry(route, id_, f'{{"i":"{id_}"}}'.encode()) for id_ in ids]


def waiting(path: Path) -> list[tuple[str, int, str | None]]:
    """(insert id, attempts, last error) of every record still waiting."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT insert_ids, gone, attempts, last_error FROM outbox ORDER BY id"
        ).fetchall()
    out = []
    for ids, gone, attempts, error in rows:
        skip = set(orjson.loads(gone)) if gone else set()
        out.extend(
            (id_, attempts, error)
            for i, id_ in enumerate(orjson.loads(ids))
            if i not in skip
        )
    return out


def stored_ids(path: Path) -> list[str]:
    return [id_ for id_, _, _ in waiting(path)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture(params=["thread", "process"])
async def outbox(
    db: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[SqliteOutbox]:
    # the queue's semantics are the same whichever writer runs the calls
    box = await SqliteOutbox.open(db, clock=clock, writer=request.param)
    yield box
    await box.close()


class FailingConnection(sqlite3.Connection):
    """Fails COMMIT while ``fail_commits`` is set; can hold BEGIN on a gate."""

    fail_commits = False
    gate: threading.Event | None = None

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE" and self.gate is not None:
            self.gate.wait(5)
        if sql == "COMMIT" and self.fail_commits:
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> type[FailingConnection]:
    class Conn(FailingConnection):
        pass

    def connect(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, factory=Conn)

    monkeypatch.setattr(sqlite_outbox, "_connect", connect)
    return Conn


def test_public_surface_is_pinned() -> None:
    assert sorted(redline.outbox.__all__) == [
        "DeadLetter",
        "Entry",
        "Leased",
        "Outbox",
        "OutboxUnavailable",
        "RouteStats",
        "SqliteOutbox",
        "read_dead_letters",
        "read_stats",
        "replay_dead_letters",
    ]


# --- queue semantics ------------------------------------------------------


async def test_appended_records_are_leased_oldest_first_per_route(
    outbox: SqliteOutbox,
) -> None:
    await outbox.append(entries("a/x", "1", "2"))
    await outbox.append(entries("b/y", "3"))
    await outbox.append(entries("a/x", "4"))

    leased = await outbox.lease("a/x", 10)

    assert [r.insert_id for r in leased] == ["1", "2", "4"]
    assert all(r.route == "a/x" and r.attempts == 0 for r in leased)
    assert leased[0].payload == b'{"i":"1"}'
    assert outbox.depth == 4


async def test_lease_respects_limit(outbox: SqliteOutbox) -> None:
    await outbox.append(entries("a/x", *"12345"))

    first = await outbox.lease("a/x", 2)
    second = await outbox.lease("a/x", 2)

    assert [r.insert_id for r in first] == ["1", "2"]
    assert [r.insert_id for r in second] == ["3", "4"]
    assert await outbox.lease("a/x", 0) == []


async def test_leased_record_is_not_handed_out_again(outbox: SqliteOutbox) -> None:
    await outbox.append(entries("a/x", "1", "2"))

    first = await outbox.lease("a/x", 10)
    again = await outbox.lease("a/x", 10)

    assert len(first) == 2
    assert again == []


async def test_acked_records_are_gone(outbox: SqliteOutbox, db: Path) -> None:
    await outbox.append(entries("a/x", "1", "2", "3"))
    leased = await outbox.lease("a/x", 2)

    await outbox.ack([r.id for r in leased])

    assert stored_ids(db) == ["3"]
    assert outbox.depth == 1
    assert [r.insert_id for r in await outbox.lease("a/x", 10)] == ["3"]


async def test_retried_record_is_not_due_until_its_delay_passes(
    outbox: SqliteOutbox, clock: FakeClock
) -> None:
    await outbox.append(entries("a/x", "1"))
    [record] = await outbox.lease("a/x", 10)

    await outbox.retry([record.id], 30.0, "http 503")

    assert await outbox.lease("a/x", 10) == []
    clock.now += 29.9
    assert await outbox.lease("a/x", 10) == []
    clock.now += 0.1
    [again] = await outbox.lease("a/x", 10)
    assert (again.id, again.attempts) == (record.id, 1)


async def test_retry_records_the_reason(outbox: SqliteOutbox, db: Path) -> None:
    await outbox.append(entries("a/x", "1"))
    [record] = await outbox.lease("a/x", 1)

    await outbox.retry([record.id], 0.0, "timeout")

    [(_, attempts, error)] = waiting(db)
    assert (attempts, error) == (1, "timeout")


async def test_buried_records_become_dead_letters(
    outbox: SqliteOutbox, clock: FakeClock
) -> None:
    await outbox.append(entries("a/x", "1", "2"))
    await outbox.append(entries("b/y", "3"))
    leased = await outbox.lease("a/x", 10)
    clock.now = 2_000.0

    await outbox.bury([leased[0].id], "rejected: property too long")

    dead = await outbox.dead_letters()
    assert [(d.route, d.insert_id, d.reason) for d in dead] == [
        ("a/x", "1", "rejected: property too long")
    ]
    assert (dead[0].attempts, dead[0].failed_at) == (1, 2_000.0)
    assert await outbox.dead_letters("b/y") == []
    assert outbox.depth == 2


async def test_replay_moves_dead_letters_back_with_attempts_reset(
    outbox: SqliteOutbox, clock: FakeClock
) -> None:
    await outbox.append(entries("a/x", "1"))
    await outbox.append(entries("b/y", "2"))
    for route in ("a/x", "b/y"):
        [record] = await outbox.lease(route, 1)
        await outbox.retry([record.id], 0.0, "http 500")
        [record] = await outbox.lease(route, 1)
        await outbox.bury([record.id], "http 400")

    assert await outbox.replay("a/x") == 1

    [back] = await outbox.lease("a/x", 10)
    assert (back.insert_id, back.attempts, back.payload) == ("1", 0, b'{"i":"1"}')
    assert [d.route for d in await outbox.dead_letters()] == ["b/y"]
    assert await outbox.replay() == 1
    assert await outbox.dead_letters() == []
    assert await outbox.replay() == 0
    assert outbox.depth == 2


async def test_records_of_one_append_keep_their_own_fates(
    outbox: SqliteOutbox, clock: FakeClock, db: Path
) -> None:
    # one append is stored as one segment; ack, retry and bury of some of its
    # records leave the others as they were
    await outbox.append(entries("a/x", "1", "2", "3", "4"))
    one, two, three, four = await outbox.lease("a/x", 10)

    await outbox.ack([one.id])
    await outbox.retry([two.id], 30.0, "http 503")
    await outbox.retry([three.id], 0.0, "timeout")
    await outbox.bury([four.id], "http 400")

    assert outbox.depth == 2
    assert sorted(waiting(db)) == [("2", 1, "http 503"), ("3", 1, "timeout")]
    [again] = await outbox.lease("a/x", 10)
    assert (again.insert_id, again.attempts, again.payload) == ("3", 1, b'{"i":"3"}')
    clock.now += 30
    [later] = await outbox.lease("a/x", 10)
    assert (later.insert_id, later.attempts) == ("2", 1)
    assert [d.insert_id for d in await outbox.dead_letters()] == ["4"]
    await outbox.ack([again.id, later.id, again.id])
    assert outbox.depth == 0
    assert waiting(db) == []


async def test_a_lease_spans_appends_and_stops_at_its_limit(
    outbox: SqliteOutbox,
) -> None:
    await outbox.append(entries("a/x", "1", "2"))
    await outbox.append(entries("a/x", "3", "4", "5"))

    first = await outbox.lease("a/x", 3)
    second = await outbox.lease("a/x", 3)

    assert [r.insert_id for r in first] == ["1", "2", "3"]
    assert [r.insert_id for r in second] == ["4", "5"]
    assert len({r.id for r in first + second}) == 5


async def test_acks_of_unknown_or_repeated_ids_change_nothing(
    outbox: SqliteOutbox,
) -> None:
    await outbox.append(entries("a/x", "1", "2"))
    [one, _] = await outbox.lease("a/x", 10)

    await outbox.ack([one.id])
    await outbox.ack([one.id, one.id + 7, (999 << 16) | 1])

    assert outbox.depth == 1


async def test_a_schema_1_outbox_is_upgraded_in_place(
    db: Path, clock: FakeClock
) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.executescript(
            """
            CREATE TABLE outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT, route TEXT NOT NULL,
                insert_id TEXT NOT NULL, payload BLOB NOT NULL,
                attempts INT NOT NULL DEFAULT 0, not_before REAL NOT NULL,
                enqueued_at REAL NOT NULL, last_error TEXT);
            CREATE INDEX outbox_due ON outbox (route, not_before, id);
            CREATE TABLE dead_letters (
                id INTEGER PRIMARY KEY AUTOINCREMENT, route TEXT NOT NULL,
                insert_id TEXT NOT NULL, payload BLOB NOT NULL,
                reason TEXT NOT NULL, attempts INT NOT NULL,
                failed_at REAL NOT NULL);
            INSERT INTO outbox (route, insert_id, payload, attempts, not_before,
                enqueued_at, last_error) VALUES
                ('a/x', '1', X'7B7D', 0, 900, 900, NULL),
                ('a/x', '2', X'5B5D', 3, 1100, 800, 'http 500');
            INSERT INTO dead_letters (route, insert_id, payload, reason, attempts,
                failed_at) VALUES ('a/x', '0', X'7B7D', 'http 400', 1, 950);
            PRAGMA user_version = 1;
            """
        )

    box = await SqliteOutbox.open(db, clock=clock)
    try:
        assert box.depth == 2
        [first] = await box.lease("a/x", 10)
        assert (first.insert_id, first.payload, first.attempts) == ("1", b"{}", 0)
        clock.now = 1_100
        [second] = await box.lease("a/x", 10)
        assert (second.insert_id, second.attempts) == ("2", 3)
        assert [d.insert_id for d in await box.dead_letters()] == ["0"]
    finally:
        await box.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        assert conn.execute("SELECT beats FROM heartbeat").fetchall() == []


async def test_a_schema_2_outbox_without_a_heartbeat_gains_one(
    db: Path, clock: FakeClock
) -> None:
    # the schema as it was before the heartbeat table, with a record waiting
    before = sqlite_outbox._SCHEMA.split("CREATE TABLE IF NOT EXISTS heartbeat")[0]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.executescript(before + "PRAGMA user_version = 2;")
    box = await SqliteOutbox.open(db, clock=clock)
    try:
        await box.append(entries("a/x", "1"))
        await box.heartbeat()
        assert box.depth == 1
    finally:
        await box.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        assert conn.execute("SELECT id, beats FROM heartbeat").fetchall() == [(1, 1)]
    assert stored_ids(db) == ["1"]


async def test_each_heartbeat_commits_a_write(outbox: SqliteOutbox, db: Path) -> None:
    # the clock stands still: the count still changes, so SQLite writes
    await outbox.heartbeat()
    commits = outbox.commits
    wal = (db.parent / (db.name + "-wal")).stat().st_size
    await outbox.heartbeat()
    await outbox.heartbeat()
    assert outbox.commits == commits + 2
    assert (db.parent / (db.name + "-wal")).stat().st_size > wal
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT id, beats, at FROM heartbeat").fetchall() == [
            (1, 3, 1_000.0)
        ]
    assert outbox.depth == 0
    assert await outbox.stats() == []


async def test_a_heartbeat_fails_while_the_file_refuses_writes(db: Path) -> None:
    # the kernel refuses the writer process every write past a file's first
    # byte (RLIMIT_FSIZE, as a full disk refuses); a call that changes
    # nothing still commits, so only a write finds out
    box = await SqliteOutbox.open(db, writer="process")
    try:
        assert box._remote is not None
        pid = box._remote.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            assert await box.replay("no/such-route") == 0
            with pytest.raises(OutboxUnavailable) as raised:
                await box.heartbeat()
            assert str(raised.value) == "outbox commit failed (OperationalError)"
            with pytest.raises(OutboxUnavailable):
                await box.append(entries("a/x", "1"))
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        await box.heartbeat()
        await box.append(entries("a/x", "2"))
    finally:
        await box.close()
    assert stored_ids(db) == ["2"]


async def test_stats_give_depth_oldest_age_and_dead_count(
    outbox: SqliteOutbox, clock: FakeClock
) -> None:
    await outbox.append(entries("a/x", "1"))
    clock.now += 10
    await outbox.append(entries("a/x", "2"))
    await outbox.append(entries("b/y", "3"))
    [record] = await outbox.lease("b/y", 1)
    await outbox.bury([record.id], "http 400")
    clock.now += 5

    stats = await outbox.stats()

    assert [(s.route, s.depth, s.oldest_age_seconds, s.dead) for s in stats] == [
        ("a/x", 2, 15.0, 0),
        ("b/y", 0, None, 1),
    ]
    assert await outbox.routes() == ["a/x"]


async def test_listener_hears_the_routes_just_committed(
    outbox: SqliteOutbox,
) -> None:
    heard: list[set[str]] = []
    remove = outbox.add_listener(heard.append)

    await outbox.append(entries("a/x", "1") + entries("b/y", "2"))
    await asyncio.sleep(0)
    remove()
    await outbox.append(entries("c/z", "3"))

    assert heard == [{"a/x", "b/y"}]


async def test_removed_listener_is_not_called(outbox: SqliteOutbox) -> None:
    heard: list[set[str]] = []
    outbox.add_listener(heard.append)

    outbox.remove_listener(heard.append)
    outbox.remove_listener(heard.append)
    await outbox.append(entries("a/x", "1"))
    await asyncio.sleep(0)

    assert heard == []
    assert outbox.depth == 1


async def test_failing_listener_does_not_fail_the_append(
    outbox: SqliteOutbox, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(routes: set[str]) -> None:
        raise RuntimeError("boom")

    outbox.add_listener(broken)

    await outbox.append(entries("a/x", "1"))
    await asyncio.sleep(0)

    assert outbox.depth == 1
    assert "outbox listener failed" in caplog.text


# --- persistence ------------------------------------------------------------


async def test_records_persist_across_reopen(db: Path, clock: FakeClock) -> None:
    async with SqliteOutbox(db, clock=clock) as box:
        await box.append(entries("a/x", "1", "2"))

    async with SqliteOutbox(db, clock=clock) as box:
        assert box.depth == 2
        assert [r.insert_id for r in await box.lease("a/x", 10)] == ["1", "2"]


async def test_unacked_leases_are_due_again_after_reopen(
    db: Path, clock: FakeClock
) -> None:
    async with SqliteOutbox(db, clock=clock) as box:
        await box.append(entries("a/x", "1", "2", "3"))
        leased = await box.lease("a/x", 10)
        await box.ack([leased[0].id])
        assert await box.lease("a/x", 10) == []

    async with SqliteOutbox(db, clock=clock) as box:
        again = await box.lease("a/x", 10)

    assert [r.insert_id for r in again] == ["2", "3"]


async def test_retry_delay_survives_reopen(db: Path, clock: FakeClock) -> None:
    async with SqliteOutbox(db, clock=clock) as box:
        await box.append(entries("a/x", "1"))
        [record] = await box.lease("a/x", 1)
        await box.retry([record.id], 60.0, "http 429")

    async with SqliteOutbox(db, clock=clock) as box:
        assert await box.lease("a/x", 10) == []
        clock.now += 60
        assert len(await box.lease("a/x", 10)) == 1


@pytest.mark.parametrize(("durability", "synchronous"), [("power", 2), ("process", 1)])
async def test_durability_sets_wal_and_synchronous(
    db: Path, durability: Any, synchronous: int
) -> None:
    async with SqliteOutbox(db, durability=durability) as box:

        def read_pragma(w: Any) -> Any:
            value = w.conn.execute("PRAGMA synchronous").fetchone()[0]
            return sqlite_outbox._Done(value)

        # asks the writer thread's own connection
        future = asyncio.get_running_loop().create_future()
        box._queue.put(sqlite_outbox._Call(read_pragma, future))
        assert await future == synchronous

    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_durability_is_refused(db: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        SqliteOutbox(db, durability="disk")  # type: ignore[arg-type]


# --- limits and concurrency ------------------------------------------------


async def test_append_past_max_events_raises_outbox_full(db: Path) -> None:
    async with SqliteOutbox(db, max_events=3) as box:
        await box.append(entries("a/x", "1", "2"))

        with pytest.raises(OutboxFull) as caught:
            await box.append(entries("a/x", "3", "4"))
        await box.append(entries("a/x", "3"))

        assert caught.value.retry_after > 0
        assert box.depth == 3
        leased = await box.lease("a/x", 1)
        await box.ack([leased[0].id])
        await box.append(entries("a/x", "4"))


async def test_outbox_full_counts_appends_still_in_flight(db: Path) -> None:
    async with SqliteOutbox(db, max_events=100) as box:
        batches = [entries("a/x", *(f"{b}-{i}" for i in range(50))) for b in range(3)]

        results = await asyncio.gather(
            *(box.append(b) for b in batches), return_exceptions=True
        )

        assert [type(r) for r in results] == [type(None), type(None), OutboxFull]
        assert box.depth == 100


async def test_depth_is_counted_from_the_file_at_open(db: Path) -> None:
    async with SqliteOutbox(db) as box:
        await box.append(entries("a/x", "1", "2"))

    async with SqliteOutbox(db, max_events=3) as box:
        assert box.depth == 2
        with pytest.raises(OutboxFull):
            await box.append(entries("a/x", "3", "4"))


async def test_concurrent_appends_are_all_committed_in_fewer_transactions(
    outbox: SqliteOutbox, db: Path
) -> None:
    tasks, per_task, size = 40, 10, 20

    async def worker(task: int) -> None:
        for n in range(per_task):
            ids = [f"{task}-{n}-{i}" for i in range(size)]
            await outbox.append(entries(f"r/{task % 3}", *ids))

    await asyncio.gather(*(worker(t) for t in range(tasks)))

    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) == tasks * per_task * size
    assert outbox.depth == len(ids)
    assert outbox.commits < tasks * per_task


# --- failures ----------------------------------------------------------------


async def test_failed_commit_fails_every_caller_of_the_group(
    db: Path, failing: type[FailingConnection]
) -> None:
    box = await SqliteOutbox.open(db)
    await box.append(entries("a/x", "before"))
    failing.gate = threading.Event()
    failing.fail_commits = True

    # held at BEGIN, the writer sees all of these queued in one transaction
    calls = [box.append(entries("a/x", f"{n}")) for n in range(5)]
    results = asyncio.gather(*calls, return_exceptions=True)
    await asyncio.sleep(0.05)
    failing.gate.set()
    outcome = await results

    assert all(isinstance(r, OutboxUnavailable) for r in outcome)
    assert "commit" in str(outcome[0])
    assert box.depth == 1
    failing.fail_commits = False
    await box.append(entries("a/x", "after"))
    await box.close()
    assert sorted(stored_ids(db)) == ["after", "before"]


async def test_lease_in_a_failed_transaction_does_not_hold_records(
    db: Path, failing: type[FailingConnection]
) -> None:
    async with SqliteOutbox(db) as box:
        await box.append(entries("a/x", "1"))
        failing.fail_commits = True
        with pytest.raises(OutboxUnavailable):
            await box.lease("a/x", 10)
        failing.fail_commits = False

        assert [r.insert_id for r in await box.lease("a/x", 10)] == ["1"]


async def test_full_disk_fails_the_append_instead_of_acknowledging_it(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def tiny(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA max_page_count = 12")
        return conn

    monkeypatch.setattr(sqlite_outbox, "_connect", tiny)
    async with SqliteOutbox(db) as box:
        big = [Entry("a/x", str(i), os.urandom(4_000)) for i in range(40)]

        with pytest.raises(OutboxUnavailable) as caught:
            await box.append(big)
        await box.append(entries("a/x", "small"))

        assert isinstance(caught.value.__cause__, sqlite3.Error)
        assert box.depth == 1
    assert stored_ids(db) == ["small"]


async def test_a_bad_append_fails_alone(outbox: SqliteOutbox, db: Path) -> None:
    bad = [Entry("a/x", "bad", object())]  # type: ignore[arg-type]

    results = await asyncio.gather(
        outbox.append(entries("a/x", "1")),
        outbox.append(bad),
        outbox.append(entries("a/x", "2")),
        return_exceptions=True,
    )

    assert results[0] is None and results[2] is None
    # a payload that is not bytes cannot be packed into its segment
    assert isinstance(results[1], TypeError)
    assert sorted(stored_ids(db)) == ["1", "2"]
    assert outbox.depth == 2


async def test_a_bad_append_in_a_transaction_of_its_own_leaves_nothing(
    outbox: SqliteOutbox, db: Path
) -> None:
    # one route's segment is written before the other route's payload fails
    # to pack: the lone call's transaction, with no savepoint, is rolled
    # back whole
    bad = [
        *entries("a/x", "1"),
        Entry("b/y", "bad", object()),  # type: ignore[arg-type]
    ]
    with pytest.raises(TypeError):
        await outbox.append(bad)
    assert stored_ids(db) == [] and outbox.depth == 0

    await outbox.append(entries("a/x", "2"))
    assert stored_ids(db) == ["2"] and outbox.depth == 1


async def test_unopenable_file_raises_outbox_unavailable(tmp_path: Path) -> None:
    with pytest.raises(OutboxUnavailable):
        await SqliteOutbox.open(tmp_path / "missing-dir" / "outbox.db")


# --- shutdown -------------------------------------------------------------------


async def test_close_drains_pending_appends(db: Path) -> None:
    box = await SqliteOutbox.open(db)
    pending = [
        asyncio.create_task(box.append(entries("a/x", f"{n}-a", f"{n}-b")))
        for n in range(50)
    ]
    await asyncio.sleep(0)

    await box.close()

    assert all(task.done() and task.exception() is None for task in pending)
    assert len(stored_ids(db)) == 100


async def test_close_is_idempotent_and_refuses_later_calls(db: Path) -> None:
    box = await SqliteOutbox.open(db)

    await asyncio.gather(box.close(), box.close())
    await box.close()

    with pytest.raises(OutboxUnavailable, match="closed"):
        await box.append(entries("a/x", "1"))
    with pytest.raises(OutboxUnavailable, match="closed"):
        await box.lease("a/x", 1)


async def test_calls_before_start_are_refused(db: Path) -> None:
    box = SqliteOutbox(db)

    with pytest.raises(OutboxUnavailable, match="not started"):
        await box.append(entries("a/x", "1"))
    await box.close()


# --- CLI helpers -----------------------------------------------------------------


async def test_cli_helpers_work_while_the_outbox_is_open(
    outbox: SqliteOutbox, db: Path
) -> None:
    await outbox.append(entries("a/x", "1", "2"))
    leased = await outbox.lease("a/x", 1)
    await outbox.bury([leased[0].id], "http 400")

    stats = await asyncio.to_thread(read_stats, db, now=1_010.0)
    dead = await asyncio.to_thread(read_dead_letters, db, "a/x", 10)
    replayed = await asyncio.to_thread(replay_dead_letters, db, "a/x")

    assert [(s.route, s.depth, s.oldest_age_seconds, s.dead) for s in stats] == [
        ("a/x", 1, 10.0, 1)
    ]
    assert [(d.insert_id, d.reason) for d in dead] == [("1", "http 400")]
    assert replayed == 1
    assert sorted(stored_ids(db)) == ["1", "2"]
    assert read_dead_letters(db) == []


@pytest.mark.parametrize("writer", ["thread", "process"])
async def test_depth_counts_what_another_process_replayed(
    db: Path, clock: FakeClock, writer: str
) -> None:
    box = await SqliteOutbox.open(db, clock=clock, writer=writer, max_events=6)
    try:
        await box.append(entries("a/x", "1", "2", "3", "4"))
        leased = await box.lease("a/x", 10)
        await box.bury([r.id for r in leased], "http 400")
        assert box.depth == 0

        # another connection (as `redline outbox replay` is) puts them back
        assert await asyncio.to_thread(replay_dead_letters, db) == 4
        # the writer sees it at its next transaction (a forwarder's lease)
        assert await box.lease("b/y", 1) == []
        assert box.depth == 4
        # the records replayed outside count against max_events
        with pytest.raises(OutboxFull):
            await box.append(entries("a/x", "5", "6", "7"))
        await box.append(entries("a/x", "5", "6"))
        assert box.depth == 6

        # delivered: the depth comes down to zero, never below (the
        # replay made them due at the real time)
        clock.now = time.time() + 1
        leased = await box.lease("a/x", 10)
        assert len(leased) == 6
        await box.ack([r.id for r in leased])
        assert box.depth == 0
        assert stored_ids(db) == []
    finally:
        await box.close()


def test_cli_helpers_refuse_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"

    with pytest.raises(OutboxUnavailable, match="no outbox"):
        read_stats(missing)
    assert not missing.exists()


# --- crash --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["thread", "process"])
@pytest.mark.parametrize("durability", ["power", "process"])
def test_acknowledged_appends_survive_sigkill(
    db: Path, durability: str, writer: str
) -> None:
    script = Path(__file__).with_name("_crash_child.py")
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), durability, writer],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    lines: list[bytes] = []
    deadline = time.monotonic() + 15
    while len(lines) < 200 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        lines.append(line)

    assert child.poll() is None, "the child must still be appending"
    child.send_signal(signal.SIGKILL)
    rest, err = child.communicate(timeout=10)

    assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
    # a line cut off by the kill was never fully reported: ignore it
    complete = [
        ln for ln in lines + rest.splitlines(keepends=True) if ln.endswith(b"\n")
    ]
    acked = [id_ for ln in complete for id_ in ln.decode().strip().split(",")]
    assert len(acked) >= 200 * 25

    counts = collections.Counter(stored_ids(db))
    assert all(counts.get(id_) == 1 for id_ in acked)
    assert set(counts.values()) == {1}


# --- the process writer -------------------------------------------------------


async def test_a_writer_process_that_dies_fails_every_call_after_it(
    db: Path,
) -> None:
    box = await SqliteOutbox.open(db, writer="process")
    await box.append(entries("a/x", "1"))
    assert box._remote is not None
    os.kill(box._remote.pid, signal.SIGKILL)
    with pytest.raises(OutboxUnavailable, match="writer process exited"):
        for _ in range(200):  # until the loop has seen its answers end
            await box.append(entries("a/x", "2"))
            await asyncio.sleep(0.01)
    with pytest.raises(OutboxUnavailable):
        await box.lease("a/x", 10)
    # collected at once, not left a zombie until the outbox closes
    pid = box._remote.pid
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists():
            break
        await asyncio.sleep(0.01)
    assert not Path(f"/proc/{pid}").exists()
    await box.close()
    # what it had acknowledged is in the file
    assert "1" in stored_ids(db)


async def test_the_writer_process_exits_when_the_outbox_closes(db: Path) -> None:
    box = await SqliteOutbox.open(db, writer="process")
    assert box._remote is not None
    pid = box._remote.pid
    await box.append(entries("a/x", "1", "2"))
    await box.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert stored_ids(db) == ["1", "2"]


async def test_a_file_the_writer_process_cannot_open_is_unavailable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"not a database, and long enough to be read as one" * 20)
    with pytest.raises(OutboxUnavailable, match="open failed"):
        await SqliteOutbox.open(path, writer="process")


async def test_the_writer_process_uses_the_callers_clock(
    db: Path, clock: FakeClock
) -> None:
    box = await SqliteOutbox.open(db, clock=clock, writer="process")
    try:
        await box.append(entries("a/x", "1"))
        [leased] = await box.lease("a/x", 10)
        await box.retry([leased.id], 30, "HTTP 503")
        clock.now += 29
        assert await box.lease("a/x", 10) == []
        clock.now += 2
        assert len(await box.lease("a/x", 10)) == 1
    finally:
        await box.close()
