"""A visitor leaves a page and comes back: each event still reaches the
upstream once.

mixpanel-browser flushes its queue by ``sendBeacon`` as a page hides and,
since a beacon reports nothing back, keeps those events queued and sends
them again on the next load, counting on the vendor to deduplicate by
``$insert_id`` (its source says so). posthog-js keeps no queue across
loads. A gateway that forwards to any destination (a local store, another
vendor) must not turn those repeats into duplicate events."""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import write_config
from standins.mixpanel import MixpanelStandin
from standins.posthog import PostHogStandin

from . import _planted
from ._site import RecordedGateway, Seen, Site, Tab, beacon
from ._wire import mixpanel_sent, posthog_sent
from .conftest import wait_for

pytestmark = pytest.mark.slow

POLICY = Path(__file__).resolve().parent / "policy.yaml"
KEY = "upstream-key-revisit-8d14"
# mixpanel-browser's queue of events in localStorage (token "demo")
MIXPANEL_QUEUE = "__mpq_demo_ev"


def _config(tmp: Path, vendor: str, base_url: str) -> Path:
    key_file = tmp / "upstream-key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)  # the gateway refuses secret files others can read
    return write_config(
        tmp,
        destinations=f"  up:\n    type: {vendor}\n    base_url: {base_url}\n",
        forward=f"      - destination: up\n        token: {{file: {key_file}}}\n",
        policy=POLICY,
    )


def _once(received: list[tuple[str, str]]) -> list[str]:
    """The names of the events that arrived more than once."""
    ids = collections.Counter(i for _, i in received)
    return sorted({name for name, i in received if ids[i] > 1})


def _counter(received: Callable[[], list[tuple[str, str]]]) -> Callable[[str], int]:
    """How many distinct events of a name arrived (repeats count once)."""
    return lambda name: len({i for n, i in received() if n == name})


def _drained(gw: RecordedGateway, sent: list[str], received: set[str]) -> bool:
    return not gw.gateway.outbox.depth and set(sent) <= received  # type: ignore[attr-defined]


def test_mixpanel_browser_return_visit_sends_nothing_upstream_twice(
    chromium: Any, site: Site, tmp_path: Path
) -> None:
    with MixpanelStandin(token=KEY) as upstream:
        config = _config(tmp_path, "mixpanel", upstream.base_url)
        with RecordedGateway(config) as gw:

            def received() -> list[tuple[str, str]]:
                return [
                    (r["event"], r["properties"]["$insert_id"])
                    for r in upstream.events_for("track")
                ]

            def sent(seen: list[Seen]) -> list[str]:
                return [
                    r["properties"]["$insert_id"] for r in mixpanel_sent(seen, "track")
                ]

            count = _counter(received)
            tab = Tab.open(chromium, gw.url)
            page = tab.page
            # first visit: the gateway is busy for the SDK's own flushes, so
            # that the events leave by the beacon as the page unloads
            gw.busy(
                lambda method, path, headers: (
                    path == "/track/"
                    and method == "POST"
                    and headers.get("sec-fetch-mode") == "cors"
                )
            )
            page.goto(f"{site.url}/mixpanel/reset?{_planted.RESET_QUERY}")
            page.click("#call")
            page.click("#away")
            page.wait_for_url("**/leave")
            wait_for(
                lambda: count("$mp_click") == 2 and count("page_left") == 1,
                60,
                "the clicks and the unload event",
            )
            assert all(beacon(s) for s in gw.seen if s.path == "/track/")
            gw.busy(None)

            # come back: a fresh load of the same page in the same browser
            page.goto(f"{site.url}/mixpanel/reset")
            wait_for(lambda: count("$mp_web_page_view") == 2, 60, "the second view")
            wait_for(
                lambda: page.evaluate(
                    f"JSON.parse(localStorage.getItem('{MIXPANEL_QUEUE}') || '[]')"
                    ".length === 0"
                ),
                60,
                "the SDK's queue to empty",
            )
            tab.context.close()
            wait_for(
                lambda: _drained(gw, sent(gw.seen), {i for _, i in received()}),
                60,
                "everything the browser sent to be delivered",
            )
            assert _once(received()) == []
            assert upstream.violations == []


def test_posthog_js_return_visit_sends_nothing_upstream_twice(
    chromium: Any, site: Site, tmp_path: Path
) -> None:
    with PostHogStandin(api_key=KEY) as upstream:
        config = _config(tmp_path, "posthog", upstream.base_url)
        with RecordedGateway(config) as gw:

            def received() -> list[tuple[str, str]]:
                return [(e["event"], e["uuid"]) for e in upstream.events]

            def sent(seen: list[Seen]) -> list[str]:
                return [e["uuid"] for e in posthog_sent(seen)]

            count = _counter(received)
            tab = Tab.open(chromium, gw.url)
            page = tab.page
            page.goto(f"{site.url}/posthog/reset?{_planted.RESET_QUERY}")
            page.click("#call")
            page.click("#away")
            page.wait_for_url("**/leave")
            wait_for(
                lambda: count("$autocapture") == 2 and count("page_left") == 1,
                60,
                "the clicks and the unload event",
            )
            page.goto(f"{site.url}/posthog/reset")
            wait_for(lambda: count("$pageview") == 2, 60, "the second page view")
            tab.context.close()
            wait_for(
                lambda: _drained(gw, sent(gw.seen), {i for _, i in received()}),
                60,
                "everything the browser sent to be delivered",
            )
            assert any(beacon(s) for s in gw.seen)
            assert _once(received()) == []
            assert upstream.violations == []
