"""The Amplitude adapter: HTTP V2 and batch uploads, user properties as
person operations, ``ip`` and ``$remote``, and Amplitude's answers.

Wire facts come from protocols.md §4; the events below are what
amplitude-analytics 1.3.0 sent to a capture server.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from redline.errors import PayloadTooLarge, RequestError
from redline.events import Kind
from redline.protocols import amplitude
from redline.protocols._vendor import PERSON

from ._keep import keep_engine, kept

LIMIT = 256 * 1024
JSON_TYPE = {"content-type": "application/json; charset=UTF-8"}
PYTHON_EVENTS: list[dict[str, Any]] = [
    {
        "event_properties": {"plan": "pro"},
        "event_type": "Signed Up",
        "insert_id": "56cb54a3-c9dc-4b3e-be13-72c732172e78",
        "library": "amplitude-python/1.3.0",
        "time": 1796327612137,
        "user_id": "user-1",
    },
    {
        "event_type": "$identify",
        "insert_id": "e06212f5-0a03-4371-a61a-6444aaf68fd4",
        "library": "amplitude-python/1.3.0",
        "time": 1796327612144,
        "user_id": "user-1",
        "user_properties": {
            "$set": {"plan": "pro"},
            "$setOnce": {"first": "x"},
            "$unset": {"old": "-"},
        },
    },
    {
        "event_type": "$groupidentify",
        "groups": {"org": "acme"},
        "group_properties": {"$set": {"plan": "team"}, "$setOnce": {"since": "2026"}},
        "insert_id": "9d1c3b6e-5f0a-4e21-9c55-0b7e2d0c6a11",
        "library": "amplitude-python/1.3.0",
        "time": 1796327612150,
        "user_id": "user-1",
    },
]
BROWSER_EVENTS: list[dict[str, Any]] = [
    {
        "event_type": "[Amplitude] Page Viewed",
        "device_id": "a1b2c3d4-device",
        "session_id": 1764756000000,
        "time": 1764756000123,
        "platform": "Web",
        "os_name": "Chrome",
        "os_version": "131",
        "language": "en-GB",
        "ip": "$remote",
        "insert_id": "f0e1d2c3-0000-4000-8000-000000000001",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        "event_properties": {
            "[Amplitude] Page URL": "https://app.example.com/a?x=1",
            "[Amplitude] Page Title": "A",
            "[Amplitude] Page Path": "/a",
            "[Amplitude] Page Domain": "app.example.com",
        },
        "user_properties": {"plan": "team"},
        "library": "amplitude-ts/2.48.1",
    }
]


def body_of(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"api_key": "demo", "events": events}).encode()


def decode(
    body: bytes, headers: dict[str, str] | None = None, **kw: Any
) -> amplitude.Batch:
    return amplitude.decode(
        kw.pop("endpoint", "httpapi"),
        "POST",
        {},
        headers or JSON_TYPE,
        body,
        max_body_bytes=LIMIT,
        max_records=100,
        **kw,
    )


@pytest.mark.parametrize(
    "events", [PYTHON_EVENTS, BROWSER_EVENTS], ids=["python", "browser"]
)
def test_decode_engine_encode_gives_the_same_events_back(events) -> None:
    batch = decode(body_of(events))
    assert batch.failures == [] and batch.key == "demo"
    clean = kept(keep_engine(), batch.events)
    upstream = amplitude.encode_upstream(clean, "demo")
    sent = json.loads(upstream.body)
    assert sent == {"api_key": "demo", "events": events}
    assert upstream.path == "/2/httpapi"


def test_canonical_names_person_operations_and_remote_ip() -> None:
    page = decode(body_of(BROWSER_EVENTS)).events[0]
    assert page.name == "$mp_web_page_view"
    props = page.properties
    assert props["$current_url"] == "https://app.example.com/a?x=1"
    assert props["current_page_title"] == "A"
    assert props["$os"] == "Chrome"
    assert props["$raw_user_agent"].startswith("Mozilla/5.0")
    assert props["$device_id"] == "a1b2c3d4-device"
    assert props["$context"]["platform"] == "Web"
    assert page.distinct_id == "a1b2c3d4-device"
    assert page.ip is None  # $remote: the gateway fills in the request's
    assert page.time == 1764756000.123
    assert page.envelope[PERSON] == {"$set": {"plan": "team"}}

    # an $identify event is a profile update, operations as Mixpanel's
    identify = decode(body_of(PYTHON_EVENTS)).events[1]
    assert identify.kind is Kind.PROFILE
    assert PERSON not in identify.envelope
    assert identify.properties["$set"] == {"plan": "pro"}
    assert identify.properties["$set_once"] == {"first": "x"}
    assert identify.properties["$unset"] == ["old"]


def test_a_group_identify_is_a_group_update() -> None:
    (_, _, group) = decode(body_of(PYTHON_EVENTS)).events
    assert group.kind is Kind.GROUP
    assert group.distinct_id == "acme"
    assert group.envelope["$group_key"] == "org"
    assert group.properties["$set"] == {"plan": "team"}
    assert group.properties["$set_once"] == {"since": "2026"}
    assert group.properties["$user_id"] == "user-1"


def test_gzip_and_the_batch_api() -> None:
    batch = decode(
        gzip.compress(body_of(PYTHON_EVENTS)),
        {"content-type": "application/json", "content-encoding": "gzip"},
        endpoint="batch",
    )
    assert len(batch.events) == len(PYTHON_EVENTS)


def test_events_without_time_are_dated_on_arrival() -> None:
    event = {k: v for k, v in PYTHON_EVENTS[0].items() if k != "time"}
    decoded = decode(body_of([event]), received_at=1764756000.5).events[0]
    assert decoded.time == 1764756000.5


def test_bad_events_are_listed_by_index() -> None:
    events = [
        PYTHON_EVENTS[0],
        {"event_type": "x"},
        {"user_id": "user-2"},
        {"event_type": "y", "user_id": "u-3", "time": "noon"},
        {"event_type": "z", "user_id": "u-4", "time": 10**20},
    ]
    batch = decode(body_of(events))
    assert len(batch.events) == 1
    answer = amplitude.respond(batch, accepted=1, failures=batch.failures)
    body = json.loads(answer.body)
    assert answer.status == 400 and body["code"] == 400
    assert body["events_with_missing_fields"] == {"user_id": [1], "event_type": [2]}
    assert body["events_with_invalid_fields"] == {"time": [3, 4]}


def test_success_answer_reports_the_body_size_as_received() -> None:
    body = body_of(PYTHON_EVENTS)
    ok = json.loads(amplitude.respond(decode(body), accepted=3, failures=[]).body)
    assert ok["payload_size_bytes"] == len(body)

    packed = gzip.compress(body)
    batch = decode(packed, {**JSON_TYPE, "content-encoding": "gzip"})
    ok = json.loads(amplitude.respond(batch, accepted=3, failures=[]).body)
    assert ok["payload_size_bytes"] == len(packed) != len(body)


def test_success_and_error_answers() -> None:
    batch = decode(body_of(PYTHON_EVENTS))
    ok = json.loads(amplitude.respond(batch, accepted=2, failures=[]).body)
    assert ok["code"] == 200 and ok["events_ingested"] == 2
    key = amplitude.error_response(RequestError("unknown key", status=401))
    assert key.status == 400
    assert json.loads(key.body)["error"].startswith("Invalid API key:")
    with pytest.raises(PayloadTooLarge) as caught:
        decode(body_of([PYTHON_EVENTS[0]] * 101))
    assert json.loads(amplitude.error_response(caught.value).body)["code"] == 413
    with pytest.raises(RequestError):
        decode(b'{"events": []}')
