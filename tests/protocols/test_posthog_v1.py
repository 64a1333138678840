"""PostHog's capture v1 (``/i/v1/analytics/events``): the bodies, headers
and compressions posthog-python 7.91.1 sends with ``capture_mode='v1'``,
decoded into the same events as v0's ``/batch/``, and PostHog's v1 answers.

Wire facts: protocols.md §2.2-2.3, posthog-python's ``capture_v1.py``, and
PostHog's capture server (rust/capture/src/v1: context.rs for the headers,
analytics/process.rs for what drops one event and what refuses the batch,
error.rs and analytics/response.rs for the answers).
"""

from __future__ import annotations

import copy
import gzip
import json
import zlib
from typing import Any

import pytest
import zstandard

from redline.errors import PayloadTooLarge, RequestError
from redline.events import Event, Kind
from redline.protocols import posthog, posthog_v1
from redline.protocols._vendor import PERSON, parse_iso

from ._keep import keep_engine, kept

LIMIT = 256 * 1024
KEY = "phc_project_key"
REQUEST_ID = "5b0c0f0e-8a4d-4c55-9f0e-2a8d7f1c3b44"

# as posthog-python 7.91.1 builds them (capture_v1._to_v1_event): $lib and
# $lib_version left to PostHog-Sdk-Info, $set inside properties, sentinel
# properties as options, $session_id/$window_id at the top
V1_EVENTS: list[dict[str, Any]] = [
    {
        "event": "checkout",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e01",
        "distinct_id": "user-1",
        "timestamp": "2026-12-03T10:00:00.123456+00:00",
        "options": {},
        "properties": {
            "plan": "pro",
            "$geoip_disable": True,
            "items": [{"sku": "A-1", "qty": 2}],
        },
    },
    {
        "event": "$set",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e02",
        "distinct_id": "user-1",
        "timestamp": "2026-12-03T10:00:01+00:00",
        "options": {},
        "properties": {
            "$geoip_disable": True,
            "$set": {"$email": "jane@example.com", "plan": "pro"},
        },
    },
    {
        "event": "$pageview",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e03",
        "distinct_id": "user-2",
        "timestamp": "2026-12-03T10:00:02.500000+00:00",
        "options": {"process_person_profile": False, "disable_skew_correction": True},
        "properties": {
            "$current_url": "https://app.example.com/a?x=1",
            "$host": "app.example.com",
            "$geoip_disable": True,
            "$set_once": {"$initial_referrer": "$direct"},
        },
        "session_id": "019a1b2c-3d4e-7f00-8000-00000000a001",
        "window_id": "019a1b2c-3d4e-7f00-8000-00000000b001",
    },
]
# the same three as posthog-python's v0 sends them to /batch/
V0_EVENTS: list[dict[str, Any]] = [
    {
        "event": "checkout",
        "distinct_id": "user-1",
        "properties": {
            "plan": "pro",
            "$geoip_disable": True,
            "items": [{"sku": "A-1", "qty": 2}],
            "$lib": "posthog-python",
            "$lib_version": "7.91.1",
        },
        "timestamp": "2026-12-03T10:00:00.123456+00:00",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e01",
    },
    {
        "event": "$set",
        "distinct_id": "user-1",
        "properties": {
            "$geoip_disable": True,
            "$lib": "posthog-python",
            "$lib_version": "7.91.1",
        },
        "$set": {"$email": "jane@example.com", "plan": "pro"},
        "timestamp": "2026-12-03T10:00:01+00:00",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e02",
    },
    {
        "event": "$pageview",
        "distinct_id": "user-2",
        "properties": {
            "$current_url": "https://app.example.com/a?x=1",
            "$host": "app.example.com",
            "$geoip_disable": True,
            "$process_person_profile": False,
            "$ignore_sent_at": True,
            "$session_id": "019a1b2c-3d4e-7f00-8000-00000000a001",
            "$window_id": "019a1b2c-3d4e-7f00-8000-00000000b001",
            "$lib": "posthog-python",
            "$lib_version": "7.91.1",
            "$set_once": {"$initial_referrer": "$direct"},
        },
        "timestamp": "2026-12-03T10:00:02.500000+00:00",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e03",
    },
]


