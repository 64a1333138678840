"""The forwarder: ack, retry with backoff, split, bury, and stop with a deadline.

Every test runs against the in-memory fake outbox and the real SqliteOutbox.
Delays are made small through ``retry_initial`` and ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import orjson
import pytest

from redline import config as config_module
from redline.destinations._partial import PartialDelivery
from redline.destinations.forwarder import (
    LOCAL_MAX_BATCH,
    Forwarder,
    build_destinations,
)
from redline.destinations.local import LocalStore, LocalStoreDestination
from redline.destinations.mixpanel import MixpanelDestination
from redline.errors import DeliveryError
from redline.events import Event, Kind, to_record
from redline.outbox import Entry, SqliteOutbox
from redline.outbox._base import Outbox

from .fake_outbox import FakeOutbox

ROUTE = "demo/local"
SECRET_VALUE = "jane.doe@example.com"

Script = Callable[[list[Event], int], Awaitable[None]]


class ScriptedDestination:
    """Records every batch; ``script(events, call_number)`` may raise."""

    def __init__(self, script: Script | None = None, *, max_batch: int = 10) -> None:
        self.max_batch = max_batch
        self.script = script
        self.calls: list[list[str]] = []
        self.call_times: list[float] = []
        self.delivered: list[str] = []
        self.closed = False

    async def send(self, events: Sequence[Event]) -> None:
        ids = [str(event.insert_id) for event in events]
        self.calls.append(ids)
        self.call_times.append(asyncio.get_running_loop().time())
        if self.script is not None:
            await self.script(list(events), len(self.calls))
        self.delivered.extend(ids)

    async def aclose(self) -> None:
        self.closed = True


class MaxRandom(random.Random):
    """Jitter that always picks the top of the range, to see the ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def event(n: int) -> Event:
    return Event(
        kind=Kind.TRACK,
        name="signup",
        properties={"email": SECRET_VALUE, "n": n},
        distinct_id="u1",
        insert_id=f"e{n:03d}",
        time=1_764_230_400 + n,
    )


def entries(count: int, route: str = ROUTE, start: int = 0) -> list[Entry]:
    return [
        Entry(route, f"e{n:03d}", orjson.dumps(to_record(event(n))))
        for n in range(start, start + count)
    ]


@pytest.fixture(params=["fake", "sqlite"])
async def outbox(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Outbox]:
    if request.param == "fake":
        yield FakeOutbox()
        return
    real = await SqliteOutbox.open(tmp_path / "outbox.db", durability="process")
    try:
        yield real
    finally:
        await real.close()


def forwarder_for(
    outbox: Outbox, destination: ScriptedDestination, **options: object
) -> Forwarder:
    settings: dict[str, object] = {
        "retry_initial": 0.01,
        "retry_max": 0.05,
        "poll_interval": 0.02,
    }
    settings.update(options)
    return Forwarder(outbox, {ROUTE: destination}, **settings)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def depth(outbox: Outbox, route: str = ROUTE) -> int:
    return sum(s.depth for s in await outbox.stats() if s.route == route)


async def stop(forwarder: Forwarder, seconds: float = 2.0) -> None:
    await forwarder.stop(asyncio.get_running_loop().time() + seconds)


async def test_delivers_every_record_once(outbox: Outbox) -> None:
    destination = ScriptedDestination(max_batch=10)
    await outbox.append(entries(25))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: len(destination.delivered) == 25)
    await stop(forwarder)

    assert sorted(destination.delivered) == [f"e{n:03d}" for n in range(25)]
    assert max(len(call) for call in destination.calls) == 10
    assert await depth(outbox) == 0
    assert forwarder.stats[ROUTE].delivered == 25
    assert forwarder.stats[ROUTE].retried == 0
    assert destination.closed


async def test_forwards_into_the_local_store_end_to_end(
    outbox: Outbox, tmp_path: Path
) -> None:
    await outbox.append(entries(30))
    with LocalStore.in_dir(tmp_path) as store:
        forwarder = Forwarder(
            outbox, {ROUTE: LocalStoreDestination(store, "demo")}, poll_interval=0.02
        )
        forwarder.start()
        await until(lambda: forwarder.stats[ROUTE].delivered == 30)
        await stop(forwarder)

        assert store.count(project="demo") == 30
        assert store.query(limit=1)[0]["properties"]["$insert_id"] == "e029"


