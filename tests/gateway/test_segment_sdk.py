"""The official Segment Python SDK (segment-analytics-python) sends through
the gateway; the stand-in Segment receives only sanitised messages, with the
upstream write key, each once; bad requests get Segment's error shape."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from segment.analytics import Client

from harness import gateway_thread, write_config
from standins.segment import SegmentStandin

from .conftest import wait_for

UPSTREAM_KEY = "seg-write-key-canary-83b1"
KEY_ENV = "REDLINE_TEST_SEGMENT_KEY"
PLANTED = [
    "jane.doe@example.com",
    "jane.doe%40example.com",
    "202-555-0143",
    "reset-tok-9f8e7d6c5b4a",
    "203.0.113.9",
    "Jane Q. Public",
]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[SegmentStandin]:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    with SegmentStandin(write_key=UPSTREAM_KEY) as seg:
        yield seg


def segment_config(tmp: Path, seg: SegmentStandin) -> Path:
    return write_config(
        tmp,
        destinations=f"  seg:\n    type: segment\n    base_url: {seg.base_url}\n",
        forward=f"      - destination: seg\n        token: {{env: {KEY_ENV}}}\n",
    )


@pytest.mark.parametrize("gzip_on", [False, True], ids=["json", "gzip"])
def test_sdk_messages_arrive_sanitised_once(
    tmp: Path, standin: SegmentStandin, gzip_on: bool
) -> None:
    with gateway_thread(segment_config(tmp, standin)) as gw:
        client = Client("demo", host=gw.url, sync_mode=True, gzip=gzip_on)
        page = {
            "url": "https://app.example.com/reset?email=jane.doe%40example.com"
            "&token=reset-tok-9f8e7d6c5b4a&utm_source=newsletter",
            "referrer": "https://mail.example.net/?to=jane.doe@example.com",
        }
        context = {"ip": "203.0.113.9", "page": page, "userAgent": "Mozilla/5.0"}
        client.track(
            "jane.doe@example.com",
            "checkout",
            {"plan": "pro", "billing_phone": "202-555-0143"},
            context=context,
        )
        client.page("user_3f9a2c", "Account", "Reset", {}, context=context)
        client.identify(
            "user_3f9a2c",
            {
                "$email": "jane.doe@example.com",
                "$name": "Jane Q. Public",
                "plan": "pro",
            },
        )
        client.track("user_3f9a2c", "internal_debug_dump", {"dump": "x"})
        wait_for(lambda: len(standin.events) >= 3)
        # sync_mode sends at once (and its shutdown() breaks: no consumers)
        time.sleep(0.5)  # anything more would be a duplicate

    assert standin.violations == []
    messages = standin.events
    assert len(messages) == 3
    assert len({m["messageId"] for m in messages}) == 3
    raw = standin.raw_text()
    for value in PLANTED:
        assert value not in raw, value
    assert "internal_debug_dump" not in raw
    for request in standin.requests:
        assert json.loads(request.content)["writeKey"] == UPSTREAM_KEY

    by_type = {m["type"]: m for m in messages}
    track = by_type["track"]
    assert track["event"] == "checkout"
    assert track["properties"] == {"plan": "pro"}
    # context fields went through the same rules as Mixpanel's names
    assert track["context"]["page"]["url"] == (
        "https://app.example.com/reset?utm_source=newsletter"
    )
    assert track["context"]["page"]["referrer"] == "https://mail.example.net/"
    assert track["context"]["ip"] == "203.0.113.0"
    assert "userAgent" not in track["context"]  # the policy does not name it
    assert track["userId"].startswith("local:")
    page_view = by_type["page"]
    assert page_view["name"] == "Reset" and page_view["category"] == "Account"
    identify = by_type["identify"]
    assert identify["traits"]["$email"].startswith("local:")
    assert identify["traits"]["plan"] == "pro"
    assert "$name" not in identify["traits"]
    assert identify["userId"] == page_view["userId"]


def test_bad_requests_get_segment_answers(tmp: Path, standin: SegmentStandin) -> None:
    def auth(key: str) -> dict[str, str]:
        token = base64.b64encode(f"{key}:".encode()).decode()
        return {"authorization": f"Basic {token}", "content-type": "text/plain"}

    good = {"type": "track", "event": "signup", "userId": "u-1", "messageId": "m-1"}
    with gateway_thread(segment_config(tmp, standin)) as gw:
        ok = httpx.post(
            f"{gw.url}/v1/t", content=json.dumps(good), headers=auth("demo")
        )
        assert (ok.status_code, ok.json()) == (200, {"success": True})
        unknown = httpx.post(f"{gw.url}/v1/track", json=good, headers=auth("nope"))
        assert unknown.status_code == 401
        assert unknown.json()["code"] == "invalid_write_key"
        broken = httpx.post(f"{gw.url}/v1/batch", content=b"{x", headers=auth("demo"))
        assert broken.status_code == 400
        assert broken.json() == {
            "success": False,
            "code": "invalid_request",
            "message": "body is not valid JSON",
        }
        wait_for(lambda: len(standin.events) >= 1)
    assert standin.violations == []
    assert standin.events[0]["messageId"] == "m-1"


SCREEN_GROUP_ALIAS_POLICY = """\
version: 1
defaults:
  unknown_events: drop
  unknown_properties: drop
  client_ip: truncate
all_events:
  properties:
    distinct_id: hash
    $user_id: hash
    $device_id: hash
events:
  $screen:
    properties:
      tab: keep
  $create_alias:
    properties:
      alias: hash
groups:
  properties:
    $user_id: hash
    plan: keep
"""


def test_screen_group_and_alias_calls_arrive_sanitised_once(
    tmp: Path, standin: SegmentStandin
) -> None:
    policy = tmp / "policy.yaml"
    policy.write_text(SCREEN_GROUP_ALIAS_POLICY)
    config = write_config(
        tmp,
        destinations=f"  seg:\n    type: segment\n    base_url: {standin.base_url}\n",
        forward=f"      - destination: seg\n        token: {{env: {KEY_ENV}}}\n",
        policy=policy,
    )
    with gateway_thread(config) as gw:
        client = Client("demo", host=gw.url, sync_mode=True)
        client.screen(
            "jane.doe@example.com",
            "Settings",
            "Billing",
            {"tab": "cards", "card_holder": "Jane Q. Public"},
        )
        client.group(
            "jane.doe@example.com",
            "org_77",
            {"plan": "pro", "owner_phone": "202-555-0143"},
        )
        client.alias("anon-5c1e", "jane.doe@example.com")
        wait_for(lambda: len(standin.events) >= 3)
        time.sleep(0.5)  # anything more would be a duplicate

    assert standin.violations == []
    messages = standin.events
    assert sorted(m["type"] for m in messages) == ["alias", "group", "screen"]
    assert len({m["messageId"] for m in messages}) == 3
    raw = standin.raw_text()
    for value in PLANTED:
        assert value not in raw, value
    by_type = {m["type"]: m for m in messages}
    screen = by_type["screen"]
    assert (screen["name"], screen["category"]) == ("Billing", "Settings")
    assert screen["properties"] == {"tab": "cards"}
    assert screen["userId"].startswith("local:")
    group = by_type["group"]
    # the group id is the group's distinct id: `distinct_id: hash` of
    # all_events holds for it too, as for Mixpanel's $group_id
    assert group["groupId"].startswith("local:") and "org_77" not in raw
    assert group["traits"] == {"plan": "pro"}
    assert group["userId"] == screen["userId"]
    alias = by_type["alias"]
    assert alias["previousId"].startswith("local:")
    assert alias["userId"] == screen["userId"]
