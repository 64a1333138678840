"""/readyz fails and recovers for each of its conditions; /healthz stays up."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from harness import GatewayProcess, GatewayThread, gateway_thread, write_config
from redline.outbox import sqlite as sqlite_outbox
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import checkout, scrape, track, value

pytestmark = pytest.mark.slow


def _ready(gw: GatewayThread) -> tuple[int, dict[str, Any]]:
    response = httpx.get(gw.url + "/readyz", timeout=10)
    return response.status_code, response.json()


def _failing(body: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["reason"] for c in body["checks"] if not c["ok"]}


def _live(gw: GatewayThread) -> bool:
    return httpx.get(gw.url + "/healthz", timeout=5).status_code == 200


class _DiskErrors(sqlite3.Connection):
    """The outbox writer's connection; commits fail while ``broken``.

    The failure is raised in Python at every COMMIT, even one SQLite would
    commit without writing; a file that really refuses writes is tested
    with RLIMIT_FSIZE below."""

    broken = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and _DiskErrors.broken:
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)


@pytest.fixture
def disk_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_DiskErrors]]:
    def connect(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, factory=_DiskErrors)

    monkeypatch.setattr(sqlite_outbox, "_connect", connect)
    _DiskErrors.broken = False
    yield _DiskErrors
    _DiskErrors.broken = False


def _thread_writer(config: Path) -> Path:
    """The config with the outbox writer in a thread: the faults these
    tests plant are in the thread's connection."""
    text = config.read_text().replace("outbox:\n", "outbox:\n  writer: thread\n", 1)
    config.write_text(text)
    return config