async def test_the_local_store_reads_records_itself_and_rejects_unreadable_ones(
    outbox: Outbox, tmp_path: Path
) -> None:
    await outbox.append(entries(3))
    await outbox.append([Entry(ROUTE, "bad1", b"not json")])
    await outbox.append(entries(2, start=3))
    with LocalStore.in_dir(tmp_path) as store:
        forwarder = Forwarder(
            outbox, {ROUTE: LocalStoreDestination(store, "demo")}, poll_interval=0.02
        )
        forwarder.start()
        await until(lambda: forwarder.stats[ROUTE].delivered == 5)
        await until(lambda: forwarder.stats[ROUTE].buried == 1)
        await stop(forwarder)

        assert store.count(project="demo") == 5
    dead = await outbox.dead_letters(ROUTE)
    assert [(d.insert_id, d.reason) for d in dead] == [("bad1", "undecodable record")]
    assert await depth(outbox) == 0


async def test_retries_server_errors_then_delivers(outbox: Outbox) -> None:
    async def fail_twice(events: list[Event], call: int) -> None:
        if call <= 2:
            raise DeliveryError("HTTP 500 from /track")

    destination = ScriptedDestination(fail_twice)
    await outbox.append(entries(3))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: len(destination.delivered) == 3)
    await stop(forwarder)

    assert len(destination.calls) == 3
    assert forwarder.stats[ROUTE].retried == 6
    assert forwarder.stats[ROUTE].delivered == 3
    assert forwarder.stats[ROUTE].last_error == "HTTP 500 from /track"
    assert await depth(outbox) == 0


async def test_retry_delay_is_picked_up_without_waiting_for_a_poll(
    outbox: Outbox,
) -> None:
    async def fail_once(events: list[Event], call: int) -> None:
        if call == 1:
            raise DeliveryError("HTTP 503 from /track")

    destination = ScriptedDestination(fail_once)
    await outbox.append(entries(1))
    forwarder = forwarder_for(outbox, destination, poll_interval=30.0)

    forwarder.start()
    await until(lambda: destination.delivered == ["e000"], timeout=2.0)
    await stop(forwarder)


async def test_new_records_wake_an_idle_route(outbox: Outbox) -> None:
    destination = ScriptedDestination()
    forwarder = forwarder_for(outbox, destination, poll_interval=30.0)
    forwarder.start()
    await asyncio.sleep(0.05)  # the route is now waiting

    await outbox.append(entries(2))
    await until(lambda: len(destination.delivered) == 2, timeout=2.0)
    await stop(forwarder)


async def test_honours_retry_after_for_the_records_and_the_route(
    outbox: Outbox,
) -> None:
    async def rate_limited_once(events: list[Event], call: int) -> None:
        if call == 1:
            raise DeliveryError("HTTP 429 from /track", retry_after=0.3)

    destination = ScriptedDestination(rate_limited_once, max_batch=1)
    await outbox.append(entries(3))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: len(destination.delivered) == 3)
    await stop(forwarder)

    first, *later = destination.call_times
    # neither the limited record nor the others went out before Retry-After
    assert all(t - first >= 0.29 for t in later)
    assert destination.calls[0] == ["e000"]
    assert "e000" in destination.delivered


async def test_backoff_doubles_up_to_the_maximum() -> None:
    outbox = FakeOutbox()

    async def always_fail(events: list[Event], call: int) -> None:
        raise DeliveryError("HTTP 502 from /track")

    destination = ScriptedDestination(always_fail)
    await outbox.append(entries(1))
    forwarder = forwarder_for(
        outbox, destination, rng=MaxRandom(), retry_max=0.05, max_attempts=7
    )

    forwarder.start()
    await until(lambda: len(outbox.dead) == 1)
    await stop(forwarder)

    delays = [delay for _, delay, _ in outbox.retry_calls]
    assert delays == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05, 0.05])
    assert {reason for _, _, reason in outbox.retry_calls} == {"HTTP 502 from /track"}


