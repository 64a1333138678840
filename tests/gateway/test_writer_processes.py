"""The gateway's writer processes under a real `redline serve`: what they
say reaches the gateway's log in its format, and a child that fails says
so without quoting anything."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness import GatewayProcess, write_config

from .conftest import log_lines
from .ops_helpers import checkout, track

pytestmark = pytest.mark.slow


def test_outbox_writer_that_cannot_write_logs_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    with GatewayProcess(write_config(tmp_path), log) as gw:
        assert track(gw.url, checkout(5, "first")).status_code == 200
        # another process holds the outbox's write lock past the writer's
        # busy timeout (as a stuck `redline outbox replay` would)
        other = sqlite3.connect(tmp_path / "data" / "outbox.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert track(gw.url, checkout(5, "refused")).status_code >= 500
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert track(gw.url, checkout(5, "after")).status_code == 200

    lines = log_lines(log)
    assert [line for line in lines if line["level"] == "unparsed"] == []
    failed = [
        line
        for line in lines
        if line["logger"] == "redline.outbox" and "transaction failed" in line["msg"]
    ]
    assert failed
    assert all(line["level"] == "error" for line in failed)