def headers(**changes: str | None) -> dict[str, str]:
    """The headers posthog-python sends (capture_v1._post_v1), changed."""
    sent = {
        "authorization": f"Bearer {KEY}",
        "content-type": "application/json",
        "user-agent": "posthog-python/7.91.1",
        "posthog-sdk-info": "posthog-python/7.91.1",
        "posthog-attempt": "1",
        "posthog-request-id": REQUEST_ID,
        "posthog-request-timestamp": "2026-12-03T10:00:03.000000+00:00",
    }
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    return sent


def body(events: list[Any], **extra: Any) -> bytes:
    payload = {"created_at": "2026-12-03T10:00:03.000000+00:00", "batch": events}
    return json.dumps({**payload, **extra}).encode()


def decode(
    content: bytes,
    sent: dict[str, str] | None = None,
    *,
    method: str = "POST",
    received_at: float | None = None,
    max_records: int = 100,
) -> posthog.Batch:
    return posthog_v1.decode(
        "analytics_v1",
        method,
        {},
        headers() if sent is None else sent,
        content,
        max_body_bytes=LIMIT,
        max_records=max_records,
        received_at=received_at,
    )


def v0_body(events: list[Any]) -> bytes:
    return json.dumps({"api_key": KEY, "batch": events}).encode()


def decode_v0(content: bytes) -> posthog.Batch:
    return posthog.decode(
        "batch",
        "POST",
        {},
        {"content-type": "application/json"},
        content,
        max_body_bytes=LIMIT,
        max_records=100,
    )


def neutral(event: Event) -> tuple[Any, ...]:
    """What the policy and the destinations see of an event (not the
    notes that let each protocol give back its own wire form)."""
    return (
        event.kind,
        event.name,
        event.properties,
        event.distinct_id,
        event.insert_id,
        event.time,
        event.ip,
        event.envelope.get(PERSON),
    )


def test_decode_engine_encode_gives_the_same_request_back() -> None:
    batch = decode(body(V1_EVENTS))
    assert batch.failures == []
    clean = kept(keep_engine(), batch.events)

    upstream = posthog_v1.encode_upstream(clean, KEY, sent_at=1764756003.0)
    sent = json.loads(upstream.body)

    assert sent["batch"] == V1_EVENTS
    assert "historical_migration" not in sent
    assert upstream.path == "/i/v1/analytics/events"
    assert upstream.headers["PostHog-Sdk-Info"] == "posthog-python/7.91.1"
    # and it is a request the decoder takes again
    again = decode(
        upstream.body,
        {k.lower(): v for k, v in upstream.headers.items()}
        | {"authorization": f"Bearer {KEY}", "user-agent": "redline"},
    )
    assert [neutral(e) for e in again.events] == [neutral(e) for e in batch.events]


def test_v1_and_v0_of_the_same_calls_are_the_same_events() -> None:
    v1 = decode(body(V1_EVENTS)).events
    v0 = decode_v0(v0_body(V0_EVENTS)).events
    assert [neutral(e) for e in v1] == [neutral(e) for e in v0]


def test_a_posthog_destination_sends_v1_events_as_v0_without_a_change() -> None:
    # the destination speaks v0 (/batch/): what it sends decodes to the
    # events that came in by v1
    events = kept(keep_engine(), decode(body(V1_EVENTS)).events)
    upstream = posthog.encode_upstream(events, KEY, sent_at=1764756003.0)
    sent = json.loads(upstream.body)
    back = decode_v0(upstream.body)
    assert [neutral(e) for e in back.events] == [neutral(e) for e in events]
    page = sent["batch"][2]
    assert page["properties"]["$session_id"] == V1_EVENTS[2]["session_id"]
    assert page["properties"]["$process_person_profile"] is False
    assert page["properties"]["$lib"] == "posthog-python"
    assert "options" not in page and "session_id" not in page


def test_canonical_names_and_the_event_record() -> None:
    batch = decode(body(V1_EVENTS))
    checkout, person, page = batch.events

    assert batch.key == KEY
    assert batch.tokens == [None, None, None]
    assert batch.record_ids == tuple(e["uuid"] for e in V1_EVENTS)
    assert checkout.properties["mp_lib"] == "posthog-python"
    assert checkout.properties["$lib_version"] == "7.91.1"
    assert checkout.insert_id == V1_EVENTS[0]["uuid"]
    assert checkout.time == parse_iso(V1_EVENTS[0]["timestamp"], "t")
    assert person.kind is Kind.PROFILE
    assert person.properties["$set"] == {"$email": "jane@example.com", "plan": "pro"}
    assert page.name == "$mp_web_page_view"
    assert page.properties["current_domain"] == "app.example.com"
    assert page.properties["$session_id"] == V1_EVENTS[2]["session_id"]
    assert page.properties["$window_id"] == V1_EVENTS[2]["window_id"]
    assert page.properties["$process_person_profile"] is False
    assert page.envelope[PERSON] == {"$set_once": {"$initial_referrer": "$direct"}}
    # posthog-python asks for no geolocation: the request address is not used
    assert batch.client_ip is False