async def test_full_jitter_stays_below_the_ceiling() -> None:
    outbox = FakeOutbox()

    async def always_fail(events: list[Event], call: int) -> None:
        raise DeliveryError("HTTP 500 from /track")

    destination = ScriptedDestination(always_fail)
    await outbox.append(entries(1))
    forwarder = forwarder_for(
        outbox, destination, rng=random.Random(7), retry_max=0.04, max_attempts=12
    )

    forwarder.start()
    await until(lambda: len(outbox.dead) == 1)
    await stop(forwarder)

    delays = [delay for _, delay, _ in outbox.retry_calls]
    ceilings = [min(0.04, 0.01 * 2**n) for n in range(len(delays))]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) > 1


async def test_retry_after_is_a_floor_under_the_backoff() -> None:
    outbox = FakeOutbox()

    async def limited(events: list[Event], call: int) -> None:
        if call == 1:
            raise DeliveryError("HTTP 429 from /track", retry_after=0.2)

    destination = ScriptedDestination(limited)
    await outbox.append(entries(1))
    forwarder = forwarder_for(outbox, destination, rng=random.Random(1))

    forwarder.start()
    await until(lambda: destination.delivered == ["e000"])
    await stop(forwarder)

    assert [delay for _, delay, _ in outbox.retry_calls] == [0.2]


async def test_gives_up_after_max_attempts(outbox: Outbox) -> None:
    async def always_fail(events: list[Event], call: int) -> None:
        raise DeliveryError("HTTP 500 from /track")

    destination = ScriptedDestination(always_fail)
    await outbox.append(entries(2))
    forwarder = forwarder_for(outbox, destination, max_attempts=3)

    forwarder.start()
    await until(lambda: forwarder.stats[ROUTE].buried == 2)
    await stop(forwarder)

    assert len(destination.calls) == 3
    [dead_a, dead_b] = await outbox.dead_letters(ROUTE)
    assert dead_a.reason == "gave up after 3 attempts: HTTP 500 from /track"
    assert dead_a.attempts == dead_b.attempts == 3
    assert forwarder.stats[ROUTE].retried == 4
    assert await depth(outbox) == 0


async def test_splits_too_large_batches_down_to_single_events(
    outbox: Outbox,
) -> None:
    async def at_most_two(events: list[Event], call: int) -> None:
        if any(e.insert_id == "e005" for e in events) or len(events) > 2:
            raise DeliveryError("HTTP 413 from /track", too_large=True)

    destination = ScriptedDestination(at_most_two, max_batch=8)
    await outbox.append(entries(8))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: forwarder.stats[ROUTE].buried == 1)
    await until(lambda: len(destination.delivered) == 7)
    await stop(forwarder)

    assert sorted(destination.delivered) == [f"e{n:03d}" for n in range(8) if n != 5]
    assert [len(call) for call in destination.calls] == [8, 4, 2, 2, 4, 2, 1, 1, 2]
    [dead] = await outbox.dead_letters(ROUTE)
    assert (dead.insert_id, dead.reason) == ("e005", "too large")
    assert forwarder.stats[ROUTE].retried == 0


async def test_buries_a_permanently_refused_batch_with_its_reason(
    outbox: Outbox,
) -> None:
    async def refuse(events: list[Event], call: int) -> None:
        raise DeliveryError("HTTP 400 from /track", permanent=True)

    destination = ScriptedDestination(refuse)
    await outbox.append(entries(3))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: forwarder.stats[ROUTE].buried == 3)
    await stop(forwarder)

    dead = await outbox.dead_letters(ROUTE)
    assert {d.reason for d in dead} == {"HTTP 400 from /track"}
    assert len(destination.calls) == 1
    assert await depth(outbox) == 0


async def test_partial_rejection_acks_the_rest_and_buries_the_rejected(
    outbox: Outbox,
) -> None:
    async def reject_some(events: list[Event], call: int) -> None:
        raise DeliveryError(
            "HTTP 400 from /import: 2 of 4 records rejected",
            permanent=True,
            rejected={1: "field time: out of range", 3: "field $insert_id: invalid"},
        )

    destination = ScriptedDestination(reject_some)
    await outbox.append(entries(4))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: forwarder.stats[ROUTE].buried == 2)
    await stop(forwarder)

    dead = {d.insert_id: d.reason for d in await outbox.dead_letters(ROUTE)}
    assert dead == {
        "e001": "field time: out of range",
        "e003": "field $insert_id: invalid",
    }
    assert forwarder.stats[ROUTE].delivered == 2
    assert len(destination.calls) == 1
    assert await depth(outbox) == 0


