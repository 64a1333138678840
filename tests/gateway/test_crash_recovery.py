"""SIGKILL the gateway while events stream in, start it again: nothing it
acknowledged is lost, and nothing reaches the destination twice in a way
Mixpanel would count twice."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness import GatewayProcess, free_port, write_config
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for

pytestmark = pytest.mark.slow


def _batch(n: int) -> str:
    events = [
        {
            "event": "checkout",
            "properties": {
                "token": "demo",
                "distinct_id": f"user-{n % 13}",
                "time": 1764230410 + n,
                "$insert_id": f"b{n:05d}-{i:02d}",
                "plan": "pro",
                "price": n * 100 + i,
            },
        }
        for i in range(50)
    ]
    return json.dumps(events)


def _stream(url: str, acked: list[str], stop: threading.Event) -> None:
    n = 0
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post(
                    f"{url}/track?verbose=1", data={"data": _batch(n)}
                )
            except httpx.HTTPError:
                return  # the gateway is gone
            if response.status_code == 200 and response.json()["status"] == 1:
                acked.extend(f"b{n:05d}-{i:02d}" for i in range(50))
            n += 1


@pytest.mark.parametrize("durability", ["power", "process"])
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, standin: MixpanelStandin, durability: str
) -> None:
    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
        extra="",
        port=free_port(),
    )
    text = config.read_text().replace(
        "outbox:\n", f"outbox:\n  durability: {durability}\n"
    )
    config.write_text(text)
    # slow the upstream so that plenty is in flight or queued at the kill
    standin.fail_next([503] * 3)
    log = tmp_path / "gateway.log"

    acked: list[str] = []
    stop = threading.Event()
    first = GatewayProcess(config, log).start()
    client = threading.Thread(target=_stream, args=(first.url, acked, stop))
    client.start()
    wait_for(lambda: len(acked) >= 2000, timeout=30)
    first.kill()
    stop.set()
    client.join(10)
    killed_with = len(acked)
    delivered_before_restart = len(_received(standin))

    with GatewayProcess(config, log):
        wait_for(lambda: set(acked) <= _received(standin), timeout=60)
        time.sleep(1.0)
        from redline.destinations.local import LocalStore

        with LocalStore(tmp_path / "data" / "store.db") as store:
            wait_for(lambda: store.count() >= killed_with, timeout=30)
            stored = {
                row["properties"]["$insert_id"] for row in store.query(limit=10**6)
            }

    assert standin.violations == []
    # the kill left acknowledged work behind, which the restart delivered
    assert delivered_before_restart < len(set(acked))
    assert set(acked) <= stored
    # copies of one event are the same record, which Mixpanel deduplicates
    # by (event, time, distinct_id, $insert_id)
    copies = collections.defaultdict(set)
    for event in standin.events_for("track"):
        props = event["properties"]
        copies[props["$insert_id"]].add(
            (event["event"], props["time"], props["distinct_id"], props["price"])
        )
    assert all(len(versions) == 1 for versions in copies.values())
    assert set(acked) <= set(copies)


def _received(standin: MixpanelStandin) -> set[str]:
    return {e["properties"]["$insert_id"] for e in standin.events_for("track")}


def test_second_gateway_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # the same data directory, another port
    other = tmp_path / "other.yaml"
    other.write_text(
        re.sub(r"port: \d+", f"port: {free_port()}", config.read_text(), count=1)
    )

    with GatewayProcess(config, tmp_path / "gateway.log"):
        second = GatewayProcess(other, tmp_path / "second.log")
        with pytest.raises(RuntimeError, match="exited with 2"):
            second.start()

    assert "another Redline gateway is using the data directory" in (
        (tmp_path / "second.log").read_text()
    )