def test_options_are_coerced_as_posthog_does() -> None:
    event = copy.deepcopy(V1_EVENTS[0])
    event["options"] = {"cookieless_mode": "1", "process_person_profile": 0}
    (decoded,) = decode(body([event])).events
    assert decoded.properties["$cookieless_mode"] is True
    assert decoded.properties["$process_person_profile"] is False


def _compressed(kind: str) -> tuple[bytes, dict[str, str]]:
    raw = body(V1_EVENTS)
    if kind == "gzip":
        return gzip.compress(raw), headers(content_encoding="gzip")
    if kind == "deflate":  # zlib-wrapped, as the SDK sends it
        return zlib.compress(raw), headers(content_encoding="deflate")
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(raw), headers(
            content_encoding="zstd"
        )
    return raw, headers()


@pytest.mark.parametrize("kind", ["none", "gzip", "deflate", "zstd"])
def test_every_compression_the_sdk_sends_decodes_to_the_same_events(
    kind: str,
) -> None:
    content, sent = _compressed(kind)
    batch = decode(content, sent)
    assert [neutral(e) for e in batch.events] == [
        neutral(e) for e in decode(body(V1_EVENTS)).events
    ]


def test_clock_skew_comes_from_the_request_timestamp() -> None:
    # the client's clock is 100 s fast: it says 10:01:43, received 10:00:03
    sent = headers(posthog_request_timestamp="2026-12-03T10:01:43+00:00")
    received = parse_iso("2026-12-03T10:00:03Z", "r")
    checkout, _, page = decode(body(V1_EVENTS), sent, received_at=received).events
    assert checkout.time == pytest.approx(parse_iso("2026-12-03T09:58:20.123456Z", "t"))
    # disable_skew_correction (v0's $ignore_sent_at) keeps the client's time
    assert page.time == parse_iso(V1_EVENTS[2]["timestamp"], "t")


def test_bad_records_are_dropped_alone_and_answered_by_uuid() -> None:
    good = V1_EVENTS[0]
    bad = [
        {**good, "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e11", "event": ""},
        {**good, "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e12", "distinct_id": 7},
        {**good, "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e13", "timestamp": "x"},
        {
            **good,
            "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e14",
            "timestamp": "2026-12-03T10:00:00",  # no zone: PostHog refuses it
        },
        {**good, "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e15", "properties": []},
        {
            **good,
            "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e16",
            "options": {"cookieless_mode": "sometimes"},
        },
        {**good, "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e17", "session_id": 5},
    ]
    batch = decode(body([good, *bad]))

    assert [e.insert_id for e in batch.events] == [good["uuid"]]
    assert [i for i, _ in batch.failures] == list(range(1, 8))
    answer = posthog_v1.respond(batch, accepted=1, failures=batch.failures)
    results = json.loads(answer.body)["results"]
    assert answer.status == 200
    assert results[good["uuid"]] == {"result": "ok"}
    for record in bad:
        assert results[record["uuid"]]["result"] == "drop"
        assert results[record["uuid"]]["details"]


def test_a_refused_key_is_a_drop_for_that_record_only() -> None:
    batch = decode(body(V1_EVENTS))
    answer = posthog_v1.respond(
        batch, accepted=2, failures=[(1, "unknown or missing token")]
    )
    results = json.loads(answer.body)["results"]
    assert [r["result"] for r in results.values()] == ["ok", "drop", "ok"]


def _mutate(batch_change: Any = None, **header_changes: str | None) -> Any:
    def make() -> tuple[bytes, dict[str, str]]:
        events = copy.deepcopy(V1_EVENTS)
        content = batch_change(events) if batch_change else body(events)
        return content, headers(**header_changes)

    return make


def _dup(events: list[Any]) -> bytes:
    return body([events[0], events[0]])