async def test_partial_delivery_retries_only_what_did_not_arrive(
    outbox: Outbox,
) -> None:
    async def half_way(events: list[Event], call: int) -> None:
        if call == 1:
            raise PartialDelivery(
                "HTTP 503 from /engage",
                delivered=[0, 1],
                rejected={2: "cannot encode for /engage (ValueError)"},
            )

    destination = ScriptedDestination(half_way)
    await outbox.append(entries(5))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: forwarder.stats[ROUTE].delivered == 4)
    await stop(forwarder)

    assert destination.calls[1] == ["e003", "e004"]
    dead = await outbox.dead_letters(ROUTE)
    assert [(d.insert_id, d.reason) for d in dead] == [
        ("e002", "cannot encode for /engage (ValueError)")
    ]
    assert forwarder.stats[ROUTE].retried == 2


async def test_unexpected_exceptions_are_retried_and_never_logged_with_values(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    async def buggy(events: list[Event], call: int) -> None:
        if call <= 2:
            raise KeyError(SECRET_VALUE)

    destination = ScriptedDestination(buggy)
    await outbox.append(entries(2))
    forwarder = forwarder_for(outbox, destination)

    with caplog.at_level(logging.DEBUG):
        forwarder.start()
        await until(lambda: len(destination.delivered) == 2)
        assert forwarder.running
        await stop(forwarder)

    assert forwarder.stats[ROUTE].retried == 4
    assert forwarder.stats[ROUTE].last_error == "unexpected KeyError in destination"
    assert SECRET_VALUE not in caplog.text
    assert await outbox.dead_letters(ROUTE) == []


async def test_survives_a_failing_outbox() -> None:
    outbox = FakeOutbox()
    real_lease = outbox.lease
    failures = 0

    async def flaky_lease(route: str, limit: int) -> list:  # type: ignore[type-arg]
        nonlocal failures
        if failures < 3:
            failures += 1
            raise OSError("disk I/O error")
        return await real_lease(route, limit)

    outbox.lease = flaky_lease  # type: ignore[method-assign]
    destination = ScriptedDestination()
    await outbox.append(entries(2))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: len(destination.delivered) == 2)
    await stop(forwarder)

    assert failures == 3
    assert forwarder.stats[ROUTE].last_error == "outbox error (OSError)"


async def test_undecodable_records_are_buried(outbox: Outbox) -> None:
    destination = ScriptedDestination()
    await outbox.append(
        [Entry(ROUTE, "bad1", b"not json"), Entry(ROUTE, "bad2", b'{"k": "?"}')]
    )
    await outbox.append(entries(1))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: destination.delivered == ["e000"])
    await until(lambda: forwarder.stats[ROUTE].buried == 2)
    await stop(forwarder)

    dead = await outbox.dead_letters(ROUTE)
    assert {(d.insert_id, d.reason) for d in dead} == {
        ("bad1", "undecodable record"),
        ("bad2", "undecodable record"),
    }


async def test_undecodable_records_in_a_large_batch_are_buried(
    outbox: Outbox,
) -> None:
    # batches over a hundred records are decoded off the request loop
    destination = ScriptedDestination(max_batch=300)
    await outbox.append(entries(150))
    await outbox.append([Entry(ROUTE, "bad1", b"not json")])
    await outbox.append(entries(100, start=150))
    forwarder = forwarder_for(outbox, destination)

    forwarder.start()
    await until(lambda: len(destination.delivered) == 250)
    await until(lambda: forwarder.stats[ROUTE].buried == 1)
    await stop(forwarder)

    assert destination.calls[0] == [f"e{n:03d}" for n in range(250)]
    dead = await outbox.dead_letters(ROUTE)
    assert [(d.insert_id, d.reason) for d in dead] == [("bad1", "undecodable record")]


