"""The dashboard at /ui: its token, its self-contained assets, its JSON API,
and the page itself in headless Chromium while traffic flows."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import GatewayThread, gateway_thread, write_config
from redline.outbox import read_stats
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import checkout, track

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
UI_TOKEN_ENV = "REDLINE_TEST_UI_TOKEN"
UI_TOKEN = "ui-token-canary-77c1d0"


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayThread]:
    monkeypatch.setenv(UI_TOKEN_ENV, UI_TOKEN)
    config = write_config(tmp_path, extra=f"  ui_token: {{env: {UI_TOKEN_ENV}}}\n")
    with gateway_thread(config) as gw:
        yield gw


def test_without_the_token_the_page_and_api_are_refused(guarded: GatewayThread) -> None:
    page = httpx.get(guarded.url + "/ui")
    assert page.status_code == 401
    assert 'action="/ui/login"' in page.text
    api = httpx.get(guarded.url + "/ui/api/status")
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(
        guarded.url + "/ui/api/status", headers={"authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert UI_TOKEN not in page.text + api.text + wrong.text


def test_a_bearer_token_opens_the_api(guarded: GatewayThread) -> None:
    api = httpx.get(
        guarded.url + "/ui/api/status",
        headers={"authorization": f"Bearer {UI_TOKEN}"},
    )
    assert api.status_code == 200
    assert api.json()["policy"]["mode"] == "enforce"


def test_signing_in_sets_a_cookie_that_is_not_the_token(guarded: GatewayThread) -> None:
    with httpx.Client(base_url=guarded.url) as client:
        refused = client.post("/ui/login", data={"token": "wrong"})
        assert refused.status_code == 401
        signed = client.post("/ui/login", data={"token": UI_TOKEN})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert UI_TOKEN not in cookie
        assert client.get("/ui").status_code == 200
        assert client.get("/ui/api/status").status_code == 200


def test_without_a_token_the_dashboard_is_open(tmp_path: Path) -> None:
    with gateway_thread(write_config(tmp_path)) as gw:
        assert httpx.get(gw.url + "/ui").status_code == 200
        assert httpx.get(gw.url + "/ui/api/status").status_code == 200


def test_every_asset_is_served_by_redline_itself(tmp_path: Path) -> None:
    with gateway_thread(write_config(tmp_path)) as gw:
        page = httpx.get(gw.url + "/ui")
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs
        for ref in refs:
            assert ref.startswith("/ui/static/"), ref
            asset = httpx.get(gw.url + ref)
            assert asset.status_code == 200, ref
            assert asset.content
        script = httpx.get(gw.url + "/ui/static/app.js").text
        assert "http://" not in script and "https://" not in script
        assert "innerHTML" not in script
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert httpx.get(gw.url + "/ui/static/../ui.py").status_code == 404
        assert httpx.get(gw.url + "/ui/static/nothing.js").status_code == 404


class _Traffic(threading.Thread):
    """Sends batches until stopped; counts what it sent."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.sent = 0
        self.unknown = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            batch: list[dict[str, Any]] = list(checkout(20, f"t{n}"))
            batch.append({"event": "not_in_the_policy", "properties": {"time": 1}})
            batch.append(
                {
                    "event": "error",
                    "properties": {
                        # a time of its own: the same record twice would be
                        # taken for a repeat and queued once
                        "time": 1764230410 + n,
                        "message": "failed for someone@example.com",
                    },
                }
            )
            assert track(self.url, batch).status_code == 200
            self.sent += len(batch)
            self.unknown += 1
            n += 1
            time.sleep(0.05)


def _text(page: Any, selector: str) -> str:
    """The text of ``selector`` in a page or under a locator."""
    return str(page.locator(selector).inner_text()).strip()


def _count(page: Any, selector: str) -> int:
    return int(_text(page, selector).replace(",", ""))


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium); .ci/run installs it",
)
def test_dashboard_in_chromium_shows_traffic_findings_destinations_and_policy(
    tmp_path: Path, standin: MixpanelStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
    )
    # the first delivery upstream is refused for good: dead letters to show
    standin.fail_next([400])
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        gateway_thread(config) as gw,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            traffic = _Traffic(gw.url)
            traffic.start()
            page.goto(gw.url + "/ui")
            # figures move while traffic flows (polled from here: the page's
            # CSP forbids the string evaluation wait_for_function uses)
            wait_for(lambda: _count(page, "#total-received") > 0, 15)
            first = _count(page, "#total-received")
            wait_for(lambda: _count(page, "#total-received") > first, 15)
            time.sleep(2.5)  # a few seconds of chart
            traffic.stop.set()
            traffic.join(10)
            sent, unknown = traffic.sent, traffic.unknown
            kept = sent - unknown
            # after the traffic stops the page settles on exact figures
            wait_for(lambda: _count(page, "#total-received") == sent, 15)
            wait_for(lambda: gw.gateway.outbox.depth == 0, 15)  # type: ignore[attr-defined]
            (mp_stats,) = [
                r
                for r in read_stats(tmp_path / "data" / "outbox.db")
                if r.route == "demo/mp"
            ]
            dead = mp_stats.dead
            assert dead >= 21  # the first request's kept events, at least
            wait_for(lambda: _count(page, "#total-forwarded") == 2 * kept - dead, 15)

            for section in ("#events", "#findings", "#destinations", "#policy"):
                assert page.is_visible(section), section
            assert _count(page, "#total-accepted") == kept
            assert _count(page, "#total-dropped") == unknown
            assert _count(page, "#outbox-depth") == 0
            assert page.is_hidden("#report-banner")
            assert _text(page, "#ready") == "ready"
            assert _text(page, "#policy-mode") == "enforce"
            assert _text(page, "#policy-digest") == gw.gateway.engine.policy.digest

            # charts are drawn (Chart.js, served by Redline)
            assert page.evaluate(
                "['chart-events', 'chart-findings', 'chart-destinations']"
                ".every(id => Chart.getChart(id) !== undefined)"
            )
            points = page.evaluate(
                "Chart.getChart('chart-events').data.datasets[0].data.length"
            )
            assert points >= 2
            findings = _text(page, "#findings-by-property")
            assert "internal_note" in findings
            assert "not_in_the_policy" in findings
            assert "EMAIL" in findings  # the detector that fired in "error"

            local = page.locator("#destination-table tr[data-route='demo/local']")
            upstream = page.locator("#destination-table tr[data-route='demo/mp']")
            assert _count(local, "td.delivered") == kept
            wait_for(lambda: _count(upstream, "td.dead") == dead, 10)
            assert _count(upstream, "td.delivered") == kept - dead
            assert "HTTP 400 from /track" in _text(upstream, "td:last-child")

            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # report mode: the banner is driven by the policy's mode
            real = gw.gateway.engine.policy
            monkeypatch.setattr(gw.gateway.engine, "policy", _ReportMode(real))
            page.wait_for_selector("#report-banner", state="visible", timeout=10_000)
            assert _text(page, "#policy-mode") == "report"
            page.screenshot(
                path=str(ARTIFACTS / "dashboard-report-mode.png"), full_page=False
            )
            monkeypatch.setattr(gw.gateway.engine, "policy", real)
            page.wait_for_selector("#report-banner", state="hidden", timeout=10_000)
        finally:
            browser.close()

    assert errors == []
    origin = gw.url
    assert requests
    assert all(url.startswith(origin) for url in requests), [
        url for url in requests if not url.startswith(origin)
    ]
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


class _ReportMode:
    """A policy as it will look once report mode exists."""

    mode = "report"

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
