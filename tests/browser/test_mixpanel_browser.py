"""mixpanel-browser, from the npm registry, on a page served locally and
driven in headless Chromium, sends through a real gateway to the Mixpanel
stand-in: a page view whose URL holds an email and a reset token, an
autocaptured click on a button whose text holds a phone number, an identify
with an email, and an event sent by ``sendBeacon`` as the page unloads.

The stand-in must receive exactly the sanitised events, each once, with the
insert ids the browser gave them, and none of the planted values."""

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
from redline.protocols import mixpanel as mp_protocol
from standins.mixpanel import MixpanelStandin

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
from ._wire import mixpanel_sent
from .conftest import wait_for

pytestmark = pytest.mark.slow

POLICY = Path(__file__).resolve().parent / "policy.yaml"
UPSTREAM_TOKEN = "upstream-token-mp-browser-3c81"
PAGE = f"/mixpanel/reset?{_planted.RESET_QUERY}"
CLIENT = "127.0.0.1"


@dataclasses.dataclass
class Run:
    site: Site
    gateway: RecordedGateway
    upstream: MixpanelStandin
    seen: list[Seen]  # every request the gateway got from the browser
    page_text: str
    flags: dict[str, Any]
    browser_errors: list[str]
    logs: list[str]  # what the gateway logged, at every level
    data_dir: Path


def _expected(run: Run, endpoint: str) -> list[dict[str, Any]]:
    """What the gateway's own engine makes of what the browser sent: the
    records the stand-in must hold, no more, no fewer."""
    engine = run.gateway.gateway.engine
    expected: list[dict[str, Any]] = []
    for request in run.seen:
        if request.method != "POST" or request.path.strip("/") != endpoint:
            continue
        decoded = mp_protocol.decode(
            endpoint,  # type: ignore[arg-type]
            request.method,
            dict(parse_qsl(request.query)),
            request.headers,
            request.body,
            max_body_bytes=10_000_000,
            max_records=2000,
        )
        assert decoded.failures == []
        for event in decoded.events:
            if event.ip is None and decoded.options.ip:
                event.ip = CLIENT
            clean = engine.apply(event).event
            if clean is None:
                continue
            upstream = mp_protocol.encode_upstream(endpoint, [clean], UPSTREAM_TOKEN)  # type: ignore[arg-type]
            form = dict(parse_qsl(upstream.body.decode("ascii")))
            expected.extend(json.loads(form["data"]))
    return expected


def _insert_ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["properties"]["$insert_id"] for r in records]