async def test_a_lingering_destination_gets_fuller_batches(outbox: Outbox) -> None:
    destination = ScriptedDestination(max_batch=100)
    destination.linger = 0.3  # type: ignore[attr-defined]
    forwarder = forwarder_for(outbox, destination, poll_interval=30.0)
    forwarder.start()
    await outbox.append(entries(5))
    await until(lambda: len(destination.delivered) == 5)

    # records that come while the route lingers wait for it, together
    for start in range(5, 50, 5):
        await outbox.append(entries(5, start=start))
        await asyncio.sleep(0.01)
    await until(lambda: len(destination.delivered) == 50)
    await stop(forwarder)

    assert [len(call) for call in destination.calls] == [5, 45]
    assert destination.call_times[1] - destination.call_times[0] >= 0.3


async def test_stopping_cuts_a_linger_short(outbox: Outbox) -> None:
    destination = ScriptedDestination()
    destination.linger = 30.0  # type: ignore[attr-defined]
    forwarder = forwarder_for(outbox, destination)
    forwarder.start()
    await outbox.append(entries(1))
    await until(lambda: destination.delivered == ["e000"])

    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop(forwarder, seconds=10.0)

    assert loop.time() - started < 1.0
    assert not forwarder.running


async def test_each_route_has_its_own_destination(outbox: Outbox) -> None:
    local = ScriptedDestination()
    upstream = ScriptedDestination()
    await outbox.append(entries(3, "demo/local") + entries(2, "demo/mp", start=10))
    forwarder = Forwarder(
        outbox, {"demo/local": local, "demo/mp": upstream}, poll_interval=0.02
    )

    forwarder.start()
    await until(lambda: len(local.delivered) == 3 and len(upstream.delivered) == 2)
    await stop(forwarder)

    assert sorted(upstream.delivered) == ["e010", "e011"]
    assert forwarder.stats["demo/mp"].delivered == 2


