"""With a keep-everything policy the whole pipeline is the identity:
decode, apply the engine, encode for Mixpanel, decode again, and the same
events come back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from redline.engine import Engine, Hasher
from redline.events import Event
from redline.policy import parse_policy
from redline.protocols import mixpanel
from redline.sensitive import Sensitive

KEEP_EVERYTHING = """
version: 1
defaults:
  unknown_events: keep
  unknown_properties: keep
  detect: []
  client_ip: keep
"""

FORM = {"content-type": "application/x-www-form-urlencoded"}

REQUESTS: dict[str, tuple[mixpanel.Endpoint, list[dict[str, Any]]]] = {
    "track batch": (
        "track",
        [
            {
                "event": "checkout",
                "properties": {
                    "token": "demo",
                    "distinct_id": "jane.doe@example.com",
                    "time": 1764230410.123,
                    "$insert_id": "a1b2c3",
                    "ip": "203.0.113.57",
                    "$current_url": "https://x.example.com/a?email=j%40e.com#t",
                    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B", "qty": 1}],
                    "nested": {"a": {"b": [1, 2.5, True, None]}},
                    "unicode": "東京都 ０９０－１２３４",  # noqa: RUF001 - full-width on purpose
                },
            },
            {
                "event": "$mp_web_page_view",
                "properties": {"token": "demo", "time": 1764230411, "$insert_id": "z9"},
                "extra_top_level": {"kept": True},
            },
        ],
    ),
    "profile update": (
        "engage",
        [
            {
                "$token": "demo",
                "$distinct_id": "user-1",
                "$time": 1764230412.5,
                "$ip": "198.51.100.4",
                "$set": {"$email": "jane.doe@example.com", "plan": "pro"},
                "$set_once": {"first_seen": "2025-11-27"},
                "$add": {"logins": 1},
                "$union": {"tags": ["a", "b"]},
                "$unset": ["old"],
                "$ignore_time": True,
            }
        ],
    ),
    "group update": (
        "groups",
        [
            {
                "$token": "demo",
                "$time": 1764230413,
                "$group_key": "company",
                "$group_id": "Example KK",
                "$set": {"plan": "enterprise"},
            }
        ],
    ),
    "import": (
        "import",
        [
            {
                "event": "legacy",
                "properties": {
                    "token": "demo",
                    "distinct_id": "u-7",
                    "time": 1600000000,
                    "$insert_id": "imp-1",
                    "v": 1,
                },
            }
        ],
    ),
}


def _decode(
    endpoint: mixpanel.Endpoint, body: bytes, headers: dict[str, str]
) -> list[Event]:
    decoded = mixpanel.decode(
        endpoint, "POST", {}, headers, body, max_body_bytes=1 << 20, max_records=2000
    )
    assert decoded.failures == []
    return decoded.events


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_decode_engine_encode_gives_the_same_events_back(case: str) -> None:
    endpoint, records = REQUESTS[case]
    engine = Engine(
        parse_policy(KEEP_EVERYTHING, "keep.yaml"),
        Hasher("k", Sensitive("keep-everything-test-key-0000000")),
    )
    if endpoint == "import":
        body, headers = (
            json.dumps(records).encode(),
            {"content-type": "application/json"},
        )
    else:
        from urllib.parse import urlencode

        body, headers = urlencode({"data": json.dumps(records)}).encode(), FORM
    first = _decode(endpoint, body, headers)

    kept = [engine.apply(event) for event in first]
    assert all(result.findings == [] for result in kept)
    clean = [result.event for result in kept]
    assert all(event is not None for event in clean)
    upstream = mixpanel.encode_upstream(endpoint, clean, "demo")  # type: ignore[arg-type]
    again = _decode(
        endpoint, upstream.body, {k.lower(): v for k, v in upstream.headers.items()}
    )

    assert again == first