def _no_uuid(events: list[Any]) -> bytes:
    del events[1]["uuid"]
    return body(events)


def _bad_uuid(events: list[Any]) -> bytes:
    events[1]["uuid"] = "not-a-uuid-canary-7f3e"
    return body(events)


REFUSED = {
    "no authorization": (_mutate(authorization=None), 401, "invalid_api_token"),
    "basic auth": (
        _mutate(authorization="Basic cGhjOg=="),
        400,
        "invalid_header_value",
    ),
    "no sdk info": (
        _mutate(posthog_sdk_info=None),
        400,
        "missing_required_headers",
    ),
    "text/plain": (
        _mutate(content_type="text/plain"),
        415,
        "unsupported_content_type",
    ),
    "brotli": (_mutate(content_encoding="br"), 415, "unsupported_encoding"),
    "request id": (
        _mutate(posthog_request_id="canary-7f3e"),
        400,
        "invalid_header_value",
    ),
    "attempt 0": (_mutate(posthog_attempt="0"), 400, "invalid_header_value"),
    "request timestamp": (
        _mutate(posthog_request_timestamp="yesterday"),
        400,
        "invalid_header_value",
    ),
    "not json": (
        lambda: (b'{"batch": [canary-7f3e', headers()),
        400,
        "request_parsing_error",
    ),
    "bad gzip": (
        lambda: (b"\x1f\x8b\x08\x00canary-7f3e", headers(content_encoding="gzip")),
        400,
        "request_decoding_error",
    ),
    "bad zstd": (
        lambda: (b"canary-7f3e", headers(content_encoding="zstd")),
        400,
        "request_decoding_error",
    ),
    "no created_at": (
        lambda: (json.dumps({"batch": V1_EVENTS}).encode(), headers()),
        400,
        "invalid_batch",
    ),
    "empty batch": (lambda: (body([]), headers()), 400, "empty_batch"),
    "empty body": (lambda: (b"", headers()), 400, "empty_body"),
    "a record not an object": (
        lambda: (body([V1_EVENTS[0], "canary-7f3e"]), headers()),
        400,
        "request_parsing_error",
    ),
    "no uuid": (_mutate(_no_uuid), 400, "missing_event_uuid"),
    "uuid not a uuid": (_mutate(_bad_uuid), 400, "invalid_event_uuid"),
    "uuid twice": (_mutate(_dup), 400, "duplicate_event_uuid"),
    "zstd bomb": (
        lambda: (
            zstandard.ZstdCompressor().compress(b" " * (LIMIT + 1)),
            headers(content_encoding="zstd"),
        ),
        413,
        "payload_too_large",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_requests_that_cannot_be_read_get_posthogs_v1_error(name: str) -> None:
    make, status, tag = REFUSED[name]
    content, sent = make()
    with pytest.raises(RequestError) as caught:
        decode(content, sent)
    assert caught.value.status == status

    answer = posthog_v1.error_response(caught.value)
    error = json.loads(answer.body)
    assert answer.status == status
    assert set(error) == {"error", "error_description", "error_uri"}
    assert error["error"] == tag
    assert "canary-7f3e" not in answer.body.decode()


def test_get_and_too_many_events_are_refused() -> None:
    with pytest.raises(RequestError) as caught:
        decode(body(V1_EVENTS), method="GET")
    assert caught.value.status == 405
    with pytest.raises(PayloadTooLarge):
        decode(body(V1_EVENTS), max_records=2)


def test_busy_answers_carry_retry_after() -> None:
    busy = posthog_v1.error_response(RequestError("busy", status=503), retry_after=2.5)
    assert busy.status == 503 and busy.headers["Retry-After"] == "3"
    assert json.loads(busy.body)["error"] == "service_unavailable"


def test_events_from_other_sources_are_encoded_as_the_sdk_builds_them() -> None:
    # v0 events (no v1 notes) go out in v1's shape
    v0 = decode_v0(v0_body(V0_EVENTS)).events
    records = [posthog_v1.encode_event(e, KEY)[0] for e in v0]
    person, page = records[1], records[2]
    assert person["properties"]["$set"] == V0_EVENTS[1]["$set"]
    assert "$set" not in person
    assert page["options"] == {
        "process_person_profile": False,
        "disable_skew_correction": True,
    }
    assert page["session_id"] == V1_EVENTS[2]["session_id"]
    assert "$session_id" not in page["properties"]
