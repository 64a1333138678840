"""The official PostHog Python SDK sends through the gateway; the stand-in
PostHog receives only sanitised events, with the upstream API key, each
once; bad requests are answered in PostHog's own error shape."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from posthog import Posthog

from harness import gateway_thread, write_config
from standins.posthog import PostHogStandin

from .conftest import wait_for

UPSTREAM_KEY = "phc_upstream-canary-71c2d0"
KEY_ENV = "REDLINE_TEST_PH_KEY"
PLANTED = [
    "jane.doe@example.com",
    "jane.doe%40example.com",
    "202-555-0143",
    "4111 1111 1111 1111",
    "reset-tok-9f8e7d6c5b4a",
    "Jane Q. Public",
]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[PostHogStandin]:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    with PostHogStandin(api_key=UPSTREAM_KEY) as ph:
        yield ph


def posthog_config(tmp: Path, ph: PostHogStandin) -> Path:
    return write_config(
        tmp,
        destinations=f"  ph:\n    type: posthog\n    base_url: {ph.base_url}\n",
        forward=f"      - destination: ph\n        token: {{env: {KEY_ENV}}}\n",
    )


def send(client: Posthog) -> int:
    client.capture(
        distinct_id="jane.doe@example.com",
        event="$pageview",
        properties={
            "$current_url": "https://app.example.com/reset?email=jane.doe%40example.com"
            "&token=reset-tok-9f8e7d6c5b4a&utm_source=newsletter",
            "title": "Reset your password",
        },
    )
    client.capture(
        distinct_id="user_3f9a2c",
        event="checkout",
        properties={
            "plan": "pro",
            "billing_phone": "202-555-0143",
            "x": "4111 1111 1111 1111",
        },
    )
    client.capture(
        distinct_id="user_3f9a2c",
        event="error",
        properties={"message": "card 4111 1111 1111 1111 declined", "release": "1.2"},
    )
    client.set(
        distinct_id="user_3f9a2c",
        properties={
            "$email": "jane.doe@example.com",
            "$name": "Jane Q. Public",
            "plan": "pro",
        },
    )
    client.capture(
        distinct_id="user_3f9a2c", event="internal_debug_dump", properties={}
    )
    return 4  # internal_debug_dump is not in the policy


@pytest.mark.parametrize("gzip_on", [False, True], ids=["json", "gzip"])
def test_sdk_events_arrive_sanitised_once(
    tmp: Path, standin: PostHogStandin, gzip_on: bool
) -> None:
    with gateway_thread(posthog_config(tmp, standin)) as gw:
        client = Posthog("demo", host=gw.url, sync_mode=True, gzip=gzip_on)
        expected = send(client)
        wait_for(lambda: len(standin.events) >= expected)
        client.shutdown()
        time.sleep(0.5)  # anything more would be a duplicate

    assert standin.violations == []
    events = standin.events
    assert len(events) == expected
    assert len({e["uuid"] for e in events}) == expected
    raw = standin.raw_text()
    for value in PLANTED:
        assert value not in raw, value
    assert "internal_debug_dump" not in raw
    assert all(
        r.headers.get("content-type") == "application/json" for r in standin.requests
    )
    assert all(
        json.loads(r.content)["api_key"] == UPSTREAM_KEY for r in standin.requests
    )

    by_name = {e["event"]: e for e in events}
    page = by_name["$pageview"]
    assert page["properties"]["$current_url"] == (
        "https://app.example.com/reset?utm_source=newsletter"
    )
    assert page["distinct_id"].startswith("local:")
    assert "billing_phone" not in by_name["checkout"]["properties"]
    assert by_name["checkout"]["properties"]["plan"] == "pro"
    assert by_name["error"]["properties"]["message"] == "card [CREDIT_CARD] declined"
    person = by_name["$set"]
    assert person["$set"]["$email"].startswith("local:")
    assert person["$set"]["plan"] == "pro"
    assert "$name" not in person["$set"]
    # the same user maps to the same digest in events and person updates
    assert person["distinct_id"] == by_name["checkout"]["distinct_id"]
    # posthog-python asks for no geolocation ($geoip_disable): the request
    # address (a server's) is not added
    assert "$ip" not in by_name["checkout"]["properties"]


def test_posthog_js_shapes_and_bad_input_get_posthog_answers(
    tmp: Path, standin: PostHogStandin
) -> None:
    event = {
        "uuid": "019a1b2c-3d4e-7f00-8000-0000000000aa",
        "event": "signup",
        "properties": {"token": "demo", "distinct_id": "anon-1", "company_size": "10"},
        "timestamp": "2026-12-03T10:00:00.000Z",
    }
    with gateway_thread(posthog_config(tmp, standin)) as gw:
        gz = gzip.compress(json.dumps({"api_key": "demo", "batch": [event]}).encode())
        ok = httpx.post(
            f"{gw.url}/e/", content=gz, headers={"content-type": "text/plain"}
        )
        assert (ok.status_code, ok.json()) == (200, {"status": 1})

        bad = httpx.post(
            f"{gw.url}/i/v0/e/",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 400
        assert bad.json()["type"] == "validation_error"
        assert "nope" not in bad.text

        wrong = {**event, "properties": {**event["properties"], "token": "not-a-key"}}
        unknown = httpx.post(f"{gw.url}/batch/", json=[wrong])
        assert unknown.status_code == 401
        assert unknown.json()["code"] == "invalid_api_key"

        config = httpx.get(f"{gw.url}/array/demo/config")
        assert "gzip-js" in config.json()["supportedCompression"]
        flags = httpx.post(f"{gw.url}/flags/?v=2", json={"token": "demo"})
        assert flags.status_code == 200

        wait_for(lambda: len(standin.events) >= 1)

    assert standin.violations == []
    (sent,) = standin.events
    assert sent["uuid"] == event["uuid"]
    assert sent["properties"]["company_size"] == "10"
    assert sent["properties"]["token"] == UPSTREAM_KEY
    # posthog-js keeps the distinct id in properties: it goes back there
    assert sent["properties"]["distinct_id"].startswith("local:")
    assert "distinct_id" not in sent
    # a browser's request address, truncated, is the event's $ip
    assert sent["properties"]["$ip"] == "127.0.0.0"
