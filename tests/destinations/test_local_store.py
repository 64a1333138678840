"""The local store: idempotent writes, export-shaped reads, filters."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from redline.destinations.local import STORE_FILENAME, LocalStore, LocalStoreDestination
from redline.errors import DeliveryError
from redline.events import Event, Kind, to_record


def track(
    insert_id: str | None,
    *,
    name: str = "signup",
    distinct_id: str | None = "u1",
    time: float | None = 1_764_230_400.0,
    **properties: object,
) -> Event:
    return Event(
        kind=Kind.TRACK,
        name=name,
        properties=dict(properties),
        distinct_id=distinct_id,
        insert_id=insert_id,
        time=time,
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    with LocalStore.in_dir(tmp_path) as opened:
        yield opened


def test_store_lives_in_store_db_of_the_data_dir(tmp_path: Path) -> None:
    with LocalStore.in_dir(tmp_path / "data") as store:
        store.insert("demo", [track("a")])
    assert (tmp_path / "data" / STORE_FILENAME).is_file()
    assert STORE_FILENAME == "store.db"


def test_same_insert_id_is_stored_once(store: LocalStore) -> None:
    assert store.insert("demo", [track("a"), track("b")]) == 2
    assert store.insert("demo", [track("a", plan="pro"), track("c")]) == 1

    assert store.count() == 3
    stored_a = store.query(name="signup", distinct_id="u1", order="asc")[0]
    # the first write wins, the replay changes nothing
    assert "plan" not in stored_a["properties"]


def test_insert_ids_are_unique_per_project(store: LocalStore) -> None:
    store.insert("demo", [track("a")])
    store.insert("other", [track("a")])

    assert store.count(project="demo") == 1
    assert store.count(project="other") == 1


def test_event_without_insert_id_is_still_idempotent(store: LocalStore) -> None:
    event = track(None, plan="pro")

    store.insert("demo", [event])
    store.insert("demo", [event])
    store.insert("demo", [track(None, plan="free")])

    assert store.count() == 2


def test_query_returns_mixpanel_export_shape(store: LocalStore) -> None:
    store.insert("demo", [track("a", plan="pro", seats=3)])

    [event] = store.query()

    assert event == {
        "event": "signup",
        "properties": {
            "plan": "pro",
            "seats": 3,
            "distinct_id": "u1",
            "time": 1_764_230_400.0,
            "$insert_id": "a",
        },
    }


def test_query_leaves_out_identity_fields_the_event_lacks(store: LocalStore) -> None:
    store.insert("demo", [track("a", distinct_id=None, time=None)])

    [event] = store.query()

    assert event["properties"] == {"$insert_id": "a"}


def test_query_gives_the_address_and_person_operations_beside_properties(
    store: LocalStore,
) -> None:
    event = track("a", ip="a property")
    event.ip = "203.0.113.0"
    event.envelope = {"$person": {"$set": {"plan": "pro"}}, "$ts": "kept apart"}
    store.insert("demo", [event])

    [shaped] = store.query()

    assert shaped == {
        "event": "signup",
        "properties": {
            "ip": "a property",
            "distinct_id": "u1",
            "time": 1_764_230_400.0,
            "$insert_id": "a",
        },
        "ip": "203.0.113.0",
        "person": {"$set": {"plan": "pro"}},
    }


def test_profile_updates_are_stored_with_their_kind(store: LocalStore) -> None:
    profile = Event(
        kind=Kind.PROFILE,
        name="$engage",
        properties={"$set": {"plan": "pro"}},
        distinct_id="u1",
        insert_id="p1",
    )
    store.insert("demo", [profile, track("a")])

    assert store.count(kind=Kind.PROFILE) == 1
    assert store.query(kind="profile")[0]["properties"]["$set"] == {"plan": "pro"}
    assert store.count(kind="track") == 1


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["a", "b", "c", "d"]),
        ({"project": "demo"}, ["a", "b", "c"]),
        ({"project": "missing"}, []),
        ({"name": "login"}, ["b", "d"]),
        ({"name": "Login"}, []),  # names match exactly
        ({"distinct_id": "u2"}, ["c"]),
        ({"distinct_id": "u"}, []),  # no prefix match
        ({"since": 2000}, ["b", "c", "d"]),  # inclusive
        ({"until": 2000}, ["a"]),  # exclusive
        ({"since": 1500, "until": 3000.5}, ["b", "c"]),
        ({"project": "demo", "name": "login", "since": 2000}, ["b"]),
        ({"since": datetime.fromtimestamp(3000, tz=UTC)}, ["c", "d"]),
    ],
)
def test_query_and_count_filter_alike(
    store: LocalStore, filters: dict[str, object], expected: list[str]
) -> None:
    store.insert(
        "demo",
        [
            track("a", name="signup", distinct_id="u1", time=1000),
            track("b", name="login", distinct_id="u1", time=2000),
            track("c", name="signup", distinct_id="u2", time=3000),
        ],
    )
    store.insert("other", [track("d", name="login", distinct_id="u3", time=4000)])

    found = store.query(order="asc", **filters)  # type: ignore[arg-type]

    assert [e["properties"]["$insert_id"] for e in found] == expected
    assert store.count(**filters) == len(expected)  # type: ignore[arg-type]


def test_millisecond_times_filter_as_seconds_but_read_back_unchanged(
    store: LocalStore,
) -> None:
    store.insert("demo", [track("ms", time=1_764_230_400_123), track("s", time=10)])

    found = store.query(since=1_764_230_400, until=1_764_230_401)

    assert [e["properties"]["time"] for e in found] == [1_764_230_400_123]


def test_query_orders_by_time_and_limits(store: LocalStore) -> None:
    store.insert("demo", [track(f"e{t}", time=t) for t in (5, 1, 4, 2, 3)])

    newest = store.query(limit=2)
    oldest = store.query(limit=2, order="asc")

    assert [e["properties"]["time"] for e in newest] == [5, 4]
    assert [e["properties"]["time"] for e in oldest] == [1, 2]
    assert store.query(limit=0) == []


@pytest.mark.parametrize("bad", [{"order": "sideways"}, {"limit": -1}])
def test_query_refuses_bad_arguments(store: LocalStore, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        store.query(**bad)  # type: ignore[arg-type]


def test_reader_sees_writes_of_another_connection(tmp_path: Path) -> None:
    with LocalStore.in_dir(tmp_path) as writer, LocalStore.in_dir(tmp_path) as reader:
        writer.insert("demo", [track("a")])
        assert reader.count() == 1
        mode = reader._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_concurrent_writers_from_threads_lose_nothing(store: LocalStore) -> None:
    def write(worker: int) -> None:
        for batch in range(10):
            store.insert("demo", [track(f"w{worker}-{batch}-{i}") for i in range(20)])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.count() == 4 * 10 * 20


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = LocalStore.in_dir(tmp_path)
    store.close()
    store.close()  # twice is fine

    with pytest.raises(sqlite3.ProgrammingError):
        store.count()


def test_records_in_outbox_form_are_stored_as_their_events_are(
    tmp_path: Path,
) -> None:
    events = [
        track("a", plan="pro", nested={"b": [1, 2.5, None]}),
        track(None, distinct_id=None, time=1_764_230_400_123),
        Event(Kind.PROFILE, "$profile", {"$set": {"plan": "pro"}}, "u1", "p1", 7),
    ]
    with LocalStore(tmp_path / "events.db") as by_event:
        assert by_event.insert("demo", events) == 3
    with LocalStore(tmp_path / "records.db") as by_record:
        records = [orjson.dumps(to_record(event)) for event in events]
        assert by_record.insert_records("demo", records) == (3, [])
        # the same records again: idempotent, the id-less one included
        assert by_record.insert_records("demo", records) == (0, [])

    def rows(name: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(tmp_path / name) as conn:
            return conn.execute(
                "SELECT project, kind, name, distinct_id, time, insert_id, record"
                " FROM events ORDER BY insert_id"
            ).fetchall()

    assert rows("records.db") == rows("events.db")


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'{"k": "track"}',
        orjson.dumps({**to_record(track("x")), "k": "pageview"}),
    ],
)
def test_unreadable_records_are_reported_and_the_rest_stored(
    store: LocalStore, payload: bytes
) -> None:
    good = orjson.dumps(to_record(track("a")))

    assert store.insert_records("demo", [good, payload, good]) == (1, [1])
    assert store.count() == 1


class TestDestination:
    async def test_send_stores_the_batch_under_its_project(
        self, store: LocalStore
    ) -> None:
        destination = LocalStoreDestination(store, "demo")

        await destination.send([track("a"), track("b")])
        await destination.send([track("a")])
        await destination.aclose()

        assert destination.max_batch == 500
        assert store.count(project="demo") == 2
        # aclose leaves the shared store open
        assert store.count() == 2

    async def test_send_runs_off_the_event_loop(self, store: LocalStore) -> None:
        loop_thread = threading.get_ident()
        seen: list[int] = []
        original = store.insert

        def spy(project: str, events: list[Event]) -> int:
            seen.append(threading.get_ident())
            return original(project, events)

        store.insert = spy  # type: ignore[method-assign]
        await LocalStoreDestination(store, "demo").send([track("a")])

        assert seen and seen[0] != loop_thread

    async def test_send_records_rejects_unreadable_records_for_good(
        self, store: LocalStore
    ) -> None:
        good = orjson.dumps(to_record(track("a")))

        with pytest.raises(DeliveryError) as caught:
            await LocalStoreDestination(store, "demo").send_records([b"{", good, b"[]"])

        assert caught.value.permanent
        assert caught.value.rejected == {
            0: "undecodable record",
            2: "undecodable record",
        }
        assert store.count(project="demo") == 1

    async def test_database_error_is_retryable(self, tmp_path: Path) -> None:
        store = LocalStore.in_dir(tmp_path)
        store.close()

        with pytest.raises(DeliveryError) as caught:
            await LocalStoreDestination(store, "demo").send([track("a")])

        assert not caught.value.permanent
        assert not caught.value.too_large
        assert str(caught.value) == "local store write failed (ProgrammingError)"

    async def test_concurrent_sends_of_two_projects(self, store: LocalStore) -> None:
        demo = LocalStoreDestination(store, "demo")
        other = LocalStoreDestination(store, "other")

        await asyncio.gather(
            *(demo.send([track(f"d{i}")]) for i in range(20)),
            *(other.send([track(f"o{i}")]) for i in range(20)),
        )

        assert store.count(project="demo") == 20
        assert store.count(project="other") == 20
