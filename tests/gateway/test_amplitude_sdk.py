"""The official Amplitude Python SDK (amplitude-analytics) sends through
the gateway; the stand-in Amplitude receives only sanitised events, with the
upstream API key, each once; bad uploads get Amplitude's answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify

from harness import gateway_thread, write_config
from standins.amplitude import AmplitudeStandin

from .conftest import wait_for

UPSTREAM_KEY = "amp-key-canary-5d93e1"
KEY_ENV = "REDLINE_TEST_AMP_KEY"
PLANTED = [
    "jane.doe@example.com",
    "202-555-0143",
    "reset-tok-9f8e7d6c5b4a",
    "198.51.100.77",
    "Jane Q. Public",
]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[AmplitudeStandin]:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    with AmplitudeStandin(api_key=UPSTREAM_KEY) as amp:
        yield amp


def amplitude_config(tmp: Path, amp: AmplitudeStandin) -> Path:
    return write_config(
        tmp,
        destinations=f"  amp:\n    type: amplitude\n    base_url: {amp.base_url}\n",
        forward=f"      - destination: amp\n        token: {{env: {KEY_ENV}}}\n",
    )


def test_sdk_events_arrive_sanitised_once(tmp: Path, standin: AmplitudeStandin) -> None:
    outcomes: list[int] = []
    with gateway_thread(amplitude_config(tmp, standin)) as gw:
        config = Config(
            server_url=f"{gw.url}/2/httpapi",
            flush_queue_size=2,
            callback=lambda event, code, message=None: outcomes.append(code),
        )
        client = Amplitude("demo", config)
        client.track(
            BaseEvent(
                event_type="checkout",
                user_id="jane.doe@example.com",
                ip="198.51.100.77",
                event_properties={"plan": "pro", "billing_phone": "202-555-0143"},
            )
        )
        client.track(
            BaseEvent(
                event_type="$mp_web_page_view",
                device_id="device-0001",
                event_properties={
                    "[Amplitude] Page URL": "https://app.example.com/reset"
                    "?token=reset-tok-9f8e7d6c5b4a&utm_source=newsletter"
                },
            )
        )
        identify = Identify()
        identify.set("$email", "jane.doe@example.com")
        identify.set("$name", "Jane Q. Public")
        identify.set("plan", "pro")
        client.identify(identify, EventOptions(user_id="jane.doe@example.com"))
        client.track(BaseEvent(event_type="internal_debug_dump", user_id="user-3"))
        client.shutdown()
        wait_for(lambda: len(standin.events) >= 3)
        time.sleep(0.5)

    assert outcomes and set(outcomes) == {200}
    assert standin.violations == []
    events = standin.events
    raw = standin.raw_text()
    for value in PLANTED:
        assert value not in raw, value
    assert "internal_debug_dump" not in raw
    for request in standin.requests:
        assert json.loads(request.content)["api_key"] == UPSTREAM_KEY
    # identify is a profile update: the profile rules apply
    names = sorted(e["event_type"] for e in events)
    assert names == ["$identify", "$mp_web_page_view", "checkout"]
    assert len({e["insert_id"] for e in events}) == len(events)
    by_name = {e["event_type"]: e for e in events}
    person = by_name["$identify"]["user_properties"]["$set"]
    assert person["$email"].startswith("local:")
    assert person["plan"] == "pro"
    assert "$name" not in person
    assert by_name["$identify"]["user_id"] == by_name["checkout"]["user_id"]
    checkout = by_name["checkout"]
    assert checkout["event_properties"] == {"plan": "pro"}
    assert checkout["user_id"].startswith("local:")
    assert checkout["ip"] == "198.51.100.0"
    page = by_name["$mp_web_page_view"]
    assert page["event_properties"]["[Amplitude] Page URL"] == (
        "https://app.example.com/reset?utm_source=newsletter"
    )


def test_bad_uploads_get_amplitude_answers(
    tmp: Path, standin: AmplitudeStandin
) -> None:
    good = {"event_type": "signup", "user_id": "user-0001", "insert_id": "i-1"}
    with gateway_thread(amplitude_config(tmp, standin)) as gw:
        url = f"{gw.url}/2/httpapi"
        ok = httpx.post(url, json={"api_key": "demo", "events": [good]})
        assert ok.status_code == 200 and ok.json()["code"] == 200
        mixed = httpx.post(
            f"{gw.url}/batch", json={"api_key": "demo", "events": [good, {"x": 1}]}
        )
        assert mixed.status_code == 400
        assert mixed.json()["events_with_missing_fields"] == {"event_type": [1]}
        unknown = httpx.post(url, json={"api_key": "nope", "events": [good]})
        assert unknown.json()["error"].startswith("Invalid API key:")
        broken = httpx.post(
            url, content=b"{", headers={"content-type": "application/json"}
        )
        assert broken.json() == {"code": 400, "error": "body is not valid JSON"}
        wait_for(lambda: len(standin.events) >= 1)
        time.sleep(0.3)
    assert standin.violations == []
    # the good event of the mixed upload was accepted too; same insert id
    assert [e["insert_id"] for e in standin.events] in (["i-1"], ["i-1", "i-1"])


REVENUE_POLICY = """\
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
  revenue_amount:
    properties:
      $price: keep
      $quantity: keep
      $productId: keep
      $revenue: keep
      buyer_email: drop