@pytest.fixture(scope="module")
def run(
    chromium: Any, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("mixpanel-browser")
    token_file = tmp / "upstream-token"
    token_file.write_text(UPSTREAM_TOKEN)
    token_file.chmod(0o600)  # the gateway refuses secret files others can read
    with MixpanelStandin(token=UPSTREAM_TOKEN) as upstream:
        config = write_config(
            tmp,
            destinations=(
                f"  mp:\n    type: mixpanel\n    base_url: {upstream.base_url}\n"
            ),
            forward=f"      - destination: mp\n        token: {{file: {token_file}}}\n",
            policy=POLICY,
        )
        with GatewayLogs() as logs, RecordedGateway(config) as gw:
            tab = Tab.open(chromium, gw.url)
            page = tab.page

            page.goto(site.url + PAGE)
            page_text = page.inner_text("body")
            page.click("#call")
            page.evaluate("email => signIn(email)", _planted.SIGNIN_EMAIL)
            # the SDK's batches go out by XHR while the page is open...
            wait_for(
                lambda: (
                    {"$mp_web_page_view", "$mp_click", "$identify"}
                    <= {r["event"] for r in upstream.events_for("track")}
                    and upstream.events_for("engage") != []
                ),
                60,
                "the page view, click, identify and profile update upstream",
            )
            wait_for(lambda: page.evaluate("flagsReady()"), 30, "flags to load")
            flags = page.evaluate("flagsState()")
            # ...and the last event by sendBeacon as the page goes away
            page.click("#away")
            page.wait_for_url("**/leave")
            wait_for(
                lambda: (
                    "page_left" in {r["event"] for r in upstream.events_for("track")}
                ),
                60,
                "the event sent on unload upstream",
            )
            tab.context.close()
            # the browser is gone: everything it sent must now drain
            wait_for(
                lambda: (
                    gw.gateway.outbox.depth == 0  # type: ignore[attr-defined]
                    and set(_insert_ids(mixpanel_sent(gw.seen, "track")))
                    <= set(_insert_ids(upstream.events_for("track")))
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


def test_the_planted_values_are_on_the_page_and_in_what_the_browsermixpanel_sent(
    run: Run,
) -> None:
    # the canaries are real: the SDK did send them to the gateway
    assert _planted.PHONE in run.page_text
    sent = "\n".join(json.dumps(r) for r in mixpanel_sent(run.seen, "track"))
    sent += "\n".join(json.dumps(r) for r in mixpanel_sent(run.seen, "engage"))
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
    received = run.upstream.events_for("track")
    ids = _insert_ids(received)
    duplicates = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert duplicates == []
    # each with the insert id the browser gave it
    sent = mixpanel_sent(run.seen, "track")
    assert sorted(ids) == sorted(set(_insert_ids(sent)))
    expected = {r["properties"]["$insert_id"]: r for r in _expected(run, "track")}
    assert {r["properties"]["$insert_id"]: r for r in received} == expected
    profiles = run.upstream.events_for("engage")
    assert sorted(map(json.dumps, profiles)) == sorted(
        map(json.dumps, _expected(run, "engage"))
    )


def test_every_kind_of_event_arrived(run: Run) -> None:
    names = collections.Counter(r["event"] for r in run.upstream.events_for("track"))
    # one page view, the two clicks (the button, then the link away), the
    # identify and the unload event
    assert names == {
        "$mp_web_page_view": 1,
        "$mp_click": 2,
        "$identify": 1,
        "page_left": 1,
    }


def _one(run: Run, name: str, **match: Any) -> dict[str, Any]:
    (record,) = [
        r["properties"]
        for r in run.upstream.events_for("track")
        if r["event"] == name
        and all(r["properties"].get(k) == v for k, v in match.items())
    ]
    return record


def test_the_page_view_keeps_the_page_but_not_its_query(run: Run) -> None:
    view = _one(run, "$mp_web_page_view")
    assert view["$current_url"] == f"{run.site.url}/mixpanel/reset"
    assert view["current_url_path"] == "/mixpanel/reset"
    assert "current_url_search" not in view
    assert view["current_page_title"] == "Reset your password"
    assert view["token"] == UPSTREAM_TOKEN
    assert view["ip"] == "127.0.0.0"
    # the SDK that ran is the one package-lock.json pins
    assert view["$lib_version"] == locked_version("mixpanel-browser")


def test_the_click_keeps_its_words_and_loses_the_phone_number(run: Run) -> None:
    click = _one(run, "$mp_click", **{"$el_id": "call"})
    assert click["$el_text"] == "Call me at [PHONE]"
    assert click["$el_tag_name"] == "button"


def test_identify_hashes_the_email_wherever_it_went(run: Run) -> None:
    sent = {
        r["properties"]["$insert_id"]: r["properties"]
        for r in mixpanel_sent(run.seen, "track")
    }
    identify = _one(run, "$identify")
    raw = sent[identify["$insert_id"]]
    assert raw["distinct_id"] == _planted.SIGNIN_EMAIL
    assert identify["distinct_id"] not in ("", raw["distinct_id"])
    assert identify["$user_id"] == identify["distinct_id"]
    assert identify["$anon_distinct_id"] != raw["$anon_distinct_id"]
    # the same person on every later event
    assert _one(run, "page_left")["distinct_id"] == identify["distinct_id"]
    (profile,) = [
        p for p in run.upstream.events_for("engage") if "$email" in p.get("$set", {})
    ]
    assert profile["$set"]["plan"] == "pro"
    assert profile["$set"]["$email"] != _planted.SIGNIN_EMAIL
    assert profile["$distinct_id"] == identify["distinct_id"]


def test_the_unload_event_went_by_beacon_and_arrived(run: Run) -> None:
    left = _one(run, "page_left")
    assert left["reason"] == "navigated"
    (request,) = [
        s
        for s in run.seen
        if s.method == "POST"
        and any(
            r["properties"].get("$insert_id") == left["$insert_id"]
            for r in mixpanel_sent([s], "track")
        )
    ]
    assert beacon(request)
    # a beacon's body is text/plain; the SDK's XHRs send a form
    assert request.headers["content-type"].startswith("text/plain")
    assert request.status == 200
    xhr = [s for s in run.seen if s.method == "POST" and not beacon(s)]
    assert xhr, "the SDK's own batches did not go by XHR"
    assert all(
        s.headers["content-type"].startswith("application/x-www-form-urlencoded")
        for s in xhr
    )


def test_the_sdk_keeps_working_against_the_gateway(run: Run) -> None:
    flags = [s for s in run.seen if s.path.strip("/") == "flags"]
    assert flags and all(s.status in (200, 204) for s in flags)
    assert run.flags == {"ready": True, "fallback": "control"}
    # and nothing else: no session replay, no remote settings
    assert {s.path for s in run.seen} <= {"/track/", "/engage/", "/flags/"}
    assert [
        (s.method, s.path, s.status) for s in run.seen if not 200 <= s.status < 300
    ] == []
    assert run.browser_errors == []
