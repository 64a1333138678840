"""The PostHog, Segment and Amplitude destinations: configuration (types,
regions, credentials), what they send, and how they read answers the
stand-ins cannot script (an Amplitude 400 listing events by index, a
timeout, a too-large Segment batch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from redline import config as config_mod
from redline.config import DestinationSpec, Upstream
from redline.destinations.amplitude import AmplitudeDestination
from redline.destinations.forwarder import build_destinations
from redline.destinations.local import LocalStore
from redline.destinations.posthog import PostHogDestination
from redline.destinations.segment import SegmentDestination
from redline.errors import ConfigError, DeliveryError
from redline.events import Event, Kind
from redline.protocols._vendor import PERSON
from redline.sensitive import Sensitive

KEY = "upstream-key-4f1a"


def upstream(kind: str, **spec: Any) -> Upstream:
    return Upstream(
        "dest",
        DestinationSpec(type=kind, **spec),
        Sensitive(KEY),
        None,
        None,  # type: ignore[arg-type]
    )


def event(n: int, **kw: Any) -> Event:
    return Event(
        Kind.TRACK,
        "signup",
        {"plan": "pro", **kw},
        f"user-{n:05d}",
        f"0f9a3c3e-5d1b-4b7a-9a0e-6f2b1c8d9e{n:02d}",
        1764756000.25,
        None,
    )


def config_text(dest: str, forward: str) -> str:
    return (
        "server: {data_dir: ./d}\n"
        f"destinations:\n  up: {dest}\n"
        f"projects:\n  p:\n    ingest_keys: [k]\n    forward:\n{forward}"
    )


@pytest.mark.parametrize("kind", ["posthog", "segment", "amplitude"])
def test_a_vendor_destination_needs_its_key(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(config_text(f"{{type: {kind}}}", "      - destination: up\n"))
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path)
    assert caught.value.line == 8  # the forward entry
    assert "token" in str(caught.value)


def test_posthog_has_no_india_region(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        config_text(
            "{type: posthog, region: in}",
            "      - destination: up\n        token: {env: K}\n",
        )
    )
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path, environ={"K": "x"})
    assert "region" in str(caught.value)


def test_build_destinations_by_type(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "server: {data_dir: ./d}\n"
        "destinations:\n"
        "  ph: {type: posthog, region: eu}\n"
        "  seg: {type: segment}\n"
        "  amp: {type: amplitude, base_url: 'http://127.0.0.1:9/'}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n    forward:\n"
        "      - {destination: ph, token: {env: K}}\n"
        "      - {destination: seg, token: {env: K}}\n"
        "      - {destination: amp, token: {env: K}}\n"
    )
    config = config_mod.load(path, environ={"K": KEY})
    store = LocalStore.in_dir(tmp_path)
    try:
        built = build_destinations(config, store)
    finally:
        store.close()
    assert isinstance(built["p/ph"], PostHogDestination)
    assert built["p/ph"].base_url == "https://eu.i.posthog.com"
    assert isinstance(built["p/seg"], SegmentDestination)
    assert built["p/seg"].base_url == "https://api.segment.io"
    assert isinstance(built["p/amp"], AmplitudeDestination)
    assert built["p/amp"].base_url == "http://127.0.0.1:9"
    assert KEY not in repr(built)


def _client(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_amplitude_400_rejects_the_listed_events_only() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            400,
            json={
                "code": 400,
                "error": "bad",
                "events_with_invalid_fields": {"time": [1]},
                "silenced_events": [2],
            },
        )

    dest = AmplitudeDestination(upstream("amplitude"), _client(handler))
    with pytest.raises(DeliveryError) as caught:
        await dest.send([event(0), event(1), event(2)])
    assert caught.value.permanent
    assert set(caught.value.rejected) == {1, 2}
    assert seen[0]["api_key"] == KEY
    assert seen[0]["events"][0]["time"] == 1764756000250


async def test_amplitude_reads_the_code_in_the_body_not_the_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 429, "error": "throttled"})

    dest = AmplitudeDestination(upstream("amplitude"), _client(handler))
    with pytest.raises(DeliveryError) as caught:
        await dest.send([event(0)])
    assert not caught.value.permanent and not caught.value.too_large


async def test_a_timeout_is_retryable_and_names_no_value() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for dest in (
        PostHogDestination(upstream("posthog"), _client(handler)),
        SegmentDestination(upstream("segment"), _client(handler)),
        AmplitudeDestination(upstream("amplitude"), _client(handler)),
    ):
        with pytest.raises(DeliveryError) as caught:
            await dest.send([event(0, secret="value-never-named")])
        assert not caught.value.permanent
        assert "value-never-named" not in str(caught.value)
        assert KEY not in str(caught.value)


async def test_segment_splits_a_batch_over_500_kb_and_sends_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True})

    dest = SegmentDestination(upstream("segment"), _client(handler))
    big = [event(n, blob="x" * 30_000) for n in range(20)]
    with pytest.raises(DeliveryError) as caught:
        await dest.send(big)
    assert caught.value.too_large and seen == []
    await dest.send(big[:2])
    assert seen[0].headers["authorization"].startswith("Basic ")
    body = json.loads(seen[0].content)
    assert body["writeKey"] == KEY and len(body["batch"]) == 2


async def test_segment_rejects_a_message_over_32_kb_alone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True})

    dest = SegmentDestination(upstream("segment"), _client(handler))
    with pytest.raises(DeliveryError) as caught:
        await dest.send([event(0), event(1, blob="x" * 40_000)])
    assert caught.value.rejected == {1: "message over Segment's 32 KB limit"}


async def test_posthog_sends_historical_imports_apart() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"status": 1})

    old = event(1)
    old.envelope["$historical"] = True
    dest = PostHogDestination(upstream("posthog"), _client(handler))
    await dest.send([event(0), old])
    assert [b.get("historical_migration", False) for b in seen] == [False, True]
    assert all(b["api_key"] == KEY for b in seen)


async def test_segment_sends_person_properties_as_an_identify_beside_the_event() -> (
    None
):
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True})

    dest = SegmentDestination(upstream("segment"), _client(handler))
    carrying = event(0)
    carrying.envelope[PERSON] = {"$set": {"plan": "team"}, "$set_once": {"a": 1}}
    await dest.send([carrying, event(1)])
    (body,) = seen
    kinds = [message["type"] for message in body["batch"]]
    assert kinds == ["track", "identify", "track"]
    identify = body["batch"][1]
    assert identify["traits"] == {"plan": "team"}
    assert identify["userId"] == "user-00000"
    assert identify["messageId"] == carrying.insert_id + "-identify"


async def test_segment_rejects_an_event_whose_identify_cannot_go() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True})

    dest = SegmentDestination(upstream("segment"), _client(handler))
    carrying = event(1)
    carrying.envelope[PERSON] = {"$set": {"bio": "x" * 40_000}}
    with pytest.raises(DeliveryError) as caught:
        await dest.send([event(0), carrying])
    # the event fails with its identify, and only it
    assert caught.value.rejected == {1: "message over Segment's 32 KB limit"}
