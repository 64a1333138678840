"""Each vendor destination through an upstream outage: retried statuses
(5xx, 429 with Retry-After, 408), a 413 that splits the batch, then
recovery; every event arrives exactly once, with its idempotency id and its
original time, and a refusal for good becomes a dead letter."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import gateway_thread, write_config
from standins._vendor import VendorStandin
from standins.amplitude import AmplitudeStandin
from standins.posthog import PostHogStandin
from standins.segment import SegmentStandin

from .conftest import wait_for

KEY = "upstream-key-delivery-0001"
ENV = "REDLINE_TEST_VENDOR_KEY"
EVENTS = 6
TIME = "2026-12-03T10:00:00.000Z"


def _posthog(url: str, n: int) -> None:
    event = {
        "event": "signup",
        "distinct_id": f"user-{n}",
        "uuid": f"0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e{n:02d}",
        "timestamp": TIME,
        "properties": {"company_size": str(n)},
    }
    response = httpx.post(f"{url}/batch/", json={"api_key": "demo", "batch": [event]})
    assert response.status_code == 200


def _segment(url: str, n: int) -> None:
    message = {
        "type": "track",
        "event": "signup",
        "userId": f"user-{n}",
        "messageId": f"msg-{n}",
        "timestamp": TIME,
        "properties": {"company_size": str(n)},
    }
    response = httpx.post(
        f"{url}/v1/batch", json={"batch": [message], "writeKey": "demo"}
    )
    assert response.status_code == 200


def _amplitude(url: str, n: int) -> None:
    event = {
        "event_type": "signup",
        "user_id": f"user-{n:05d}",
        "insert_id": f"ins-{n}",
        "time": 1764756000000,
        "event_properties": {"company_size": str(n)},
    }
    response = httpx.post(
        f"{url}/2/httpapi", json={"api_key": "demo", "events": [event]}
    )
    assert response.json()["code"] == 200


CASES: dict[str, tuple[type[VendorStandin], Callable[[str, int], None], str, str]] = {
    "posthog": (PostHogStandin, _posthog, "uuid", "timestamp"),
    "segment": (SegmentStandin, _segment, "messageId", "timestamp"),
    "amplitude": (AmplitudeStandin, _amplitude, "insert_id", "time"),
}


@pytest.mark.parametrize("vendor", sorted(CASES))
def test_outage_then_recovery_delivers_each_event_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor: str
) -> None:
    standin_type, send, id_field, time_field = CASES[vendor]
    monkeypatch.setenv(ENV, KEY)
    kwargs: dict[str, Any] = {
        "posthog": {"api_key": KEY},
        "segment": {"write_key": KEY},
        "amplitude": {"api_key": KEY},
    }[vendor]
    with standin_type(**kwargs) as upstream:
        upstream.fail_next([503, (429, {"Retry-After": "1"}), 408, 413, 500])
        config = write_config(
            tmp_path,
            destinations=(
                f"  up:\n    type: {vendor}\n    base_url: {upstream.base_url}\n"
                "    max_batch: 10\n"
            ),
            forward=f"      - destination: up\n        token: {{env: {ENV}}}\n",
        )
        with gateway_thread(config) as gw:
            for n in range(EVENTS):
                send(gw.url, n)
            wait_for(lambda: len(upstream.events) >= EVENTS, 30)
            time.sleep(0.5)

        assert upstream.violations == []
        events = upstream.events
        ids = [event[id_field] for event in events]
        assert len(ids) == len(set(ids)) == EVENTS
        times = {json.dumps(event[time_field]) for event in events}
        assert times == {
            json.dumps(TIME if time_field == "timestamp" else 1764756000000)
        }
        statuses = [request.status for request in upstream.requests]
        assert statuses[:5] == [503, 429, 408, 413, 500]


@pytest.mark.parametrize("vendor", sorted(CASES))
def test_a_refusal_for_good_is_a_dead_letter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor: str
) -> None:
    from redline.outbox.sqlite import read_stats

    standin_type, send, _, _ = CASES[vendor]
    monkeypatch.setenv(ENV, "a-wrong-key")
    with standin_type() as upstream:
        config = write_config(
            tmp_path,
            destinations=(
                f"  up:\n    type: {vendor}\n    base_url: {upstream.base_url}\n"
            ),
            forward=f"      - destination: up\n        token: {{env: {ENV}}}\n",
        )
        path = tmp_path / "data" / "outbox.db"

        def dead() -> int:
            return sum(row.dead for row in read_stats(path)) if path.exists() else 0

        with gateway_thread(config) as gw:
            send(gw.url, 1)
            wait_for(lambda: dead() >= 1, 20)
        assert upstream.events == []
        assert dead() == 1


def test_vendor_requests_are_labelled_by_vendor_in_metrics(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        _posthog(gw.url, 1)
        _segment(gw.url, 2)
        _amplitude(gw.url, 3)
        metrics = httpx.get(f"{gw.url}/metrics").text
    for vendor, route in (
        ("posthog/amplitude", "batch"),
        ("segment", "batch"),
        ("amplitude", "httpapi"),
    ):
        labels = f'route="{route}",status="200",vendor="{vendor}"'
        line = f"redline_http_requests_total{{{labels}}}"
        assert line in metrics, line


def test_an_internal_failure_is_a_retryable_answer_in_the_vendor_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(entries: object) -> None:
        raise OSError("disk gone")

    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        monkeypatch.setattr(gw.gateway.outbox, "append", broken)
        message = {"type": "track", "event": "signup", "userId": "u", "messageId": "m"}
        segment = httpx.post(f"{gw.url}/v1/track", json={**message, "writeKey": "demo"})
        amp = httpx.post(
            f"{gw.url}/2/httpapi",
            json={
                "api_key": "demo",
                "events": [{"event_type": "signup", "user_id": "u-001"}],
            },
        )
    assert segment.status_code == 500
    assert segment.json()["success"] is False
    assert "disk" not in segment.text
    assert (amp.status_code, amp.json()["code"]) == (500, 500)