def _outbox_writer_pid(gw: GatewayProcess, writer: str) -> int:
    """The process that owns the outbox's writing connection."""
    assert gw.proc is not None
    if writer == "thread":
        return gw.proc.pid
    for task in Path(f"/proc/{gw.proc.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"redline.outbox._writer" in cmdline:
                return int(child)
    raise AssertionError("no outbox writer process")


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_outbox_file_that_refuses_writes_fails_readiness_until_it_takes_them(
    tmp_path: Path, writer: str
) -> None:
    # the kernel refuses every write past the file's first byte to the
    # process that owns the writing connection (RLIMIT_FSIZE: EFBIG, as a
    # full disk refuses with ENOSPC); Python ignores SIGXFSZ. Nothing is
    # faked in SQLite or in Redline: reads, locks and a commit that
    # changes nothing still work, as they do on a full disk
    config = write_config(tmp_path)
    if writer == "thread":
        config = _thread_writer(config)
    # the log goes to /dev/null: a regular file would refuse the gateway's
    # own log lines too while the limit holds (thread writer)
    with GatewayProcess(config, Path(os.devnull)) as gw:
        assert _ready(gw)[0] == 200
        assert track(gw.url, checkout(2, "before")).status_code == 200
        pid = _outbox_writer_pid(gw, writer)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            # an append cannot commit: the client is refused
            assert track(gw.url, checkout(2, "refused")).status_code == 503
            # and /readyz says so within its cache interval, without a request
            wait_for(lambda: _ready(gw)[0] == 503, 5)
            status, body = _ready(gw)
            assert status == 503
            assert _failing(body) == {"outbox": "cannot write (OutboxUnavailable)"}
            assert _live(gw)
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        wait_for(lambda: _ready(gw)[0] == 200, 5)
        assert track(gw.url, checkout(2, "after")).status_code == 200


def test_ready_when_all_is_well(tmp_path: Path) -> None:
    with gateway_thread(write_config(tmp_path)) as gw:
        status, body = _ready(gw)
        assert _live(gw)
    assert status == 200
    assert body["status"] == "ready"
    assert {c["name"] for c in body["checks"]} == {"outbox", "policy", "backlog"}


def test_outbox_that_cannot_commit_fails_readiness_until_it_can(
    tmp_path: Path, disk_errors: type[_DiskErrors]
) -> None:
    with gateway_thread(_thread_writer(write_config(tmp_path))) as gw:
        assert _ready(gw)[0] == 200
        disk_errors.broken = True
        wait_for(lambda: _ready(gw)[0] == 503, 10)
        reason = _failing(_ready(gw)[1])["outbox"]
        assert "OutboxUnavailable" in reason
        assert _live(gw)
        assert value(scrape(gw.url), "redline_ready") == 0
        disk_errors.broken = False
        wait_for(lambda: _ready(gw)[0] == 200, 10)
        assert value(scrape(gw.url), "redline_ready") == 1
        # and it takes events again
        assert track(gw.url, checkout(2)).status_code == 200


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dead_outbox_writer_fails_readiness_and_a_restart_recovers(
    tmp_path: Path,
) -> None:
    # the forwarder's leases hang with the writer gone: stop waiting soon
    config = _thread_writer(write_config(tmp_path, extra="  shutdown_timeout: 1\n"))
    with gateway_thread(config) as gw:
        assert _ready(gw)[0] == 200
        outbox = gw.gateway.outbox
        assert isinstance(outbox, sqlite_outbox.SqliteOutbox)
        # something the writer thread cannot handle: it dies
        outbox._queue.put(object())
        wait_for(lambda: _ready(gw)[0] == 503, 15)
        assert _failing(_ready(gw)[1]) == {"outbox": "the outbox writer did not answer"}
        assert _live(gw)
    with gateway_thread(config) as gw:
        assert _ready(gw)[0] == 200


def test_dead_outbox_writer_process_fails_readiness_and_a_restart_recovers(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, extra="  shutdown_timeout: 1\n")
    with gateway_thread(config) as gw:
        assert _ready(gw)[0] == 200
        outbox = gw.gateway.outbox
        assert isinstance(outbox, sqlite_outbox.SqliteOutbox)
        assert outbox._remote is not None
        os.kill(outbox._remote.pid, signal.SIGKILL)
        wait_for(lambda: _ready(gw)[0] == 503, 15)
        assert "OutboxUnavailable" in _failing(_ready(gw)[1])["outbox"]
        assert _live(gw)
        # a request is refused, not acknowledged, in the vendor's own shape
        # and with a time to come back: the SDK keeps its events
        refused = track(gw.url, checkout(1))
        assert refused.status_code == 503
        assert refused.json() == {
            "status": 0,
            "error": "storage unavailable, retry later",
        }
        assert refused.headers["retry-after"] == "5"
        batch = httpx.post(
            gw.url + "/batch/",
            json={
                "api_key": "demo",
                "batch": [
                    {"event": "checkout", "distinct_id": "u", "uuid": str(uuid4())}
                ],
            },
        )
        assert batch.status_code == 503 and "retry-after" in batch.headers
    with gateway_thread(config) as gw:
        assert _ready(gw)[0] == 200
        assert track(gw.url, checkout(2)).status_code == 200


def test_no_valid_policy_fails_readiness_until_one_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gateway_thread(write_config(tmp_path)) as gw:
        engine = gw.gateway.engine
        policy = engine.policy
        monkeypatch.setattr(engine, "policy", None)
        wait_for(lambda: _ready(gw)[0] == 503, 10)
        assert _failing(_ready(gw)[1]) == {"policy": "no valid policy loaded"}
        monkeypatch.setattr(engine, "policy", policy)
        wait_for(lambda: _ready(gw)[0] == 200, 10)


def test_outbox_past_its_high_water_mark_fails_readiness_until_it_drains(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"],
        forward=fragments["forward"],
    )
    text = config.read_text().replace(
        "outbox:\n", "outbox:\n  max_events: 1000\n  high_water: 20\n"
    )
    config.write_text(text)
    # the destination is down: events pile up
    standin.fail_next([503] * 10_000)
    with gateway_thread(config) as gw:
        assert track(gw.url, checkout(15, "a")).status_code == 200
        assert _ready(gw)[0] == 200
        assert track(gw.url, checkout(10, "b")).status_code == 200
        wait_for(lambda: _ready(gw)[0] == 503, 10)
        assert _failing(_ready(gw)[1]) == {
            "backlog": "25 events waiting, high-water mark 20"
        }
        # still taking events below the hard limit
        assert track(gw.url, checkout(5, "c")).status_code == 200
        standin.reset()  # the destination is back
        wait_for(lambda: _ready(gw)[0] == 200, 20)
        assert value(scrape(gw.url), "redline_outbox_depth") == 0
    assert len(standin.events) == 30
