"""The outbox writer process on its own: what it writes to the standard
error it shares with the gateway."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from redline import _child

CANARY = "canary-8f3e-not-for-logs"


def test_a_writer_that_fails_logs_one_json_line_without_the_message(
    tmp_path: Path,
) -> None:
    env = {**_child.environment(), "REDLINE_CHILD_LOG": "info:json"}
    child = subprocess.run(
        _child.command("redline.outbox._writer", str(tmp_path / "o.db"), "power"),
        # a call it cannot make: its error quotes what it was sent
        input=_child.frame((CANARY, None, 0.0)),
        capture_output=True,
        env=env,
        timeout=30,
    )

    assert child.returncode != 0
    stderr = child.stderr.decode()
    assert CANARY not in stderr
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert [(line["level"], line["exc"]) for line in lines] == [
        ("critical", "ValueError")
    ]
    assert "_writer" in lines[0]["msg"]
