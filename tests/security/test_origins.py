"""Keys restricted to origins: CORS preflights, the requests themselves,
and what a real browser (headless Chromium) makes of both."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import GatewayThread, gateway_thread, write_config

from .conftest import track, track_body

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


def _config(tmp_path: Path, allowed: str, extra: str = "") -> Path:
    config = write_config(tmp_path, extra=extra)
    text = config.read_text().replace(
        "ingest_keys: [demo, demo-2]",
        f"ingest_keys:\n      - {{key: web-key, label: web, origins: ['{allowed}']}}\n"
        "      - {key: other-key, label: other, origins: ['https://other.example.org']}",
    )
    config.write_text(text)
    return config


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    with gateway_thread(_config(tmp_path, ALLOWED)) as gw:
        yield gw


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        url + "/track",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )


def test_a_preflight_from_an_origin_no_key_allows_is_refused(
    gateway: GatewayThread,
) -> None:
    refused = _preflight(gateway.url, OTHER)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers

    allowed = _preflight(gateway.url, ALLOWED)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ALLOWED


def test_a_key_used_from_an_origin_it_does_not_allow_is_refused(
    gateway: GatewayThread,
) -> None:
    # an origin another key allows passes the preflight, not this key
    wrong = track(gateway.url, "web-key", origin="https://other.example.org")
    assert wrong.status_code == 403
    assert wrong.json() == {
        "error": "ingest key not allowed from this origin",
        "status": "error",
    }
    assert "access-control-allow-origin" not in wrong.headers

    right = track(gateway.url, "web-key", origin=ALLOWED)
    assert right.json() == {"status": 1, "error": None}
    assert right.headers["access-control-allow-origin"] == ALLOWED
    # server-side clients send no origin; the origin list restrains browsers
    assert track(gateway.url, "web-key").json()["status"] == 1
    assert gateway.gateway.counters.received == 3


class _Page:
    """Serves one page from 127.0.0.1 on a port of its own: a browser
    origin of its own, in the loopback address space like the gateway (a
    page from elsewhere may not call loopback addresses at all)."""

    def __init__(self) -> None:
        self.html = b""
        # path -> JavaScript served beside the page
        self.scripts: dict[str, bytes] = {}
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                script = page.scripts.get(self.path)
                body = page.html if script is None else script
                kind = "text/html" if script is None else "text/javascript"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Page:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# sends as mixpanel-browser does (XHR, withCredentials, form data=), then
# once more with a JSON body, which needs a preflight
_SCRIPT = """
<!doctype html><html><body><script>
function send(body, type) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "%(gateway)s/track?verbose=1");
    xhr.withCredentials = true;
    xhr.setRequestHeader("Content-Type", type);
    xhr.onload = () => resolve({ok: true, status: xhr.status, text: xhr.responseText});
    xhr.onerror = () => resolve({ok: false, status: xhr.status, text: ""});
    xhr.send(body);
  });
}
window.results = Promise.all([
  send("data=%(data)s", "application/x-www-form-urlencoded"),
  send(JSON.stringify([{event: "json", properties: {token: "%(key)s",
        distinct_id: "u2"}}]), "application/json"),
]);
</script></body></html>
"""


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium); .ci/run installs it",
)
def test_in_chromium_a_key_works_from_its_origin_only(tmp_path: Path) -> None:
    with _Page() as allowed, _Page() as other:
        results, received = _run_pages(tmp_path, allowed, other)

    form, json_body = results["allowed"]
    assert form["ok"] and form["status"] == 200 and '"status":1' in form["text"]
    assert json_body["ok"] and json_body["status"] == 200
    # from the other origin: the form post reaches the gateway and is refused
    # (no CORS headers, so the page cannot read the answer); the JSON post
    # stops at its preflight and never reaches the gateway
    form, json_body = results["other"]
    assert not form["ok"] and form["status"] == 0
    assert not json_body["ok"] and json_body["status"] == 0
    # 2 from the allowed origin, 1 (refused) from the other
    assert received == 3


def _run_pages(
    tmp_path: Path, allowed: _Page, other: _Page
) -> tuple[dict[str, list[dict[str, object]]], int]:
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    with gateway_thread(_config(tmp_path, allowed.origin)) as gw:
        html = _SCRIPT % {
            "gateway": gw.url,
            "data": quote(track_body("web-key")["data"]),
            "key": "web-key",
        }
        allowed.html = other.html = html.encode()
        results = {}
        with sync_playwright() as pw:
            browser = _launch(pw)
            try:
                for name, server in (("allowed", allowed), ("other", other)):
                    page = browser.new_page()
                    page.goto(server.origin + "/")
                    results[name] = page.evaluate("window.results")
                    page.close()
            finally:
                browser.close()
        return results, gw.gateway.counters.received


# the real SDK, from the npm package the browser tests install (package.json
# at the repository root); REDLINE_NODE_MODULES points elsewhere
NODE_MODULES = Path(
    os.environ.get(
        "REDLINE_NODE_MODULES", Path(__file__).resolve().parents[2] / "node_modules"
    )
)
MIXPANEL_BROWSER = NODE_MODULES / "mixpanel-browser" / "dist" / "mixpanel.umd.js"

_SDK_PAGE = """
<!doctype html><html><body><script src="/sdk/mixpanel.js"></script><script>
window.results = new Promise((resolve) => {
  mixpanel.init("%(key)s", {
    api_host: "%(gateway)s",
    batch_requests: false,
    api_transport: "XHR",
    loaded: (mp) => mp.track("checkout", {plan: "pro"}, (r) => resolve(r)),
  });
});
</script></body></html>
"""


@pytest.mark.skipif(
    not CHROMIUM.exists() or not MIXPANEL_BROWSER.is_file(),
    reason="needs /usr/bin/chromium and mixpanel-browser under node_modules "
    "(npm ci with the repository's package.json, or REDLINE_NODE_MODULES)",
)
def test_mixpanel_browser_sends_with_a_key_from_its_origin_only(
    tmp_path: Path,
) -> None:
    with _Page() as allowed, _Page() as other:
        results, requests = _run_sdk(tmp_path, allowed, other)

    # the SDK's own verdict: sent from the allowed origin, failed from the other
    assert results["allowed"] == 1
    assert results["other"] == 0
    # the gateway accepted the one and refused the other for its origin
    assert requests.get("track 200") == 1
    assert requests.get("track 403") == 1


def _run_sdk(
    tmp_path: Path, allowed: _Page, other: _Page
) -> tuple[dict[str, object], dict[str, int]]:
    from playwright.sync_api import sync_playwright

    with gateway_thread(_config(tmp_path, allowed.origin)) as gw:
        html = _SDK_PAGE % {"gateway": gw.url, "key": "web-key"}
        for page in (allowed, other):
            page.html = html.encode()
            page.scripts["/sdk/mixpanel.js"] = MIXPANEL_BROWSER.read_bytes()
        results = {}
        with sync_playwright() as pw:
            browser = _launch(pw)
            try:
                for name, server in (("allowed", allowed), ("other", other)):
                    tab = browser.new_page()
                    tab.goto(server.origin + "/")
                    results[name] = tab.evaluate("window.results")
                    tab.close()
            finally:
                browser.close()
        requests = dict(gw.gateway.counters.requests)
        return results, requests


def _launch(pw: Any) -> Any:
    # the flags ENVIRONMENT.md names: root, no GPU, no calls outside
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
