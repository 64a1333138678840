"""What the PostHog, Segment and Amplitude stand-ins share: a server on
127.0.0.1 in a thread that keeps every raw request and every accepted
record, checks each request with the subclass's ``check`` and answers as
the vendor would, with scripted failures (``fail_next``) for tests."""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import copy
import dataclasses
import gzip
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Scripted = int | tuple[int, Mapping[str, str]] | None


@dataclasses.dataclass(frozen=True)
class RawRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    content: bytes  # after gzip
    status: int

    def text(self) -> str:
        """Everything in the request with transport encodings undone."""
        parts = [self.method, self.path, unquote_plus(self.query)]
        for name, value in self.headers.items():
            parts.append(f"{name}: {value}")
            if name == "authorization" and value.lower().startswith("basic "):
                with contextlib.suppress(binascii.Error, ValueError):
                    parts.append(base64.b64decode(value[6:]).decode("utf-8", "replace"))
        body = self.content.decode("utf-8", "replace")
        parts += [body, unquote_plus(body)]
        return "\n".join(parts)


@dataclasses.dataclass
class Verdict:
    status: int
    body: Any  # JSON-able
    accepted: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    violations: list[str] = dataclasses.field(default_factory=list)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class VendorStandin:
    """Subclasses implement :meth:`check` and :meth:`refusal`."""

    name = "vendor"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: collections.deque[Scripted] = collections.deque()
        self._records: list[dict[str, Any]] = []
        self._requests: list[RawRequest] = []
        self._violations: list[str] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT"])]
        )

    def start(self) -> VendorStandin:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"{self.name}-standin-{self._port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"the {self.name} stand-in did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def fail_next(self, script: Iterable[Scripted]) -> None:
        with self._lock:
            self._script.extend(script)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._records)

    @property
    def requests(self) -> list[RawRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def raw_text(self) -> str:
        return "\n".join(r.text() for r in self.requests)

    # -- the server side

    def check(
        self, method: str, path: str, headers: Mapping[str, str], content: bytes
    ) -> Verdict:
        raise NotImplementedError

    def refusal(self, status: int, message: str) -> Any:
        return {"error": message}

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.url.path
        content = body
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            status, extra = scripted if isinstance(scripted, tuple) else (scripted, {})
            self._note(request, path, headers, body, status)
            return _json(status, self.refusal(status, "scripted"), dict(extra))
        try:
            if headers.get("content-encoding") == "gzip" or body[:2] == b"\x1f\x8b":
                content = gzip.decompress(body)
            verdict = self.check(request.method, path, headers, content)
        except Refused as exc:
            verdict = Verdict(
                exc.status, self.refusal(exc.status, str(exc)), violations=[str(exc)]
            )
        except Exception as exc:  # a broken body is the client's fault
            verdict = Verdict(
                400, self.refusal(400, "unreadable"), violations=[repr(exc)]
            )
        with self._lock:
            self._records.extend(verdict.accepted)
            self._violations.extend(f"{path}: {v}" for v in verdict.violations)
        self._note(request, path, headers, content, verdict.status)
        return _json(verdict.status, verdict.body, verdict.headers)

    def _note(
        self,
        request: Request,
        path: str,
        headers: dict[str, str],
        content: bytes,
        status: int,
    ) -> None:
        raw = RawRequest(
            request.method, path, request.url.query, headers, content, status
        )
        with self._lock:
            self._requests.append(raw)


def _json(status: int, body: Any, headers: dict[str, str]) -> Response:
    import json

    return Response(
        json.dumps(body).encode(), status, headers, media_type="application/json"
    )


def is_iso(value: Any, *, near: float | None = None, within: float = 30.0) -> bool:
    """True for an ISO 8601 time with a zone (near ``near`` when given)."""
    if not isinstance(value, str):
        return False
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        return False
    if near is not None:
        return abs(when.astimezone(UTC).timestamp() - near) <= within
    return True


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
