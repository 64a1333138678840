"""`redline outbox replay` run beside a running gateway: the gateway's
outbox depth counts what the other process put back, and never goes
below zero."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness import GatewayProcess, write_config
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import checkout, scrape, track, value

pytestmark = pytest.mark.slow


def _replay(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "redline.cli", "outbox", "replay", "--config", config],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _dead(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])


def _waiting(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute("SELECT COALESCE(SUM(waiting), 0) FROM outbox").fetchone()[0]
        )


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_cli_replay_beside_a_gateway_keeps_its_depth_true(
    tmp_path: Path, standin: MixpanelStandin, writer: str
) -> None:
    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"],
        forward=fragments["forward"],
    )
    if writer == "thread":
        text = config.read_text().replace("outbox:\n", "outbox:\n  writer: thread\n")
        config.write_text(text)
    db = tmp_path / "data" / "outbox.db"
    mp = "demo/mp"
    depths: list[float] = []

    def depth(url: str) -> float:
        found = value(scrape(url), "redline_outbox_depth")
        depths.append(found)
        return found

    with GatewayProcess(config, tmp_path / "gateway.log") as gw:
        # five events refused for good upstream: five dead letters
        standin.fail_next([400])
        assert track(gw.url, checkout(5, "a")).status_code == 200
        wait_for(lambda: _dead(db) == 5)

        # replayed from outside, refused again
        standin.fail_next([400])
        assert _replay(config) == "5 dead letters queued again"
        wait_for(lambda: _dead(db) == 5 and _waiting(db) == 0)

        # replayed from outside again, delivered this time
        assert _replay(config) == "5 dead letters queued again"
        wait_for(
            lambda: (
                value(scrape(gw.url), "redline_events_forwarded_total", destination=mp)
                == 5
            )
        )
        wait_for(lambda: _waiting(db) == 0 and _dead(db) == 0)
        wait_for(lambda: depth(gw.url) == 0)
        status = httpx.get(gw.url + "/ui/api/status", timeout=10).json()
        assert status["outbox"]["depth"] == 0
        assert depth(gw.url) == 0

        # records waiting are counted as they are: a replay the
        # forwarder cannot deliver yet (upstream down) stays in the depth
        standin.fail_next([400])
        assert track(gw.url, checkout(3, "b")).status_code == 200
        wait_for(lambda: _dead(db) == 3)
        standin.fail_next([503] * 50)
        assert _replay(config) == "3 dead letters queued again"
        wait_for(lambda: depth(gw.url) == 3)
        assert _waiting(db) == 3
        status = httpx.get(gw.url + "/ui/api/status", timeout=10).json()
        assert status["outbox"]["depth"] == 3

    assert min(depths) >= 0
