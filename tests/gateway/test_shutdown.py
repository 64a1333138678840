"""SIGTERM while the upstream is down or hangs: the gateway shuts down in
phases within its deadline, keeps what it could not deliver in the outbox,
and delivers it, once, after a restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import GatewayProcess, write_config
from redline.destinations.local import LocalStore
from redline.outbox.sqlite import read_stats
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_ENV, log_lines, wait_for

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 2.0
# process start-up and interpreter exit, on top of the shutdown deadline
SLACK = 2.0


class HungUpstream:
    """Accepts connections and reads requests, and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.1)
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.bytes_received = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
                conn.settimeout(0.1)
                self._conns.append(conn)
            except TimeoutError:
                pass
            for conn in self._conns:
                with contextlib.suppress(TimeoutError, OSError):
                    self.bytes_received += len(conn.recv(65536))

    def __enter__(self) -> HungUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._sock.close()


def _config(tmp_path: Path, base_url: str) -> Path:
    # the upstream token comes from the environment the standin fixture sets
    return write_config(
        tmp_path,
        destinations=f"  mp:\n    type: mixpanel\n    base_url: {base_url}\n",
        forward=f"      - destination: mp\n        token: {{env: {UPSTREAM_ENV}}}\n",
        extra=f"  shutdown_timeout: {SHUTDOWN_TIMEOUT}\n",
    )


def _send(url: str, batches: int, per_batch: int = 25) -> set[str]:
    sent: set[str] = set()
    with httpx.Client(timeout=10) as client:
        for b in range(batches):
            events = [
                {
                    "event": "checkout",
                    "properties": {
                        "token": "demo",
                        "distinct_id": f"user-{i % 5}",
                        "time": 1764230410 + i,
                        "$insert_id": f"stop-{b:03d}-{i:03d}",
                        "plan": "pro",
                        "price": b * 1000 + i,
                    },
                }
                for i in range(per_batch)
            ]
            response = client.post(
                url + "/track?verbose=1", data={"data": json.dumps(events)}
            )
            assert response.json() == {"status": 1, "error": None}
            sent.update(e["properties"]["$insert_id"] for e in events)
    return sent


def _terminate(gw: GatewayProcess) -> tuple[int, float]:
    assert gw.proc is not None
    started = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    code = gw.proc.wait(SHUTDOWN_TIMEOUT * 2 + SLACK + 10)
    return code, time.monotonic() - started


def _assert_clean_exit(code: int, log: Path) -> None:
    # uvicorn re-raises the signal it handled once it has shut down, so the
    # process ends "by SIGTERM" after a complete, orderly shutdown
    assert code in (0, -signal.SIGTERM)
    lines = log_lines(log)
    messages = [line["msg"] for line in lines]
    phases = [
        "shutdown: requests finished, stopping forwarders",
        "shutdown: closing the outbox",
        "shutdown: complete",
    ]
    assert [m for m in messages if m in phases] == phases
    assert not [line for line in lines if line["level"] in ("error", "unparsed")]


def _delivered(standin: MixpanelStandin) -> list[str]:
    return [e["properties"]["$insert_id"] for e in standin.events_for("track")]


def _waiting(tmp_path: Path) -> dict[str, tuple[int, int]]:
    stats = read_stats(tmp_path / "data" / "outbox.db")
    return {s.route: (s.depth, s.dead) for s in stats}


@pytest.fixture
def failing(standin: MixpanelStandin) -> Iterator[MixpanelStandin]:
    standin.fail_next([503] * 100_000)
    yield standin


def test_sigterm_with_the_upstream_down_keeps_events_for_the_next_start(
    tmp_path: Path, failing: MixpanelStandin
) -> None:
    config = _config(tmp_path, failing.base_url)
    log = tmp_path / "first.log"

    with GatewayProcess(config, log) as gw:
        sent = _send(gw.url, batches=4)
        # the forwarder has tried, and been refused
        wait_for(lambda: len(failing.requests) >= 2)
        code, took = _terminate(gw)

    _assert_clean_exit(code, log)
    assert took < SHUTDOWN_TIMEOUT + SLACK
    assert _delivered(failing) == []
    assert _waiting(tmp_path) == {"demo/mp": (len(sent), 0)}

    failing.reset()  # healthy from now on
    log = tmp_path / "second.log"
    with GatewayProcess(config, log) as gw:
        wait_for(lambda: len(failing.records) >= len(sent))
        time.sleep(0.5)  # anything more would be a duplicate
        code, _ = _terminate(gw)

    delivered = _delivered(failing)
    assert sorted(delivered) == sorted(sent)  # each exactly once
    assert failing.violations == []
    assert _waiting(tmp_path) == {}
    _assert_clean_exit(code, log)


def test_sigterm_abandons_a_hung_send_at_the_deadline_and_keeps_its_events(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    log = tmp_path / "first.log"

    with HungUpstream() as hung:
        config = _config(tmp_path, hung.base_url)
        with GatewayProcess(config, log) as gw:
            sent = _send(gw.url, batches=2)
            # a batch is on the wire, waiting for an answer that never comes
            wait_for(lambda: hung.bytes_received > 0)
            code, took = _terminate(gw)

    _assert_clean_exit(code, log)
    # the forwarder waited for the send until the deadline, then gave up
    assert SHUTDOWN_TIMEOUT * 0.9 <= took < SHUTDOWN_TIMEOUT + SLACK
    stopped = [
        line["msg"] for line in log_lines(log) if "forwarder stopped" in line["msg"]
    ]
    assert stopped == ["forwarder stopped routes=1 cancelled=1"]
    assert _waiting(tmp_path) == {"demo/mp": (len(sent), 0)}

    # the same data directory, now forwarding to a healthy upstream
    config = _config(tmp_path, standin.base_url)
    log = tmp_path / "second.log"
    with GatewayProcess(config, log) as gw:
        wait_for(lambda: len(standin.records) >= len(sent))
        time.sleep(0.5)
        code, _ = _terminate(gw)

    _assert_clean_exit(code, log)

    assert sorted(_delivered(standin)) == sorted(sent)
    assert standin.violations == []
    assert _waiting(tmp_path) == {}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_process_group_stops_the_writers_only_when_done(
    tmp_path: Path, signum: int
) -> None:
    # a service manager (systemd's default) or a terminal signals every
    # process of the group: the writer processes must not die before the
    # gateway has finished with them
    config = write_config(tmp_path, extra=f"  shutdown_timeout: {SHUTDOWN_TIMEOUT}\n")
    log = tmp_path / "gateway.log"

    with GatewayProcess(config, log, own_group=True) as gw:
        sent = _send(gw.url, batches=20)
        assert gw.proc is not None
        os.killpg(gw.proc.pid, signum)
        code = gw.proc.wait(SHUTDOWN_TIMEOUT * 2 + SLACK + 10)

    _assert_clean_exit(code, log)
    warnings = [m["msg"] for m in log_lines(log) if m["level"] == "warning"]
    assert not [m for m in warnings if "writer" in m]
    with LocalStore(tmp_path / "data" / "store.db") as store:
        stored = {row["properties"]["$insert_id"] for row in store.query(limit=10**6)}
    assert stored == sent
    assert _waiting(tmp_path) == {}
