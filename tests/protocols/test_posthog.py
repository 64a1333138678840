"""The PostHog adapter: every body encoding posthog-js and posthog-python
send, the canonical names, skew correction, and PostHog's answers.

Wire facts come from protocols.md §2 (posthog-python 7.91.1, posthog-js
1.449.2 and PostHog's capture server, rust/capture).
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
from typing import Any
from urllib.parse import quote, urlencode

import lzstring
import pytest

from redline.errors import PayloadTooLarge, RequestError
from redline.events import Kind
from redline.protocols import posthog
from redline.protocols._vendor import PERSON, parse_iso

from ._keep import keep_engine, kept

LIMIT = 256 * 1024
JSON_TYPE = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}
FORM = {"content-type": "application/x-www-form-urlencoded"}

# as posthog-python 7.91.1 sends them (protocols.md §2.4)
PYTHON_EVENTS: list[dict[str, Any]] = [
    {
        "event": "checkout",
        "distinct_id": "user-1",
        "properties": {
            "plan": "pro",
            "$lib": "posthog-python",
            "$lib_version": "7.91.1",
            "$geoip_disable": True,
            "items": [{"sku": "A-1", "qty": 2}],
        },
        "timestamp": "2026-12-03T10:00:00.123456+00:00",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e01",
    },
    {
        "event": "$set",
        "distinct_id": "user-1",
        "properties": {"$lib": "posthog-python", "$geoip_disable": True},
        "$set": {"$email": "jane@example.com", "plan": "pro"},
        "timestamp": "2026-12-03T10:00:01.000000+00:00",
        "uuid": "0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e02",
    },
]
# as posthog-js sends them: token and distinct_id in properties
JS_EVENTS: list[dict[str, Any]] = [
    {
        "uuid": "019a1b2c-3d4e-7f00-8000-000000000001",
        "event": "$pageview",
        "properties": {
            "token": "demo",
            "distinct_id": "019a1b2c-anon",
            "$current_url": "https://app.example.com/a?x=1",
            "$host": "app.example.com",
            "$pathname": "/a",
            "title": "A page",
            "$lib": "web",
            "$insert_id": "k2j3h4g5f6d7s8a9",
            "$time": 1764756000.5,
            "$ip": "203.0.113.0",
        },
        "timestamp": "2026-12-03T10:00:00.500Z",
        "$set": {"$browser": "Chrome"},
        "$set_once": {"$initial_referrer": "$direct"},
    },
    {
        "uuid": "019a1b2c-3d4e-7f00-8000-000000000002",
        "event": "$identify",
        "properties": {
            "token": "demo",
            "distinct_id": "user-1",
            "$anon_distinct_id": "019a1b2c-anon",
            "$set": {"plan": "team"},
            "$ip": "203.0.113.0",
        },
        "timestamp": "2026-12-03T10:00:01.000Z",
    },
]


def decode(
    body: bytes,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    *,
    endpoint: str = "capture",
    method: str = "POST",
    received_at: float | None = None,
    max_body: int = LIMIT,
) -> posthog.Batch:
    return posthog.decode(
        endpoint,
        method,
        query or {},
        headers if headers is not None else JSON_TYPE,
        body,
        max_body_bytes=max_body,
        max_records=100,
        received_at=received_at,
    )


def python_body(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"batch": events, "api_key": "demo", "sent_at": "2026-12-03T10:00:02+00:00"}
    ).encode()


def js_body(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"api_key": "demo", "batch": events, "sent_at": "2026-12-03T10:00:02Z"}
    ).encode()


@pytest.mark.parametrize(
    ("events", "body"),
    [(PYTHON_EVENTS, python_body), (JS_EVENTS, js_body)],
    ids=["posthog-python", "posthog-js"],
)
def test_decode_engine_encode_gives_the_same_events_back(events, body) -> None:
    batch = decode(body(events), endpoint="batch")
    assert batch.failures == []
    clean = kept(keep_engine(), batch.events)

    upstream = posthog.encode_upstream(clean, "demo", sent_at=1764756000.0)
    sent = json.loads(upstream.body)

    assert sent["api_key"] == "demo"
    assert sent["batch"] == events
    assert upstream.path == "/batch/"


def test_canonical_names_and_the_event_record() -> None:
    batch = decode(js_body(JS_EVENTS))
    page, identify = batch.events

    assert page.name == "$mp_web_page_view"
    assert page.properties["mp_lib"] == "web"
    assert page.properties["current_url_path"] == "/a"
    assert page.properties["current_domain"] == "app.example.com"
    assert page.properties["current_page_title"] == "A page"
    assert "token" not in page.properties and "distinct_id" not in page.properties
    assert page.distinct_id == "019a1b2c-anon"
    assert page.insert_id == "019a1b2c-3d4e-7f00-8000-000000000001"
    assert page.time == parse_iso("2026-12-03T10:00:00.500Z", "t")
    assert page.envelope[PERSON] == {
        "$set": {"$browser": "Chrome"},
        "$set_once": {"$initial_referrer": "$direct"},
    }
    assert batch.tokens == ["demo", "demo"]
    assert identify.envelope[PERSON] == {"$set": {"plan": "team"}}


def test_a_set_event_is_a_profile_update() -> None:
    batch = decode(python_body(PYTHON_EVENTS))
    profile = batch.events[1]
    assert profile.kind is Kind.PROFILE
    assert profile.properties["$set"] == {"$email": "jane@example.com", "plan": "pro"}
    assert batch.key == "demo"


def _gzip_js() -> tuple[bytes, dict[str, str], dict[str, str]]:
    return gzip.compress(js_body(JS_EVENTS)), TEXT, {}


ENCODINGS = {
    "json": lambda: (js_body(JS_EVENTS), JSON_TYPE, {}),
    # posthog-js since #4100: gzip as text/plain, no hint
    "gzip unlabelled": _gzip_js,
    "gzip hinted": lambda: (
        gzip.compress(json.dumps(JS_EVENTS).encode()),
        TEXT,
        {"compression": "gzip-js", "_": "1764756002000"},
    ),
    "gzip by header": lambda: (
        gzip.compress(python_body(JS_EVENTS)),
        {**JSON_TYPE, "content-encoding": "gzip"},
        {},
    ),
    "form base64 (sendBeacon)": lambda: (
        urlencode({"data": base64.b64encode(js_body(JS_EVENTS)).decode()}).encode(),
        FORM,
        {"compression": "base64"},
    ),
    "form json": lambda: (
        ("data=" + quote(json.dumps(JS_EVENTS))).encode(),
        FORM,
        {},
    ),
    "text/plain json": lambda: (json.dumps(JS_EVENTS[0]).encode(), TEXT, {}),
    "bare base64": lambda: (base64.b64encode(js_body(JS_EVENTS)), TEXT, {}),
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_body_encoding_decodes_to_the_same_events(name: str) -> None:
    body, headers, query = ENCODINGS[name]()
    batch = decode(body, headers, query)
    assert batch.failures == []
    assert batch.events[0].insert_id == JS_EVENTS[0]["uuid"]
    assert batch.events[0].properties["$current_url"].startswith("https://app.")


def test_get_with_data_in_the_query() -> None:
    data = base64.b64encode(json.dumps(JS_EVENTS[0]).encode()).decode()
    batch = decode(b"", {}, {"data": data}, method="GET")
    assert batch.events[0].name == "$mp_web_page_view"


def test_clock_skew_is_corrected_with_the_receive_time() -> None:
    # the client's clock is 100 s fast: sent_at says 10:01:42, received 10:00:02
    body = json.dumps(
        {"api_key": "demo", "batch": [JS_EVENTS[0]], "sent_at": "2026-12-03T10:01:42Z"}
    ).encode()
    received = parse_iso("2026-12-03T10:00:02Z", "r")
    event = decode(body, received_at=received).events[0]
    assert event.time == pytest.approx(parse_iso("2026-12-03T09:58:20.500Z", "t"))

    upstream = posthog.encode_upstream([event], "k", sent_at=received + 3600)
    sent = json.loads(upstream.body)
    # the corrected time goes out with a fresh sent_at
    assert sent["batch"][0]["timestamp"] == "2026-12-03T09:58:20.500Z"
    assert sent["sent_at"] == "2026-12-03T11:00:02.000Z"


def test_events_without_a_time_are_dated_on_arrival() -> None:
    event = dict(JS_EVENTS[0])
    del event["timestamp"]
    decoded = decode(json.dumps([event]).encode(), received_at=1764756000.0)
    assert decoded.events[0].time == 1764756000.0


def test_events_without_an_address_ask_posthog_not_to_geolocate() -> None:
    event = decode(json.dumps(JS_EVENTS[0]).encode()).events[0]
    event.ip = None
    assert posthog.encode_event(event)["properties"]["$geoip_disable"] is True


def test_ip_property_is_the_event_address() -> None:
    event = {
        **JS_EVENTS[0],
        "properties": {**JS_EVENTS[0]["properties"], "$ip": "203.0.113.9"},
    }
    decoded = decode(json.dumps(event).encode()).events[0]
    assert decoded.ip == "203.0.113.9"
    assert "$ip" not in decoded.properties


def test_bad_records_fail_alone() -> None:
    events = [JS_EVENTS[0], {"event": "x"}, {"properties": {}}, "nope"]
    batch = decode(json.dumps(events).encode())
    assert len(batch.events) == 1
    assert [i for i, _ in batch.failures] == [1, 2, 3]
    reasons = " ".join(r for _, r in batch.failures)
    assert "distinct_id" in reasons and "event" in reasons


@pytest.mark.parametrize(
    ("body", "headers", "query", "status"),
    [
        (b"{not json", JSON_TYPE, {}, 400),
        (b"\x1f\x8b\x08\x00garbage", TEXT, {}, 400),
        (b"[]", JSON_TYPE, {}, 400),
        (b"data=abc!", FORM, {"compression": "lz64"}, 400),
        (b"<xml/>", {"content-type": "application/xml"}, {}, 400),
    ],
)
def test_unreadable_requests_are_refused_whole(body, headers, query, status) -> None:
    with pytest.raises(RequestError) as caught:
        decode(body, headers, query)
    assert caught.value.status == status


def test_too_many_events_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        decode(json.dumps([JS_EVENTS[0]] * 101).encode())


def test_answers_are_posthogs() -> None:
    batch = decode(js_body(JS_EVENTS))
    ok = posthog.respond(batch, accepted=2, failures=[])
    assert (ok.status, json.loads(ok.body)) == (200, {"status": 1})
    bad = posthog.respond(batch, accepted=0, failures=[(0, "event: missing")])
    assert bad.status == 400
    assert json.loads(bad.body)["type"] == "validation_error"
    refused = posthog.error_response(RequestError("unknown key", status=401))
    assert refused.status == 401
    assert json.loads(refused.body)["code"] == "invalid_api_key"
    busy = posthog.error_response(RequestError("busy", status=503), retry_after=2.5)
    assert busy.status == 503 and busy.headers["Retry-After"] == "3"


def test_ids_that_are_not_uuids_become_stable_uuids() -> None:
    event = decode(json.dumps(JS_EVENTS[0]).encode()).events[0]
    event.insert_id = "k2j3h4g5f6d7s8a9"
    first = posthog.encode_event(event)["uuid"]
    assert first == posthog.encode_event(event)["uuid"]
    assert len(first) == 36


def test_remote_config_turns_compression_on_and_escapes_nothing() -> None:
    body = posthog.config_body("phc_abc")
    assert body is not None and "gzip-js" in body["supportedCompression"]
    assert posthog.config_body("</script>") is None
    script = posthog.config_script("phc_abc")
    assert script is not None and b"_POSTHOG_REMOTE_CONFIG" in script


# -- lz64: lz-string base64, from very old posthog-js and posthog-js-lite --


def lz64(text: str) -> str:
    """``LZString.compressToBase64`` as JavaScript runs it: on UTF-16 code
    units (the Python port works on code points, so a character outside
    the BMP is given to it as its surrogate pair)."""
    units = text.encode("utf-16-le")
    pairs = struct.unpack(f"<{len(units) // 2}H", units)
    return lzstring.LZString.compressToBase64("".join(map(chr, pairs)))


LZ64_EVENTS = [
    {**JS_EVENTS[0], "properties": {**JS_EVENTS[0]["properties"], "note": "café 😀"}},
    JS_EVENTS[1],
]


def _lz64_cases() -> dict[str, tuple[bytes, dict[str, str], dict[str, str], str]]:
    data = lz64(json.dumps(LZ64_EVENTS, ensure_ascii=False))
    return {
        # posthog-js-lite's form mode: both fields in the body
        "form fields": (
            urlencode({"data": data, "compression": "lz64"}).encode(),
            FORM,
            {},
            "POST",
        ),
        # older posthog-js: the hint in the query
        "query hint": (
            urlencode({"data": data}).encode(),
            FORM,
            {"compression": "lz64"},
            "POST",
        ),
        # a '+' the sender did not escape arrives as a space
        "unescaped plus": (
            ("data=" + data + "&compression=lz64").encode(),
            FORM,
            {},
            "POST",
        ),
        "whole body": (data.encode(), TEXT, {"compression": "lz-string"}, "POST"),
        "get": (b"", {}, {"data": data, "compression": "lz64"}, "GET"),
    }


@pytest.mark.parametrize("name", sorted(_lz64_cases()))
def test_lz64_bodies_decode_to_the_events_sent(name: str) -> None:
    body, headers, query, method = _lz64_cases()[name]
    batch = decode(body, headers, query, method=method)
    assert batch.failures == []
    assert [e.insert_id for e in batch.events] == [e["uuid"] for e in LZ64_EVENTS]
    assert batch.events[0].properties["note"] == "café 😀"
    assert batch.events[0].properties["$current_url"].startswith("https://app.")


def test_lz64_round_trip_with_a_keep_everything_policy() -> None:
    body = urlencode({"data": lz64(json.dumps(JS_EVENTS)), "compression": "lz64"})
    batch = decode(
        json.dumps({"api_key": "demo", "batch": JS_EVENTS}).encode(), endpoint="batch"
    )
    lz = decode(body.encode(), FORM)
    clean = kept(keep_engine(), lz.events)
    sent = json.loads(posthog.encode_upstream(clean, "demo", sent_at=1.0).body)
    assert (
        sent["batch"]
        == json.loads(posthog.encode_upstream(batch.events, "demo", sent_at=1.0).body)[
            "batch"
        ]
    )


@pytest.mark.parametrize(
    ("data", "limit", "error"),
    [
        # a few kilobytes that expand past the body limit (LZW grows
        # quadratically): stopped at the limit
        (lz64("[" + " " * (4 * LIMIT) + "]"), LIMIT, PayloadTooLarge),
        # longer than lz64 is ever decoded (_lz64.MAX_CHARS), though under
        # the body limit
        ("A" * (600 * 1024), 2 * 1024 * 1024, PayloadTooLarge),
        ("not lz64 at all!", LIMIT, RequestError),
        (lz64(json.dumps(JS_EVENTS))[:40], LIMIT, RequestError),
        (lz64("not json"), LIMIT, RequestError),
    ],
    ids=["bomb", "too long", "not base64", "truncated", "not json"],
)
def test_bad_lz64_is_refused_whole(
    data: str, limit: int, error: type[RequestError]
) -> None:
    form = urlencode({"data": data, "compression": "lz64"}).encode()
    with pytest.raises(error) as caught:
        decode(form, FORM, max_body=limit)
    answer = posthog.error_response(caught.value)
    assert answer.status == caught.value.status
    assert json.loads(answer.body)["type"] == "validation_error"
