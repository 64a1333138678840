from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson


def track_body(key: str, name: str = "signup", **props: Any) -> dict[str, str]:
    """A /track form body as mixpanel-browser sends it (base64 data=)."""
    record = {"event": name, "properties": {"token": key, "distinct_id": "u1", **props}}
    data = base64.b64encode(json.dumps([record]).encode()).decode()
    return {"data": data}


def track(
    url: str, key: str, *, origin: str | None = None, verbose: bool = True
) -> httpx.Response:
    headers = {"origin": origin} if origin else {}
    return httpx.post(
        f"{url}/track" + ("?verbose=1" if verbose else ""),
        data=track_body(key),
        headers=headers,
        timeout=10,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def audit_records(data_dir: Path) -> list[dict[str, Any]]:
    """Every record of the data directory's audit log, in order."""
    out = []
    paths = [*data_dir.glob("audit-*.jsonl"), *data_dir.glob("audit/audit-*.jsonl")]
    for path in sorted(paths, key=lambda p: p.name):
        for line in path.read_bytes().splitlines():
            if line.strip():
                out.append(orjson.loads(line))
    return out
