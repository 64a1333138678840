"""The two servers a browser test needs besides the gateway and the
stand-ins: a static site that serves the test pages and the SDK bundles
installed from the npm registry, and a recorder in front of the gateway
that keeps every request the browser made, exactly as it arrived.

The recorder sits inside the gateway's own server (an ASGI wrapper), so it
sees what a browser sends while a page unloads (``sendBeacon``), which the
browser's own request events do not report reliably once the page is gone.
"""

from __future__ import annotations

import dataclasses
import http.server
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import GatewayThread
from redline import config as config_mod
from redline._logs import JsonFormatter

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"
PAGES = Path(__file__).resolve().parent / "pages"

# URL path -> the file under node_modules it serves (the packages' own
# browser builds, as a site would host them)
BUNDLES = {
    "/sdk/mixpanel-browser.js": "mixpanel-browser/dist/mixpanel.umd.js",
    "/sdk/posthog-js.js": "posthog-js/dist/array.full.js",
}
# URL path -> page; any query string is the page's business
ROUTES = {
    "/mixpanel/reset": "mixpanel.html",
    "/posthog/reset": "posthog.html",
    "/leave": "leave.html",
}


def locked_version(package: str) -> str:
    """The version of an npm package that package-lock.json pins."""
    import json

    lock = json.loads((REPO / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def missing_bundles() -> list[str]:
    return [p for p in BUNDLES.values() if not (NODE_MODULES / p).is_file()]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in BUNDLES:
            self._send(NODE_MODULES / BUNDLES[path], "text/javascript")
        elif path in ROUTES:
            self._send(PAGES / ROUTES[path], "text/html; charset=utf-8")
        elif path == "/favicon.ico":
            # browsers ask for one; a 404 would show as a console error
            self.send_response(204)
            self.end_headers()
        else:
            self.send_error(404)

    def _send(self, file: Path, media_type: str) -> None:
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("content-type", media_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the pages' URLs hold the canaries: keep them out of output


class Site:
    """The test pages on 127.0.0.1, another origin than the gateway's."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="browser-site", daemon=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request the gateway received, and the status it answered."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int
    at: float  # time.monotonic()


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Recorder:
    def __init__(self, inner: App) -> None:
        self.inner = inner
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        # (method, path, lower-cased headers) -> answer 503 instead of the
        # gateway, as a gateway that is briefly busy does
        self.busy: Callable[[str, str, dict[str, str]], bool] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = 0
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        busy = self.busy
        if busy is not None and busy(scope["method"], scope["path"], headers):
            await _busy(send, headers.get("origin"))
            return

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.inner(scope, replay, watch)
        finally:
            seen = Seen(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=body,
                status=status,
                at=time.monotonic(),
            )
            with self._lock:
                self.seen.append(seen)


async def _busy(send: Send, origin: str | None) -> None:
    # readable cross-origin (else a browser SDK sees a network error, not a
    # status), and in Mixpanel's verbose shape
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
    if origin:
        headers += [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
        ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    body = b'{"status": 0, "error": "busy"}'
    await send({"type": "http.response.body", "body": body})


class RecordedGateway(GatewayThread):
    """A real gateway in a thread whose every request is kept in
    :attr:`seen` (the gateway code is untouched: the recorder wraps the
    app the server runs)."""

    def __init__(self, config_path: Path) -> None:
        super().__init__(config_mod.load(config_path))
        self._recorder = _Recorder(self.server.config.app)
        self.server.config.app = self._recorder

    def busy(self, when: Callable[[str, str, dict[str, str]], bool] | None) -> None:
        """Answer the requests ``when`` picks with 503 (not recorded), or,
        with None, pass everything to the gateway again."""
        self._recorder.busy = when

    @property
    def seen(self) -> list[Seen]:
        with self._recorder._lock:
            return list(self._recorder.seen)

    def __enter__(self) -> RecordedGateway:
        super().__enter__()
        return self


@dataclasses.dataclass
class Tab:
    """A fresh browser context (empty storage) with one page whose SDK
    sends to ``gateway_url``, and the errors the page logged."""

    context: Any
    page: Any
    errors: list[str]

    @classmethod
    def open(cls, browser: Any, gateway_url: str) -> Tab:
        import json

        context = browser.new_context()
        # the pages read the gateway's address from here, so that their URL
        # holds only what a real page's would
        context.add_init_script(f"window.REDLINE_GATEWAY = {json.dumps(gateway_url)};")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: errors.append(msg.text) if msg.type == "error" else None,
        )
        return cls(context, page, errors)


def beacon(request: Seen) -> bool:
    """Whether ``request`` was sent by ``navigator.sendBeacon``: a beacon
    with a CORS-safelisted body goes out in no-cors mode, where the SDKs'
    own fetch and XHR calls to another origin are in cors mode."""
    return request.headers.get("sec-fetch-mode") == "no-cors"


class GatewayLogs(logging.Handler):
    """Every line the gateway logs, at every level, formatted as it writes
    them, while in use (``with GatewayLogs() as logs: ... logs.lines``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self._logger = logging.getLogger("redline")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> GatewayLogs:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def stored_text(directory: Path) -> str:
    """Every file under ``directory`` (the gateway's data: outbox, keys,
    aggregates, with their write-ahead logs), as text, for canary searches."""
    return "\n".join(
        path.read_bytes().decode("latin-1")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )
