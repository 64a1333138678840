"""posthog-js, from the npm registry, on a page served locally and driven
in headless Chromium with its defaults (remote config, feature flags,
autocapture, page leave), sends through a real gateway to the PostHog
stand-in: a page view whose URL holds an email and a reset token, an
autocaptured click on a button whose text holds a phone number, an identify
with an email, and events sent by ``sendBeacon`` as the page unloads.

The stand-in must receive exactly the sanitised events, each once, with the
uuids the browser gave them, and none of the planted values."""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from harness import write_config
from redline.gateway.app import _apply_person
from redline.protocols import posthog as ph_protocol
from standins.posthog import PostHogStandin

from . import _planted
from ._site import (
    GatewayLogs,
    RecordedGateway,
    Seen,
    Site,
    Tab,
    beacon,
    locked_version,
    stored_text,
)
from ._wire import is_posthog_capture, posthog_sent
from .conftest import wait_for

pytestmark = pytest.mark.slow

POLICY = Path(__file__).resolve().parent / "policy.yaml"
UPSTREAM_KEY = "phc_upstream-browser-5e07"
PAGE = f"/posthog/reset?{_planted.RESET_QUERY}"
CLIENT = "127.0.0.1"


@dataclasses.dataclass
class Run:
    site: Site
    gateway: RecordedGateway
    upstream: PostHogStandin
    seen: list[Seen]
    page_text: str
    flags: dict[str, Any]
    browser_errors: list[str]
    logs: list[str]  # what the gateway logged, at every level
    data_dir: Path


def _comparable(event: dict[str, Any]) -> dict[str, Any]:
    # the time is corrected for clock skew with the gateway's receive time,
    # which the test cannot know to the millisecond; it is checked apart
    return {k: v for k, v in event.items() if k != "timestamp"}


def _expected(run: Run) -> list[dict[str, Any]]:
    """What the gateway's own engine makes of what the browser sent."""
    engine = run.gateway.gateway.engine
    expected: list[dict[str, Any]] = []
    for request in run.seen:
        if not is_posthog_capture(request):
            continue
        batch = ph_protocol.decode(
            "capture",
            request.method,
            dict(parse_qsl(request.query)),
            request.headers,
            request.body,
            max_body_bytes=10_000_000,
            max_records=2000,
        )
        assert batch.failures == []
        for event in batch.events:
            if event.ip is None and batch.client_ip:
                event.ip = CLIENT
            # the event by its rules, its $set/$set_once by the profile
            # rules, as the gateway does
            clean = _apply_person(engine, event).event
            if clean is not None:
                expected.append(ph_protocol.encode_event(clean, UPSTREAM_KEY))
    return expected


@pytest.fixture(scope="module")
def run(
    chromium: Any, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("posthog-js")
    key_file = tmp / "upstream-key"
    key_file.write_text(UPSTREAM_KEY)
    key_file.chmod(0o600)  # the gateway refuses secret files others can read
    with PostHogStandin(api_key=UPSTREAM_KEY) as upstream:
        config = write_config(
            tmp,
            destinations=(
                f"  ph:\n    type: posthog\n    base_url: {upstream.base_url}\n"
            ),
            forward=f"      - destination: ph\n        token: {{file: {key_file}}}\n",
            policy=POLICY,
        )
        with GatewayLogs() as logs, RecordedGateway(config) as gw:
            tab = Tab.open(chromium, gw.url)
            page = tab.page

            def names() -> set[str]:
                return {e["event"] for e in upstream.events}

            page.goto(site.url + PAGE)
            page_text = page.inner_text("body")
            page.click("#call")
            page.evaluate("email => signIn(email)", _planted.SIGNIN_EMAIL)
            # the SDK's batches go out by fetch while the page is open...
            wait_for(
                lambda: {"$pageview", "$autocapture", "$identify"} <= names(),
                60,
                "the page view, click and identify upstream",
            )
            wait_for(lambda: page.evaluate("flagsReady()"), 30, "flags")
            flags = page.evaluate("flagsState()")
            # ...and the last events by sendBeacon as the page goes away
            page.click("#away")
            page.wait_for_url("**/leave")
            wait_for(
                lambda: {"page_left", "$pageleave"} <= names(),
                60,
                "the events sent on unload upstream",
            )
            tab.context.close()
            # the browser is gone: everything it sent must now drain
            wait_for(
                lambda: (
                    gw.gateway.outbox.depth == 0  # type: ignore[attr-defined]
                    and {e["uuid"] for e in posthog_sent(gw.seen)}
                    <= {e["uuid"] for e in upstream.events}
                ),
                60,
                "every event the browser sent to be delivered",
            )
            yield Run(
                site,
                gw,
                upstream,
                gw.seen,
                page_text,
                flags,
                tab.errors,
                logs.lines,
                tmp / "data",
            )


def test_the_planted_values_are_on_the_page_and_in_what_the_browserposthog_sent(
    run: Run,
) -> None:
    assert _planted.PHONE in run.page_text
    sent = "\n".join(json.dumps(e) for e in posthog_sent(run.seen))
    assert sorted(_planted.found_in(sent)) == sorted(_planted.FORMS)


def test_no_planted_value_reaches_the_upstream(run: Run) -> None:
    assert run.upstream.raw_text() != ""
    assert _planted.found_in(run.upstream.raw_text()) == []


def test_no_planted_value_in_the_gateways_logs_or_files(run: Run) -> None:
    # the flags calls carry the visitor's email too; nothing of it is kept
    assert run.logs, "the gateway logged nothing: is the capture working?"
    assert _planted.found_in("\n".join(run.logs)) == []
    stored = stored_text(run.data_dir)
    assert "outbox" in "\n".join(p.name for p in run.data_dir.iterdir())
    assert _planted.found_in(stored) == []


def test_upstream_receives_exactly_the_sanitised_events_once(run: Run) -> None:
    assert run.upstream.violations == []
    received = run.upstream.events
    uuids = [e["uuid"] for e in received]
    duplicates = [u for u, n in collections.Counter(uuids).items() if n > 1]
    assert duplicates == []
    # each with the uuid the browser gave it
    assert sorted(uuids) == sorted({e["uuid"] for e in posthog_sent(run.seen)})
    expected = {e["uuid"]: _comparable(e) for e in _expected(run)}
    assert {e["uuid"]: _comparable(e) for e in received} == expected


def test_every_kind_of_event_arrived(run: Run) -> None:
    names = collections.Counter(e["event"] for e in run.upstream.events)
    # one page view, the two clicks (the button, then the link away), the
    # identify, the flag read, and the two events sent on unload
    assert names == {
        "$pageview": 1,
        "$autocapture": 2,
        "$identify": 1,
        "$feature_flag_called": 1,
        "$pageleave": 1,
        "page_left": 1,
    }


def _one(run: Run, name: str, **match: Any) -> dict[str, Any]:
    (event,) = [
        e
        for e in run.upstream.events
        if e["event"] == name
        and all(e["properties"].get(k) == v for k, v in match.items())
    ]
    return event


def test_the_page_view_keeps_the_page_but_not_its_query(run: Run) -> None:
    view = _one(run, "$pageview")["properties"]
    assert view["$current_url"] == f"{run.site.url}/posthog/reset"
    assert view["$pathname"] == "/posthog/reset"
    assert view["title"] == "Reset your password"
    assert view["token"] == UPSTREAM_KEY
    assert view["$ip"] == "127.0.0.0"
    # the SDK that ran is the one package-lock.json pins
    assert view["$lib_version"] == locked_version("posthog-js")


def test_the_click_keeps_its_words_and_loses_the_phone_number(run: Run) -> None:
    click = _one(run, "$autocapture", **{"$el_text": "Call me at [PHONE]"})
    properties = click["properties"]
    assert properties["$event_type"] == "click"
    assert 'text="Call me at [PHONE]"' in properties["$elements_chain"]
    assert 'attr__id="call"' in properties["$elements_chain"]


def test_identify_hashes_the_email_wherever_it_went(run: Run) -> None:
    sent = {e["uuid"]: e for e in posthog_sent(run.seen)}
    identify = _one(run, "$identify")
    raw = sent[identify["uuid"]]
    assert raw["properties"]["distinct_id"] == _planted.SIGNIN_EMAIL
    assert raw["$set"]["email"] == _planted.SIGNIN_EMAIL
    # posthog-js sends the distinct id inside the properties, and there it
    # stays
    distinct_id = identify["properties"]["distinct_id"]
    assert distinct_id not in ("", _planted.SIGNIN_EMAIL)
    assert (
        identify["properties"]["$anon_distinct_id"]
        != (raw["properties"]["$anon_distinct_id"])
    )
    # the person properties: the email hashed, the plan kept, the first
    # URL without its query
    assert identify["$set"]["plan"] == "pro"
    assert identify["$set"]["email"] not in ("", _planted.SIGNIN_EMAIL)
    assert identify["$set_once"]["$initial_current_url"] == (
        f"{run.site.url}/posthog/reset"
    )
    # the same person on every later event
    assert _one(run, "page_left")["properties"]["distinct_id"] == distinct_id


def test_the_unload_events_went_by_beacon_and_arrived(run: Run) -> None:
    by_uuid = {}
    for request in run.seen:
        if is_posthog_capture(request):
            for event in posthog_sent([request]):
                by_uuid[event["uuid"]] = request
    for name in ("page_left", "$pageleave"):
        event = _one(run, name)
        request = by_uuid[event["uuid"]]
        assert beacon(request), name
        assert request.status == 200
    assert _one(run, "page_left")["properties"]["reason"] == "navigated"
    fetched = [r for r in run.seen if is_posthog_capture(r) and not beacon(r)]
    assert fetched, "the SDK's own batches did not go by fetch"


def test_the_sdk_keeps_working_against_the_gateway(run: Run) -> None:
    # remote config and flags are answered by the gateway itself
    config = [s for s in run.seen if s.path.startswith("/array/")]
    assert config and all(s.status == 200 for s in config)
    flags = [s for s in run.seen if s.path.rstrip("/") in ("/flags", "/decide")]
    assert flags and all(s.status == 200 for s in flags)
    assert run.flags == {"ready": True, "fallback": "control"}
    # the remote config turned compression on: the SDK gzips its batches
    fetched = [r for r in run.seen if is_posthog_capture(r) and not beacon(r)]
    assert all(r.body[:2] == b"\x1f\x8b" for r in fetched)
    # and nothing else: no recordings (/s), no lazily loaded extensions
    paths = {s.path for s in run.seen}
    assert paths <= {
        "/e/",
        "/i/v0/e/",
        "/flags/",
        "/array/demo/config",
        "/array/demo/config.js",
    }
    failed = [
        (s.method, s.path, s.status) for s in run.seen if not 200 <= s.status < 300
    ]
    assert failed == []
    assert run.browser_errors == []
