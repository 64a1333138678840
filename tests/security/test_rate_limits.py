"""Rate limits per client address and per ingest key: Mixpanel's own 429,
with Retry-After, and recovery once the window has passed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from harness import gateway_thread, write_config

from .conftest import track, wait_for

pytestmark = pytest.mark.slow


def _limited(tmp_path: Path, limits: str) -> Path:
    return write_config(tmp_path, extra=f"  rate_limits: {{{limits}}}\n")


def test_a_client_over_its_limit_gets_mixpanels_429_and_recovers(
    tmp_path: Path,
) -> None:
    # a window of several seconds: a slow first request on a fresh machine
    # must not let the window slide before the refusals below are checked
    with gateway_thread(_limited(tmp_path, "per_client: 4/8 seconds")) as gw:
        replies = []
        for _ in range(20):
            replies.append(track(gw.url, "demo"))
            if replies[-1].status_code == 429:
                break
        statuses = [r.status_code for r in replies]
        assert statuses[:4] == [200] * 4 and statuses[-1] == 429
        refused = replies[-1]
        # Mixpanel's verbose shape, and a Retry-After the SDKs honour
        assert refused.json() == {
            "status": 0,
            "error": "too many requests from this address",
        }
        assert 1 <= int(refused.headers["retry-after"]) <= 9

        plain = httpx.post(gw.url + "/track", data={"data": "e30="})
        assert (plain.status_code, plain.text) == (429, "0")
        imported = httpx.post(gw.url + "/import", content=b"[]")
        assert imported.status_code == 429
        assert imported.json() == {
            "code": 429,
            "error": "too many requests from this address",
            "status": "Too Many Requests",
        }

        # the window passes, and the client is served again
        wait_for(lambda: track(gw.url, "demo").status_code == 200, timeout=20)
        assert gw.gateway.limits.refused >= 3


def _batch(key: str, count: int) -> dict[str, str]:
    records = [
        {"event": "e", "properties": {"token": key, "distinct_id": f"u{i}"}}
        for i in range(count)
    ]
    return {"data": base64.b64encode(json.dumps(records).encode()).decode()}


def test_a_key_over_its_event_limit_gets_429_and_other_keys_do_not(
    tmp_path: Path,
) -> None:
    # several seconds, as above, so that the second batch meets a full window
    with gateway_thread(_limited(tmp_path, "per_key: 10/5 seconds")) as gw:
        url = gw.url + "/track?verbose=1"
        assert httpx.post(url, data=_batch("demo", 8)).status_code == 200
        refused = httpx.post(url, data=_batch("demo", 8))
        assert refused.status_code == 429
        assert refused.json() == {
            "status": 0,
            "error": "too many events for this ingest key",
        }
        assert "retry-after" in refused.headers
        # nothing of the refused batch was stored or counted as accepted
        assert gw.gateway.counters.received == 8
        # another key of the same project has its own budget
        assert httpx.post(url, data=_batch("demo-2", 8)).status_code == 200

        wait_for(
            lambda: httpx.post(url, data=_batch("demo", 8)).status_code == 200,
            timeout=15,
        )


def test_a_rate_that_does_not_parse_is_refused_at_its_line(tmp_path: Path) -> None:
    from redline import config as config_mod
    from redline.errors import ConfigError

    path = _limited(tmp_path, "per_key: lots")
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    assert info.value.line is not None
    line = path.read_text().splitlines()[info.value.line - 1]
    assert "rate_limits" in line and "lots" in line
    assert "100/second" in str(info.value)