async def test_logs_one_shape_only_line_per_batch(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail_first(events: list[Event], call: int) -> None:
        if call == 1:
            raise DeliveryError("HTTP 500 from /track")

    destination = ScriptedDestination(fail_first)
    await outbox.append(entries(3))
    forwarder = forwarder_for(outbox, destination)

    with caplog.at_level(logging.INFO, logger="redline.forwarder"):
        forwarder.start()
        await until(lambda: len(destination.delivered) == 3)
        await stop(forwarder)

    lines = [r.getMessage() for r in caplog.records if r.name == "redline.forwarder"]
    batches = [line for line in lines if line.startswith("route=")]
    assert len(batches) == 2
    assert "events=3" in batches[0] and "status=retry" in batches[0]
    assert "reason=HTTP 500 from /track" in batches[0]
    assert "delivered=3" in batches[1] and "status=ok" in batches[1]
    assert all("ms=" in line for line in batches)
    assert SECRET_VALUE not in caplog.text
    assert "e000" not in caplog.text


class TestStop:
    async def test_lets_a_send_in_flight_finish_before_the_deadline(
        self, outbox: Outbox
    ) -> None:
        started = asyncio.Event()

        async def slow(events: list[Event], call: int) -> None:
            started.set()
            await asyncio.sleep(0.2)

        destination = ScriptedDestination(slow)
        await outbox.append(entries(3))
        forwarder = forwarder_for(outbox, destination)
        forwarder.start()
        await started.wait()

        await stop(forwarder, seconds=5.0)

        assert destination.delivered == ["e000", "e001", "e002"]
        assert await depth(outbox) == 0
        assert not forwarder.running

    async def test_cancels_at_the_deadline_and_leaves_records_in_the_outbox(
        self, outbox: Outbox
    ) -> None:
        started = asyncio.Event()

        async def hang(events: list[Event], call: int) -> None:
            started.set()
            await asyncio.Event().wait()

        destination = ScriptedDestination(hang)
        await outbox.append(entries(4))
        forwarder = forwarder_for(outbox, destination)
        forwarder.start()
        await started.wait()

        loop = asyncio.get_running_loop()
        began = loop.time()
        await forwarder.stop(began + 0.1)

        assert loop.time() - began < 1.0
        assert not forwarder.running
        assert destination.delivered == []
        assert destination.closed
        assert await depth(outbox) == 4
        assert await outbox.dead_letters() == []

    async def test_idle_routes_stop_at_once(self, outbox: Outbox) -> None:
        forwarder = forwarder_for(outbox, ScriptedDestination(), poll_interval=30.0)
        forwarder.start()
        await asyncio.sleep(0.02)

        loop = asyncio.get_running_loop()
        began = loop.time()
        await forwarder.stop(began + 10)

        assert loop.time() - began < 0.5

    async def test_a_paused_route_stops_at_once(self, outbox: Outbox) -> None:
        async def limited(events: list[Event], call: int) -> None:
            raise DeliveryError("HTTP 429 from /track", retry_after=60)

        destination = ScriptedDestination(limited)
        await outbox.append(entries(1))
        forwarder = forwarder_for(outbox, destination)
        forwarder.start()
        await until(lambda: forwarder.stats[ROUTE].retried == 1)

        loop = asyncio.get_running_loop()
        began = loop.time()
        await forwarder.stop(began + 10)

        assert loop.time() - began < 0.5
        assert await depth(outbox) == 1


async def test_unsettled_records_are_delivered_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    started = asyncio.Event()

    async def hang(events: list[Event], call: int) -> None:
        started.set()
        await asyncio.Event().wait()

    async with SqliteOutbox(path, durability="process") as outbox:
        await outbox.append(entries(3))
        first = forwarder_for(outbox, ScriptedDestination(hang))
        first.start()
        await started.wait()
        await stop(first, seconds=0.05)

    async with SqliteOutbox(path, durability="process") as outbox:
        destination = ScriptedDestination()
        second = forwarder_for(outbox, destination)
        second.start()
        await until(lambda: len(destination.delivered) == 3)
        await stop(second)


async def test_stop_removes_the_outbox_listener() -> None:
    outbox = FakeOutbox()
    forwarder = forwarder_for(outbox, ScriptedDestination())

    forwarder.start()
    assert outbox.listeners == 1
    await stop(forwarder)

    assert outbox.listeners == 0


async def test_start_twice_is_refused() -> None:
    forwarder = forwarder_for(FakeOutbox(), ScriptedDestination())
    forwarder.start()
    try:
        with pytest.raises(RuntimeError):
            forwarder.start()
    finally:
        await stop(forwarder)


@pytest.mark.parametrize(
    "options",
    [
        {"retry_initial": 0},
        {"retry_initial": 5, "retry_max": 1},
        {"max_attempts": 0},
        {"poll_interval": 0},
    ],
)
def test_refuses_nonsense_settings(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Forwarder(FakeOutbox(), {}, **options)  # type: ignore[arg-type]


class TestBuildDestinations:
    def load(self, tmp_path: Path, text: str) -> config_module.Config:
        path = tmp_path / "redline.yaml"
        path.write_text(text)
        # the process environment, without overrides of the server settings
        environ = {k: v for k, v in os.environ.items() if not k.startswith("REDLINE_")}
        return config_module.load(path, environ=environ)

    def test_one_destination_per_project_and_upstream(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MP_TOKEN", "upstream-token")
        config = self.load(
            tmp_path,
            """
destinations:
  local: {type: local}
  bulk: {type: local, max_batch: 40}
  mp: {type: mixpanel, region: eu}
projects:
  demo:
    ingest_keys: [demo]
    forward:
      - destination: local
      - destination: mp
        token: {env: MP_TOKEN}
  shop:
    ingest_keys: [shop]
    forward: [{destination: local}, {destination: bulk}]
""",
        )
        with LocalStore.in_dir(tmp_path) as store:
            built = build_destinations(config, store)

        assert sorted(built) == ["demo/local", "demo/mp", "shop/bulk", "shop/local"]
        local = built["shop/local"]
        assert isinstance(local, LocalStoreDestination)
        assert (local.project, local.max_batch) == ("shop", LOCAL_MAX_BATCH)
        assert built["shop/bulk"].max_batch == 40
        upstream = built["demo/mp"]
        assert isinstance(upstream, MixpanelDestination)
        assert upstream.base_url == "https://api-eu.mixpanel.com"
        assert upstream.max_batch == 50
