"""The ``aggregate`` rule end to end: summaries whose counts, sums, minima
and maxima match the events they replace, windows that survive a restart
and close early on shutdown, and aggregated events that never travel one
by one."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from harness import GatewayProcess, free_port, gateway_thread, write_config
from redline.engine import Hasher
from redline.events import Event, Kind, from_record
from redline.gateway._aggregate import AggregatesUnavailable, Aggregator, Fold
from redline.outbox import Entry
from redline.policy import Aggregate
from redline.sensitive import Sensitive
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import scrape, value

HASHER = Hasher("k1", Sensitive("0123456789abcdef0123456789abcdef"))
RULE = Aggregate(
    60,
    ("model",),
    ("prompt_tokens", "completion_tokens"),
    ("latency_ms",),
    ("latency_ms",),
)
ROUTES = ("demo/local", "demo/mp")


class FakeOutbox:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.fail_next = 0

    async def append(self, entries: Sequence[Entry]) -> None:
        self.entries.extend(entries)
        if self.fail_next:
            # the append committed, the answer was lost: the summary is
            # in the outbox but the aggregator does not know it
            self.fail_next -= 1
            raise OSError("connection lost")

    def summaries(self, route: str = "demo/local") -> list[Event]:
        return [
            from_record(orjson.loads(e.payload))
            for e in self.entries
            if e.route == route
        ]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def call(model: Any, **props: Any) -> Fold:
    event = Event(Kind.TRACK, "api_call", {"model": model, **props}, "u-1", "i-1")
    return Fold("demo", ROUTES, event, RULE)


def expected(folds: list[Fold]) -> dict[Any, dict[str, Any]]:
    """What the summaries must say, computed the plain way."""
    out: dict[Any, dict[str, Any]] = {}
    for fold in folds:
        props = fold.event.properties
        want = out.setdefault(
            props.get("model"),
            {"$aggregate_count": 0, "prompt_tokens_sum": 0, "completion_tokens_sum": 0},
        )
        want["$aggregate_count"] += 1
        for name in ("prompt_tokens", "completion_tokens", "latency_ms"):
            value = props.get(name)
            if name not in props:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                key = f"{name}_non_numeric"
                want[key] = want.get(key, 0) + 1
                continue
            if name != "latency_ms":
                want[f"{name}_sum"] += value
            else:
                low = want.get("latency_ms_min", value)
                high = want.get("latency_ms_max", value)
                want["latency_ms_min"] = min(low, value)
                want["latency_ms_max"] = max(high, value)
    return out


def folds_for_three_groups() -> list[Fold]:
    folds = []
    for i in range(90):
        model = ("gpt-a", "gpt-b", None)[i % 3]
        props: dict[str, Any] = {
            "prompt_tokens": i * 7 % 23,
            "completion_tokens": 0.5 * i,
            "latency_ms": (i * 37) % 101,
        }
        if i % 10 == 0:
            props["completion_tokens"] = "many"  # not a number: counted
        if i % 11 == 0:
            del props["prompt_tokens"]  # missing: not counted
        if i % 13 == 0:
            props["latency_ms"] = True  # a boolean is no number
        folds.append(call(model, **props))
    return folds


def by_group(summaries: list[Event]) -> dict[Any, dict[str, Any]]:
    return {s.properties["model"]: s.properties for s in summaries}


async def test_summaries_match_the_events_they_replace_per_group(
    tmp_path: Path,
) -> None:
    outbox = FakeOutbox()
    clock = Clock(1_800_000_030.0)
    aggregator = Aggregator(
        tmp_path / "aggregates.db", outbox, lambda: HASHER, clock=clock
    )
    await aggregator.start()
    folds = folds_for_three_groups()
    for start in range(0, len(folds), 7):  # several requests
        await aggregator.add(folds[start : start + 7])

    assert await aggregator.flush() == 0  # the window is not over yet
    clock.now = 1_800_000_060.0
    assert await aggregator.flush() == 3
    await aggregator.close()

    summaries = outbox.summaries()
    assert len(summaries) == 3
    assert len(outbox.summaries("demo/mp")) == 3
    for model, want in expected(folds).items():
        got = by_group(summaries)[model]
        assert {k: got[k] for k in want} == pytest.approx(want)
        assert set(got) == {
            "model",
            *want,
            "$window_start",
            "$window_seconds",
        }
    for summary in summaries:
        assert summary.name == "api_call"
        assert summary.time == 1_800_000_000
        assert summary.properties["$window_start"] == 1_800_000_000
        assert summary.properties["$window_seconds"] == 60
        assert summary.distinct_id == ""
        assert summary.insert_id is not None and len(summary.insert_id) == 32
    assert len({s.insert_id for s in summaries}) == 3


async def test_integer_sums_stay_exact_and_windows_split_by_time(
    tmp_path: Path,
) -> None:
    outbox = FakeOutbox()
    clock = Clock(1_800_000_000.0)
    aggregator = Aggregator(tmp_path / "a.db", outbox, lambda: HASHER, clock=clock)
    await aggregator.start()
    await aggregator.add([call("m", prompt_tokens=2**62), call("m", prompt_tokens=1)])
    clock.now += 60  # the next window
    await aggregator.add([call("m", prompt_tokens=5)])
    await aggregator.close()

    sums = sorted(s.properties["prompt_tokens_sum"] for s in outbox.summaries())
    assert sums == [5, 2**62 + 1]
    starts = sorted(s.properties["$window_start"] for s in outbox.summaries())
    assert starts == [1_800_000_000, 1_800_000_060]


async def test_a_fold_is_committed_when_add_returns(tmp_path: Path) -> None:
    path = tmp_path / "aggregates.db"
    aggregator = Aggregator(path, FakeOutbox(), lambda: HASHER)
    await aggregator.start()
    await aggregator.add([call("m", prompt_tokens=3), call("m", prompt_tokens=4)])

    # another connection, as after a crash, sees the committed row
    with sqlite3.connect(path) as conn:
        (state,) = conn.execute("SELECT state FROM windows").fetchone()
    assert orjson.loads(state)["count"] == 2
    assert orjson.loads(state)["sum"]["prompt_tokens"] == 7
    await aggregator.close()


async def test_windows_survive_a_reopen_and_close_once_when_due(
    tmp_path: Path,
) -> None:
    path = tmp_path / "aggregates.db"
    clock = Clock(1_800_000_010.0)
    first = Aggregator(path, FakeOutbox(), lambda: HASHER, clock=clock)
    await first.start()
    await first.add([call("m", prompt_tokens=3)])
    # a crash: the store is left as it is, nothing is flushed
    first._task.cancel()  # type: ignore[union-attr]
    await first._run(first._close_conn)

    outbox = FakeOutbox()
    second = Aggregator(path, outbox, lambda: HASHER, clock=clock, interval=0.01)
    await second.start()
    await second.add([call("m", prompt_tokens=4)])
    assert await second.flush() == 0
    clock.now = 1_800_000_061.0
    wait = time.monotonic() + 5
    while not outbox.entries and time.monotonic() < wait:
        await second._run(time.sleep, 0.01)  # the ticker closes it
    await second.close()

    (summary,) = outbox.summaries()
    assert summary.properties["$aggregate_count"] == 2
    assert summary.properties["prompt_tokens_sum"] == 7


async def test_a_summary_sent_again_after_a_failed_close_keeps_its_insert_id(
    tmp_path: Path,
) -> None:
    outbox = FakeOutbox()
    outbox.fail_next = 1
    clock = Clock(1_800_000_010.0)
    aggregator = Aggregator(tmp_path / "a.db", outbox, lambda: HASHER, clock=clock)
    await aggregator.start()
    await aggregator.add([call("m", prompt_tokens=3)])
    clock.now += 60
    with pytest.raises(OSError):
        await aggregator.flush()
    # events arriving meanwhile start a new row; the closing one is kept
    await aggregator.add([call("m", prompt_tokens=100)])
    assert await aggregator.flush() == 1
    await aggregator.close()

    first, again, later = outbox.summaries()
    assert first.insert_id == again.insert_id
    assert first.properties == again.properties
    assert later.insert_id != first.insert_id
    assert later.properties["prompt_tokens_sum"] == 100


async def test_events_after_an_early_close_get_a_summary_of_their_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.db"
    outbox = FakeOutbox()
    clock = Clock(1_800_000_010.0)
    for tokens in (3, 4):
        aggregator = Aggregator(path, outbox, lambda: HASHER, clock=clock)
        await aggregator.start()
        await aggregator.add([call("m", prompt_tokens=tokens)])
        await aggregator.close()  # shutdown closes the window early
        clock.now += 1

    first, second = outbox.summaries()
    assert first.properties["$window_start"] == second.properties["$window_start"]
    assert first.insert_id != second.insert_id
    assert [
        first.properties["prompt_tokens_sum"],
        second.properties["prompt_tokens_sum"],
    ] == [3, 4]


async def test_a_closed_store_refuses_folds(tmp_path: Path) -> None:
    aggregator = Aggregator(tmp_path / "a.db", FakeOutbox(), lambda: HASHER)
    await aggregator.start()
    await aggregator._run(aggregator._close_conn)
    with pytest.raises(AggregatesUnavailable):
        await aggregator.add([call("m", prompt_tokens=1)])
    await aggregator.close()


# -- through the gateway ---------------------------------------------------


def policy(tmp_path: Path, window: int) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        "events:\n"
        "  api_call:\n"
        "    aggregate:\n"
        f"      window_seconds: {window}\n"
        "      group_by: [model]\n"
        "      sum: [prompt_tokens]\n"
        "      min: [latency_ms]\n"
        "      max: [latency_ms]\n"
        "    properties: {model: keep, prompt_tokens: keep, latency_ms: keep}\n"
        "  page_view:\n"
        "    properties: {path: keep}\n"
    )
    return path


def config_for(tmp_path: Path, standin: MixpanelStandin, window: int) -> Path:
    return write_config(
        tmp_path,
        policy=policy(tmp_path, window),
        port=free_port(),
        **mixpanel_destination(standin),
    )


def api_calls(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "event": "api_call",
            "properties": {
                "token": "demo",
                "distinct_id": f"user-{i % 5}",
                "$insert_id": f"call-{offset + i:05d}",
                "time": int(time.time()),
                "model": ("m-small", "m-large")[i % 2],
                "prompt_tokens": (offset + i) * 3 % 17,
                "latency_ms": (offset + i) * 31 % 97,
                "prompt": "the text the user typed",
            },
        }
        for i in range(n)
    ]


def post(url: str, events: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{url}/track?verbose=1", data={"data": json.dumps(events)}, timeout=10
    )
    assert response.status_code == 200 and response.json()["status"] == 1


def totals(events: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for event in events:
        props = event["properties"]
        want = out.setdefault(
            props["model"],
            {"$aggregate_count": 0, "prompt_tokens_sum": 0},
        )
        want["$aggregate_count"] += 1
        want["prompt_tokens_sum"] += props["prompt_tokens"]
        want["latency_ms_min"] = min(
            want.get("latency_ms_min", 10**9), props["latency_ms"]
        )
        want["latency_ms_max"] = max(
            want.get("latency_ms_max", -1), props["latency_ms"]
        )
    return out


def delivered(standin: MixpanelStandin) -> dict[str, dict[str, Any]]:
    """The summaries the stand-in holds, summed per group (one window may
    be closed in parts)."""
    out: dict[str, dict[str, Any]] = {}
    for event in standin.events:
        if event["event"] != "api_call":
            continue
        props = event["properties"]
        got = out.setdefault(
            props["model"], {"$aggregate_count": 0, "prompt_tokens_sum": 0}
        )
        got["$aggregate_count"] += props["$aggregate_count"]
        got["prompt_tokens_sum"] += props["prompt_tokens_sum"]
        got["latency_ms_min"] = min(
            got.get("latency_ms_min", 10**9), props["latency_ms_min"]
        )
        got["latency_ms_max"] = max(
            got.get("latency_ms_max", -1), props["latency_ms_max"]
        )
    return out


def test_gateway_forwards_summaries_not_events_and_counts_them(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    sent = api_calls(40)
    with gateway_thread(config_for(tmp_path, standin, 1)) as gw:
        post(gw.url, sent[:25])
        post(
            gw.url,
            [
                *sent[25:],
                {
                    "event": "page_view",
                    "properties": {
                        "token": "demo",
                        "distinct_id": "u",
                        "time": int(time.time()),
                        "path": "/",
                    },
                },
            ],
        )
        # a client sending ten of them again (a lost answer): not folded in
        # a second time
        post(gw.url, sent[:10])
        wait_for(lambda: delivered(standin) == totals(sent), timeout=10)
        # two models, so at least two summaries: more when the posts
        # straddle a window's close on a slow machine
        wait_for(
            lambda: any(e["event"] == "page_view" for e in standin.events),
            timeout=10,
        )
        samples = scrape(gw.url)

    assert value(samples, "redline_events_aggregated_total") == 40
    assert value(samples, "redline_events_accepted_total") == 41
    assert value(samples, "redline_events_repeated_total") == 10
    names = [event["event"] for event in standin.events]
    assert names.count("page_view") == 1
    assert names.count("api_call") >= 2
    for event in standin.events:
        props = event["properties"]
        if event["event"] != "api_call":
            continue
        # a summary, never one of the events it replaces
        assert "$aggregate_count" in props and "prompt" not in props
        assert not str(props["$insert_id"]).startswith("call-")
        assert props["distinct_id"] == ""
    assert standin.violations == []


@pytest.mark.slow
def test_sigterm_closes_open_windows_early_and_delivers_them(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    config = config_for(tmp_path, standin, 3600)
    sent = api_calls(30)
    gw = GatewayProcess(config, tmp_path / "gateway.log").start()
    try:
        post(gw.url, sent[:10])
        post(gw.url, sent[10:])
        # acknowledged means committed: the rows are on disk already
        with sqlite3.connect(tmp_path / "data" / "aggregates.db") as conn:
            counts = [
                orjson.loads(state)["count"]
                for (state,) in conn.execute("SELECT state FROM windows")
            ]
        assert sum(counts) == 30
        time.sleep(1.5)
        assert standin.events == []  # the hour is not over
    finally:
        gw.stop()  # SIGTERM: a graceful shutdown
    assert (
        "shutdown: aggregation windows closed" in (tmp_path / "gateway.log").read_text()
    )

    # the forwarder sent the summaries before it stopped, or the next start
    # sends what the outbox still holds
    if delivered(standin) != totals(sent):
        with GatewayProcess(config, tmp_path / "gateway.log"):
            wait_for(lambda: delivered(standin) == totals(sent), timeout=10)
    assert delivered(standin) == totals(sent)
    assert len(standin.events) == 2


@pytest.mark.slow
def test_sigkill_keeps_open_windows_and_delivers_them_once_when_due(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    window = 6
    config = config_for(tmp_path, standin, window)
    sent = api_calls(20)
    # start sending right after a window boundary, so the kill comes first
    while time.time() % window > 0.5:
        time.sleep(0.05)
    gw = GatewayProcess(config, tmp_path / "gateway.log").start()
    post(gw.url, sent[:10])
    post(gw.url, sent[10:])
    gw.kill()
    assert standin.events == []

    with GatewayProcess(config, tmp_path / "gateway.log"):
        wait_for(lambda: delivered(standin) == totals(sent), timeout=20)
        time.sleep(1.5)  # nothing more arrives
    assert delivered(standin) == totals(sent)
    assert len(standin.events) == 2
    with sqlite3.connect(tmp_path / "data" / "aggregates.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM windows").fetchone() == (0,)
