"""The Segment adapter: analytics-python's batches and analytics-next's
single calls, canonical names for context fields, and Segment's answers.

Wire facts come from protocols.md §3; the python messages below are what
segment-analytics-python 2.4.0 sent to a capture server.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from redline.errors import PayloadTooLarge, RequestError
from redline.events import Kind
from redline.protocols import segment
from redline.protocols._vendor import parse_iso

from ._keep import keep_engine, kept

LIMIT = 256 * 1024
LIB = {"library": {"name": "analytics-python", "version": "2.4.0"}}
PYTHON_MESSAGES: list[dict[str, Any]] = [
    {
        "integrations": {},
        "anonymousId": None,
        "properties": {"plan": "pro"},
        "timestamp": "2026-12-03T19:53:32.094+00:00",
        "context": {
            "ip": "203.0.113.9",
            "page": {"url": "https://x.example.com/y?e=1"},
            **LIB,
        },
        "userId": "u1",
        "type": "track",
        "event": "Signed Up",
        "messageId": "fe5d3120-f965-4cf6-acdd-2e95be72f9ad",
    },
    {
        "integrations": {},
        "anonymousId": None,
        "timestamp": "2026-12-03T19:53:32.104+00:00",
        "context": dict(LIB),
        "type": "identify",
        "userId": "u1",
        "traits": {"email": "a@b.example"},
        "messageId": "6eac4a53-571f-4f16-a3b2-edecc455dbd0",
    },
    {
        "integrations": {},
        "anonymousId": None,
        "properties": {"x": 1},
        "timestamp": "2026-12-03T19:53:32.105+00:00",
        "category": "Docs",
        "context": dict(LIB),
        "userId": "u1",
        "type": "page",
        "name": "Home",
        "messageId": "29576789-c3aa-48f8-9723-89aa9eef0bca",
    },
    {
        "integrations": {},
        "anonymousId": None,
        "timestamp": "2026-12-03T19:53:32.113+00:00",
        "groupId": "g1",
        "context": dict(LIB),
        "userId": "u1",
        "traits": {"name": "Acme"},
        "type": "group",
        "messageId": "f68c4b9a-d68c-48a8-b085-28107137fdf6",
    },
    {
        "integrations": {},
        "previousId": "old1",
        "timestamp": "2026-12-03T19:53:32.119+00:00",
        "context": dict(LIB),
        "userId": "u1",
        "type": "alias",
        "messageId": "78bf68d2-e675-4ebd-8fd5-cdf291560a2d",
        "anonymousId": None,
    },
]
# an analytics-next page call, as sent to /v1/p
BROWSER_PAGE: dict[str, Any] = {
    "type": "page",
    "anonymousId": "7c1e0a52-anon",
    "properties": {"path": "/docs", "url": "https://app.example.com/docs?q=1"},
    "context": {
        "page": {
            "path": "/docs",
            "referrer": "https://search.example.net/?q=x",
            "search": "?q=1",
            "title": "Docs",
            "url": "https://app.example.com/docs?q=1",
        },
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        "locale": "en-GB",
        "library": {"name": "analytics.js", "version": "next-1.84.3"},
        "campaign": {"source": "newsletter", "name": "winter"},
    },
    "messageId": "ajs-next-1764756000000-0a1b2c3d",
    "timestamp": "2026-12-03T10:00:00.000Z",
    "integrations": {},
    "writeKey": "demo",
    "sentAt": "2026-12-03T10:00:00.010Z",
    "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
}


def basic(key: str) -> dict[str, str]:
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"content-type": "application/json", "authorization": f"Basic {token}"}


def decode(
    body: bytes,
    endpoint: str = "batch",
    headers: dict[str, str] | None = None,
    received_at: float | None = None,
) -> segment.Batch:
    return segment.decode(
        endpoint,
        "POST",
        {},
        headers if headers is not None else basic("demo"),
        body,
        max_body_bytes=LIMIT,
        max_records=100,
        received_at=received_at,
    )


def python_body(messages: list[dict[str, Any]]) -> bytes:
    payload = {
        "batch": messages,
        "sentAt": "2026-12-03T19:53:32.2+00:00",
        "writeKey": "demo",
    }
    return json.dumps(payload).encode()


def test_decode_engine_encode_gives_the_same_messages_back() -> None:
    batch = decode(python_body(PYTHON_MESSAGES))
    assert batch.failures == []
    clean = kept(keep_engine(), batch.events)
    upstream = segment.encode_upstream(clean, "demo", sent_at=1764756000.0)
    sent = json.loads(upstream.body)
    assert sent["batch"] == PYTHON_MESSAGES
    assert sent["writeKey"] == "demo"
    assert upstream.path == "/v1/batch"


def test_a_browser_page_call_round_trips() -> None:
    batch = decode(
        json.dumps(BROWSER_PAGE).encode(), "page", {"content-type": "text/plain"}
    )
    clean = kept(keep_engine(), batch.events)
    message = segment.encode_message(clean[0])
    expected = {
        k: v for k, v in BROWSER_PAGE.items() if k not in ("writeKey", "sentAt")
    }
    assert message == expected
    assert batch.tokens == ["demo"]


def test_context_fields_take_the_mixpanel_names() -> None:
    event = decode(json.dumps(BROWSER_PAGE).encode(), "page").events[0]
    assert event.name == "$mp_web_page_view"
    props = event.properties
    assert props["$current_url"] == "https://app.example.com/docs?q=1"
    assert props["$referrer"] == "https://search.example.net/?q=x"
    assert props["current_url_path"] == "/docs"
    assert props["current_page_title"] == "Docs"
    assert props["utm_source"] == "newsletter"
    assert props["utm_campaign"] == "winter"
    assert props["$raw_user_agent"].startswith("Mozilla/5.0")
    assert props["mp_lib"] == "analytics.js"
    assert props["$device_id"] == "7c1e0a52-anon"
    assert props["$context"] == {"locale": "en-GB"}
    assert event.distinct_id == "7c1e0a52-anon"
    assert event.insert_id == BROWSER_PAGE["messageId"]


def test_kinds_by_call_type() -> None:
    events = decode(python_body(PYTHON_MESSAGES)).events
    track, identify, page, group, alias = events
    assert (track.kind, track.name, track.ip) == (
        Kind.TRACK,
        "Signed Up",
        "203.0.113.9",
    )
    assert track.distinct_id == "u1" and track.properties["$user_id"] == "u1"
    assert identify.kind is Kind.PROFILE
    assert identify.properties["$set"] == {"email": "a@b.example"}
    assert page.name == "$mp_web_page_view"
    assert (group.kind, group.distinct_id) == (Kind.GROUP, "g1")
    assert (alias.name, alias.distinct_id) == ("$create_alias", "old1")
    assert alias.properties["alias"] == "u1"


def test_gzip_and_the_key_in_the_body_only() -> None:
    body = gzip.compress(python_body(PYTHON_MESSAGES[:1]))
    batch = decode(body, headers={"content-type": "application/json"})
    assert batch.key == "demo" and len(batch.events) == 1


def test_clock_skew_is_corrected_with_the_receive_time() -> None:
    # the client clock is 60 s slow
    received = parse_iso("2026-12-03T19:54:32.2Z", "r")
    event = decode(python_body(PYTHON_MESSAGES[:1]), received_at=received).events[0]
    assert event.time == pytest.approx(parse_iso("2026-12-03T19:54:32.094Z", "t"))
    message = segment.encode_message(event)
    assert message["timestamp"] == "2026-12-03T19:54:32.094Z"


def test_bad_messages_fail_alone_and_every_bad_one_is_400() -> None:
    messages = [PYTHON_MESSAGES[0], {"type": "track", "event": "x"}, {"type": "nope"}]
    batch = decode(python_body(messages))
    assert len(batch.events) == 1
    assert [i for i, _ in batch.failures] == [1, 2]
    ok = segment.respond(batch, accepted=1, failures=batch.failures)
    assert (ok.status, json.loads(ok.body)) == (200, {"success": True})
    bad = segment.respond(batch, accepted=0, failures=batch.failures)
    assert bad.status == 400 and json.loads(bad.body)["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "endpoint", "status"),
    [
        (b"{nope", "batch", 400),
        (b"[1]", "track", 400),
        (b'{"batch": 3}', "batch", 400),
    ],
)
def test_unreadable_requests(body: bytes, endpoint: str, status: int) -> None:
    with pytest.raises(RequestError) as caught:
        decode(body, endpoint)
    assert caught.value.status == status
    answer = segment.error_response(caught.value)
    assert json.loads(answer.body)["success"] is False


def test_too_large_is_answered_400_as_segment_does() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        decode(python_body([PYTHON_MESSAGES[0]] * 101))
    assert segment.error_response(caught.value).status == 400
    assert segment.error_response(RequestError("k", status=401)).status == 401
