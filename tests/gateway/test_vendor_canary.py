"""Values planted in PostHog (v0, capture v1 and lz64), Segment and
Amplitude requests never appear in a log, the outbox, a dead letter, the
local store, an answer, or upstream at any of the three stand-ins (except
sanitised, as the policy says)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import lzstring
import pytest

from harness import GatewayProcess, write_config
from standins.amplitude import AmplitudeStandin
from standins.posthog import PostHogStandin
from standins.segment import SegmentStandin

from .conftest import posthog_v1_headers, wait_for

pytestmark = pytest.mark.slow

KEYS = {
    "REDLINE_TEST_PH_KEY": "phc_upstream-canary-aa11",
    "REDLINE_TEST_SEG_KEY": "seg-upstream-canary-bb22",
    "REDLINE_TEST_AMP_KEY": "amp-upstream-canary-cc33",
}
CANARIES = {
    "dropped property": "canary-drop-1a2b",
    "email in a kept property": "canary.email.3c4d@example.com",
    "unknown event name": "canary_event_5e6f",
    "distinct id": "canary-distinct-7a8b",
    "url query value": "canary-url-9c0d",
    "url fragment": "canary-fragment-2b3c",
    "person name": "canary-name-4d5e",
    "user agent": "CanaryAgent/6f7a",
    "client ip": "198.51.100.77",
    "unknown top-level field": "canary-extra-8b9c",
    "invalid json body": "canary-badjson-1e2f",
    "unknown posthog key": "canary-phkey-3a4b",
    "unknown segment key": "canary-segkey-5c6d",
    "unknown amplitude key": "canary-ampkey-7e8f",
    "v1 option": "canary-tour-9a0b",
    "v1 session id": "canary-session-1c2d",
    "unknown posthog v1 key": "canary-phv1key-3e4f",
}
URL = (
    f"https://app.example.com/p?secret={CANARIES['url query value']}"
    f"&utm_source=ok#{CANARIES['url fragment']}"
)


def _posthog(n: int, key: str = "demo") -> dict[str, object]:
    return {
        "api_key": key,
        "batch": [
            {
                "event": "checkout",
                "distinct_id": CANARIES["distinct id"],
                "uuid": f"0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e0{n}",
                "timestamp": "2026-12-03T10:00:00Z",
                "properties": {
                    "plan": f"pro for {CANARIES['email in a kept property']}",
                    "secret_note": CANARIES["dropped property"],
                    "$current_url": URL,
                    "$raw_user_agent": CANARIES["user agent"],
                    "$ip": CANARIES["client ip"],
                },
                "$set": {"$name": CANARIES["person name"], "plan": "pro"},
                "weird": CANARIES["unknown top-level field"],
            },
            {
                "event": CANARIES["unknown event name"],
                "distinct_id": "u-1",
                "properties": {},
            },
        ],
    }


def _posthog_v1(n: int) -> dict[str, object]:
    """The v0 batch as capture v1 carries it (posthog-python's
    ``capture_mode='v1'``): $set inside properties, options, session_id."""
    event, unknown = _posthog(n)["batch"]
    properties = {**event["properties"], "$set": event["$set"]}
    return {
        "created_at": "2026-12-03T10:00:01+00:00",
        "batch": [
            {
                "event": event["event"],
                "uuid": f"0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e1{n}",
                "distinct_id": event["distinct_id"],
                "timestamp": "2026-12-03T10:00:00+00:00",
                "options": {"product_tour_id": CANARIES["v1 option"]},
                "properties": properties,
                "session_id": CANARIES["v1 session id"],
                "weird": CANARIES["unknown top-level field"],
            },
            {
                **unknown,
                "uuid": f"0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e2{n}",
                "timestamp": "2026-12-03T10:00:00+00:00",
            },
        ],
    }


def _posthog_lz64(n: int) -> bytes:
    """posthog-js-lite's form mode: lz-string base64 in ``data``."""
    batch = _posthog(n)["batch"]
    batch[0]["uuid"] = f"0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e3{n}"
    data = lzstring.LZString.compressToBase64(
        json.dumps({"api_key": "demo", "batch": batch})
    )
    return urlencode({"data": data, "compression": "lz64"}).encode()


def _segment(n: int) -> dict[str, object]:
    return {
        "batch": [
            {
                "type": "track",
                "event": "checkout",
                "userId": CANARIES["distinct id"],
                "messageId": f"seg-canary-{n}",
                "timestamp": "2026-12-03T10:00:00Z",
                "properties": {
                    "plan": f"pro for {CANARIES['email in a kept property']}",
                    "secret_note": CANARIES["dropped property"],
                },
                "context": {
                    "ip": CANARIES["client ip"],
                    "userAgent": CANARIES["user agent"],
                    "page": {"url": URL},
                },
                "weird": CANARIES["unknown top-level field"],
            },
            {
                "type": "identify",
                "userId": "u-1",
                "traits": {"$name": CANARIES["person name"]},
            },
        ]
    }