profiles:
  properties:
    org: hash
groups:
  properties:
    $user_id: hash
    plan: keep
"""


def test_batch_api_revenue_and_groups_arrive_sanitised_once(
    tmp: Path, standin: AmplitudeStandin
) -> None:
    from amplitude import Revenue

    policy = tmp / "policy.yaml"
    policy.write_text(REVENUE_POLICY)
    config = write_config(
        tmp,
        destinations=f"  amp:\n    type: amplitude\n    base_url: {standin.base_url}\n",
        forward=f"      - destination: amp\n        token: {{env: {KEY_ENV}}}\n",
        policy=policy,
    )
    outcomes: list[int] = []
    with gateway_thread(config) as gw:
        client = Amplitude(
            "demo",
            Config(
                server_url=f"{gw.url}/batch",
                use_batch=True,
                flush_queue_size=10,
                callback=lambda event, code, message=None: outcomes.append(code),
            ),
        )
        who = EventOptions(user_id="jane.doe@example.com", ip="198.51.100.77")
        client.revenue(
            Revenue(
                price=9.99,
                quantity=2,
                product_id="plan-pro",
                properties={"buyer_email": "jane.doe@example.com"},
            ),
            who,
        )
        client.set_group("org", "Acme for jane.doe@example.com", who)
        group = Identify()
        group.set("plan", "pro")
        group.set("owner_email", "jane.doe@example.com")
        client.group_identify("org", "acme", group, who)
        client.shutdown()
        wait_for(lambda: len(standin.events) >= 3)
        time.sleep(0.5)

    assert outcomes and set(outcomes) == {200}
    assert standin.violations == []
    raw = standin.raw_text()
    for value in PLANTED:
        assert value not in raw, value
    by_name = {e["event_type"]: e for e in standin.events}
    assert sorted(by_name) == ["$groupidentify", "$identify", "revenue_amount"]
    revenue = by_name["revenue_amount"]
    assert revenue["event_properties"] == {
        "$price": 9.99,
        "$quantity": 2,
        "$productId": "plan-pro",
    }
    assert revenue["user_id"].startswith("local:")
    assert revenue["ip"] == "198.51.100.0"
    # set_group is an identify that also names the group at the top level:
    # the profile rules hash the property, and the top-level `groups`
    # (Amplitude's own field, `$context` here) is dropped by the allowlist
    joined = by_name["$identify"]
    assert joined["user_properties"]["$set"]["org"].startswith("local:")
    assert "groups" not in joined
    # group_identify is a group update: the group rules apply, and the
    # group's name is its distinct id (hashed by `distinct_id: hash`)
    update = by_name["$groupidentify"]
    assert update["group_properties"] == {"$set": {"plan": "pro"}}
    assert update["groups"]["org"].startswith("local:")
    assert update["user_id"] == revenue["user_id"]
