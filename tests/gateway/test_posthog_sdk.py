"""The official PostHog Python SDK sends through the gateway, by its default
v0 protocol (``/batch/``) and by capture v1 (``/i/v1/analytics/events``,
``capture_mode='v1'``, with each compression it offers); the stand-in
PostHog receives only sanitised events, with the upstream API key, each
once; bad requests are answered in PostHog's own error shapes."""

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

from .conftest import posthog_v1_headers, wait_for
from .ops_helpers import scrape, value

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

    assert_sanitised_once(standin, expected)


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate", "zstd"])
def test_sdk_capture_v1_events_arrive_sanitised_once(
    tmp: Path, standin: PostHogStandin, compression: str
) -> None:
    errors: list[str] = []
    with gateway_thread(posthog_config(tmp, standin)) as gw:
        client = Posthog(
            "demo",
            host=gw.url,
            capture_mode="v1",
            capture_compression=compression,
            flush_at=50,
            # the SDK's on_error(exc, batch): what it was told went wrong
            on_error=lambda exc, batch: errors.append(type(exc).__name__),
        )
        expected = send(client)
        client.flush()
        wait_for(lambda: len(standin.events) >= expected)
        client.shutdown()
        time.sleep(0.5)  # anything more would be a duplicate
        samples = scrape(gw.url)

    # the SDK spoke v1, and the records count as PostHog's
    v1_requests = value(
        samples,
        "redline_http_requests_total",
        vendor="posthog",
        route="analytics_v1",
        status="200",
    )
    assert v1_requests >= 1
    assert value(samples, "redline_events_received_total", vendor="posthog") == (
        expected + 1  # internal_debug_dump, received and left out
    )
    # the gateway answered in v1's per-uuid form, all "ok": the SDK reported
    # no error and sent nothing again
    assert errors == []
    assert_sanitised_once(standin, expected)
    # the PostHog destination speaks v0; v1's fields arrive where v0 has them
    (checkout,) = [e for e in standin.events if e["event"] == "checkout"]
    assert checkout["properties"]["$lib"] == "posthog-python"
    assert "options" not in checkout


def assert_sanitised_once(standin: PostHogStandin, expected: int) -> None:
    assert standin.violations == []
    events = standin.events
    assert len(events) == expected
    assert len({e["uuid"] for e in events}) == expected
    raw = standin.raw_text()
    for planted in PLANTED:
        assert planted not in raw, planted
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
    # v0 sends $set at the top level, v1 in properties: each goes on where
    # it came (PostHog reads both)
    person_set = person.get("$set") or person["properties"]["$set"]
    assert person_set["$email"].startswith("local:")
    assert person_set["plan"] == "pro"
    assert "$name" not in person_set
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


def test_capture_v1_answers_each_record_by_uuid_and_refuses_bad_requests(
    tmp: Path, standin: PostHogStandin
) -> None:
    good = {
        "event": "signup",
        "uuid": "019a1b2c-3d4e-7f00-8000-0000000000b1",
        "distinct_id": "anon-1",
        "timestamp": "2026-12-03T10:00:00+00:00",
        "options": {},
        "properties": {"company_size": "10"},
    }
    bad = {**good, "uuid": "019a1b2c-3d4e-7f00-8000-0000000000b2", "event": ""}
    body = {"created_at": "2026-12-03T10:00:01+00:00", "batch": [good, bad]}
    url_path = "/i/v1/analytics/events"
    with gateway_thread(posthog_config(tmp, standin)) as gw:
        url = gw.url + url_path
        answer = httpx.post(url, json=body, headers=posthog_v1_headers())
        assert answer.status_code == 200
        assert answer.json()["results"][good["uuid"]] == {"result": "ok"}
        assert answer.json()["results"][bad["uuid"]]["result"] == "drop"

        unknown = httpx.post(url, json=body, headers=posthog_v1_headers("not-a-key"))
        assert unknown.status_code == 401
        assert unknown.json()["error"] == "invalid_api_token"
        unreadable = httpx.post(url, content=b"{nope", headers=posthog_v1_headers())
        assert unreadable.status_code == 400
        assert set(unreadable.json()) == {"error", "error_description", "error_uri"}
        assert "nope" not in unreadable.text

        wait_for(lambda: len(standin.events) >= 1)
        time.sleep(0.3)

    assert standin.violations == []
    (sent,) = standin.events
    assert sent["uuid"] == good["uuid"]
    assert sent["properties"]["company_size"] == "10"
    assert sent["distinct_id"].startswith("local:")