def _amplitude(n: int, key: str = "demo") -> dict[str, object]:
    return {
        "api_key": key,
        "events": [
            {
                "event_type": "checkout",
                "user_id": CANARIES["distinct id"],
                "insert_id": f"amp-canary-{n}",
                "ip": CANARIES["client ip"],
                "user_agent": CANARIES["user agent"],
                "event_properties": {
                    "plan": f"pro for {CANARIES['email in a kept property']}",
                    "secret_note": CANARIES["dropped property"],
                    "[Amplitude] Page URL": URL,
                },
                "user_properties": {"$set": {"$name": CANARIES["person name"]}},
                "weird": CANARIES["unknown top-level field"],
            },
            {"event_type": CANARIES["unknown event name"], "user_id": "user-1"},
        ],
    }


def _basic(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_planted_values_appear_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with (
        PostHogStandin(api_key=KEYS["REDLINE_TEST_PH_KEY"]) as ph,
        SegmentStandin(write_key=KEYS["REDLINE_TEST_SEG_KEY"]) as seg,
        AmplitudeStandin(api_key=KEYS["REDLINE_TEST_AMP_KEY"]) as amp,
    ):
        standins = (ph, seg, amp)
        config = write_config(
            tmp_path,
            destinations=(
                f"  ph:\n    type: posthog\n    base_url: {ph.base_url}\n"
                f"  seg:\n    type: segment\n    base_url: {seg.base_url}\n"
                f"  amp:\n    type: amplitude\n    base_url: {amp.base_url}\n"
                "  local:\n    type: local\n"
            ),
            forward=(
                "      - destination: ph\n        token: {env: REDLINE_TEST_PH_KEY}\n"
                "      - destination: seg\n        token: {env: REDLINE_TEST_SEG_KEY}\n"
                "      - destination: amp\n        token: {env: REDLINE_TEST_AMP_KEY}\n"
                "      - destination: local\n"
            ),
        )
        config.write_text(config.read_text() + "log: {level: debug, format: json}\n")
        # each first delivery is refused for good: dead letters
        for standin in standins:
            standin.fail_next([400])
        log = tmp_path / "gateway.log"
        answers: list[str] = []
        bad_json = (
            b'{"batch": [{"event": "x", "v": "' + CANARIES["invalid json body"].encode()
        )

        with GatewayProcess(config, log) as gw:
            url = gw.url
            v1 = f"{url}/i/v1/analytics/events"
            for n in range(2):
                answers.append(httpx.post(f"{url}/batch/", json=_posthog(n)).text)
                by_v1 = httpx.post(
                    v1, json=_posthog_v1(n), headers=posthog_v1_headers()
                )
                by_lz64 = httpx.post(
                    f"{url}/e/",
                    content=_posthog_lz64(n),
                    headers={"content-type": "application/x-www-form-urlencoded"},
                )
                # both read, and their records taken
                assert [r["result"] for r in by_v1.json()["results"].values()] == [
                    "ok",
                    "ok",
                ]
                assert by_lz64.json() == {"status": 1}
                answers += [by_v1.text, by_lz64.text]
                answers.append(
                    httpx.post(
                        f"{url}/v1/batch", json=_segment(n), headers=_basic("demo")
                    ).text
                )
                answers.append(httpx.post(f"{url}/2/httpapi", json=_amplitude(n)).text)
            for path in ("/e/", "/v1/batch", "/2/httpapi"):
                answers.append(
                    httpx.post(
                        url + path, content=bad_json, headers=_basic("demo")
                    ).text
                )
            answers.append(
                httpx.post(
                    v1,
                    content=bad_json,
                    headers=posthog_v1_headers(),
                ).text
            )
            answers.append(
                httpx.post(
                    v1,
                    json=_posthog_v1(9),
                    headers=posthog_v1_headers(CANARIES["unknown posthog v1 key"]),
                ).text
            )
            answers.append(
                httpx.post(
                    f"{url}/batch/", json=_posthog(9, CANARIES["unknown posthog key"])
                ).text
            )
            answers.append(
                httpx.post(
                    f"{url}/v1/batch",
                    json=_segment(9),
                    headers=_basic(CANARIES["unknown segment key"]),
                ).text
            )
            answers.append(
                httpx.post(
                    f"{url}/2/httpapi",
                    json=_amplitude(9, CANARIES["unknown amplitude key"]),
                ).text
            )
            wait_for(
                lambda: (
                    all(s.events for s in standins) and _dead_letters(tmp_path) >= 3
                ),
                40,
            )
            time.sleep(0.5)

    for standin in standins:
        assert standin.violations == []
    places = {"log": log.read_bytes(), "answers": "\n".join(answers).encode()}
    for file in (tmp_path / "data").iterdir():
        places[file.name] = file.read_bytes()
    upstream = "\n".join(s.raw_text() for s in standins).encode()
    for label, canary in CANARIES.items():
        for place, content in places.items():
            assert canary.encode() not in content, f"{label} found in {place}"
        assert canary.encode() not in upstream, f"{label} sent upstream"
    for key in KEYS.values():
        for place, content in places.items():
            assert key.encode() not in content, f"upstream key in {place}"
    # and something did arrive, sanitised
    assert b"[EMAIL]" in upstream


def _dead_letters(tmp_path: Path) -> int:
    from redline.outbox.sqlite import read_stats

    path = tmp_path / "data" / "outbox.db"
    if not path.exists():
        return 0
    return sum(row.dead for row in read_stats(path))
