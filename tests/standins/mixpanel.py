"""A stand-in for Mixpanel's ingestion API that checks every request.

It takes ``POST /track``, ``/engage``, ``/groups`` (form ``data=`` with a JSON
object or array, ``verbose``) and ``POST /import`` (a JSON array or NDJSON
with HTTP Basic auth and ``strict``, or the legacy form mixpanel-python
sends), checks them against the documented format (protocols.md §1), keeps
every accepted record and every raw request, and answers as Mixpanel does.
Anything malformed is answered 400 (401 for bad credentials) and noted in
:attr:`MixpanelStandin.violations`; tests assert that list is empty.

    with MixpanelStandin(token="tok") as mp:
        post(mp.base_url + "/track", ...)
        assert mp.violations == []
        assert mp.events[0]["event"] == "Signed Up"

``mp.fail_next([500, (429, {"Retry-After": "1"}), 413])`` answers the next
requests with those statuses (one each; ``None`` handles a request
normally), and ``max_batch`` answers 413 to bigger batches. The stand-in
deduplicates nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import copy
import dataclasses
import gzip
import json
import math
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ENDPOINTS = ("track", "engage", "groups", "import")
# Mixpanel's documented ceiling per request (protocols.md §1.6)
MIXPANEL_MAX_RECORDS = 2000
# 1971-01-01: Mixpanel refuses anything older
_EARLIEST = 31_536_000
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
# distinct_id and $insert_id values Mixpanel refuses on /import
_INVALID_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)
_PROFILE_OPS = frozenset(
    {"$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete"}
)
_GROUP_OPS = frozenset(
    {"$set", "$set_once", "$add", "$union", "$remove", "$unset", "$delete"}
)
_OBJECT_OPS = frozenset({"$set", "$set_once", "$add", "$append", "$union", "$remove"})
_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
}

Scripted = int | tuple[int, Mapping[str, str]] | None


@dataclasses.dataclass(frozen=True)
class RawRequest:
    """One request as it arrived, and what the stand-in answered."""

    method: str
    path: str
    query: str  # the raw query string
    headers: dict[str, str]  # lower-cased names
    body: bytes  # as received
    content: bytes  # after Content-Encoding / gzip
    form: dict[str, str]  # the form fields, if the body was a form
    status: int
    endpoint: str | None
    received_at: float = 0.0  # time.monotonic() on arrival

    def text(self) -> str:
        """Everything in the request with transport encodings undone.

        Path, query, headers (Basic credentials decoded), the body raw,
        percent-decoded and, for a base64 ``data`` field, base64-decoded:
        what a canary search must look through.
        """
        parts = [self.method, self.path, unquote_plus(self.query)]
        for name, value in self.headers.items():
            parts.append(f"{name}: {value}")
            if name == "authorization":
                parts.append(_basic(value)[0] or "")
                parts.append(_basic(value)[1] or "")
        body = self.content.decode("utf-8", "replace")
        parts += [body, unquote_plus(body)]
        for name, value in self.form.items():
            parts.append(f"{name}={value}")
            decoded = _b64(value) if name == "data" else None
            if decoded is not None:
                parts.append(decoded.decode("utf-8", "replace"))
        return "\n".join(parts)


@dataclasses.dataclass(frozen=True)
class Received:
    """One accepted record and the endpoint it came to."""

    endpoint: str
    record: dict[str, Any]
    request_index: int


@dataclasses.dataclass
class _Verdict:
    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    accepted: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    violations: list[str] = dataclasses.field(default_factory=list)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class MixpanelStandin:
    """Mixpanel's ingestion API on 127.0.0.1, for tests.

    ``token``: the project token records must carry (None accepts any
    non-empty token). ``import_auth``: the ``(user, password)`` that
    ``/import`` requires as Basic auth (None: any or none). ``project_id``:
    the ``project_id`` query parameter ``/import`` requires (None: not
    checked). ``max_batch``: more records in one request answer 413.
    ``require_time`` / ``require_insert_id``: ``/track`` records need them
    (``/import`` always does).
    """

    def __init__(
        self,
        *,
        token: str | None = "standin-token",
        import_auth: tuple[str, str] | None = None,
        project_id: str | None = None,
        max_batch: int | None = None,
        require_time: bool = True,
        require_insert_id: bool = True,
    ) -> None:
        self.token = token
        self.import_auth = import_auth
        self.project_id = project_id
        self.max_batch = max_batch
        self.require_time = require_time
        self.require_insert_id = require_insert_id
        self._lock = threading.Lock()
        self._script: collections.deque[Scripted] = collections.deque()
        self._records: list[Received] = []
        self._requests: list[RawRequest] = []
        self._violations: list[str] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"],
                )
            ]
        )

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> MixpanelStandin:
        if self._server is not None:
            raise RuntimeError("the stand-in is already running")
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
            name=f"mixpanel-standin-{self._port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the Mixpanel stand-in did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> MixpanelStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("start the stand-in first")
        return f"http://127.0.0.1:{self._port}"

    def url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint}"

    def fail_next(self, script: Iterable[Scripted]) -> None:
        """Answer the next requests with these statuses, one per request.

        An item is a status, ``(status, headers)``, or None to handle that
        request normally. Scripted answers store nothing.
        """
        items = list(script)
        for item in items:
            status = item[0] if isinstance(item, tuple) else item
            if status is not None and not 400 <= status <= 599:
                raise ValueError("scripted statuses must be 4xx or 5xx")
        with self._lock:
            self._script.extend(items)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every accepted record, all endpoints, in arrival order."""
        with self._lock:
            return [copy.deepcopy(r.record) for r in self._records]

    @property
    def records(self) -> list[Received]:
        with self._lock:
            return list(self._records)

    def events_for(self, endpoint: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(r.record) for r in self._records if r.endpoint == endpoint
            ]

    @property
    def requests(self) -> list[RawRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def raw_text(self) -> str:
        """All requests' :meth:`RawRequest.text`, for canary searches."""
        return "\n".join(request.text() for request in self.requests)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._records.clear()
            self._requests.clear()
            self._violations.clear()

    # -- the server side --------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.url.path
        query = request.url.query
        endpoint = path.strip("/")
        known = endpoint if endpoint in ENDPOINTS else None
        with self._lock:
            scripted = self._script.popleft() if self._script else None

        content = body
        form: dict[str, str] = {}
        if scripted is not None:
            verdict = _scripted(known, scripted)
        else:
            verdict, content, form = self._check(
                known, request.method, query, headers, body
            )
        raw = RawRequest(
            method=request.method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            content=content,
            form=form,
            status=verdict.status,
            endpoint=known,
            received_at=time.monotonic(),
        )
        with self._lock:
            index = len(self._requests)
            self._requests.append(raw)
            self._violations.extend(
                f"{request.method} {path}: {v}" for v in verdict.violations
            )
            self._records.extend(
                Received(known or "?", record, index) for record in verdict.accepted
            )
        return Response(
            verdict.body, verdict.status, verdict.headers, verdict.media_type
        )

    def _check(
        self,
        endpoint: str | None,
        method: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[_Verdict, bytes, dict[str, str]]:
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        content = body
        form: dict[str, str] = {}
        verbose = query.get("verbose") == "1"
        json_shape = endpoint == "import"
        try:
            if endpoint is None:
                raise _Refused(404, "not a Mixpanel ingestion path")
            if method != "POST":
                raise _Refused(405, f"{method} is not how server SDKs send")
            content = _decompress(body, headers)
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if endpoint == "import":
                self._check_auth(query, headers)
            if kind == "application/x-www-form-urlencoded":
                form = _form(content)
                verbose = form.get("verbose", query.get("verbose")) == "1"
                json_shape = False
                records = _records_from_data(form.get("data"))
            elif kind == "application/json" and endpoint != "groups":
                records = _records_from_json(content, array_only=endpoint == "import")
            elif kind == "application/x-ndjson" and endpoint == "import":
                records = _records_from_ndjson(content)
            else:
                raise _Refused(400, f"Content-Type {kind or '(none)'} not accepted")
        except _Refused as refused:
            verdict = _refusal(refused, json_shape=json_shape, verbose=verbose)
            if refused.status != 413:
                verdict.violations.append(str(refused))
            return verdict, content, form

        if len(records) > MIXPANEL_MAX_RECORDS:
            over = _Refused(400, f"{len(records)} records, over Mixpanel's limit")
            verdict = _refusal(over, json_shape=json_shape, verbose=verbose)
            verdict.violations.append(str(over))
            return verdict, content, form
        if self.max_batch is not None and len(records) > self.max_batch:
            too_large = _Refused(413, f"batch over {self.max_batch} records")
            return (
                _refusal(too_large, json_shape=json_shape, verbose=verbose),
                content,
                form,
            )

        accepted: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            problem = self._record_problem(endpoint, record)
            if problem is None:
                accepted.append(record)
                continue
            field, message = problem
            failed.append(
                {
                    "index": index,
                    "$insert_id": _insert_id_of(record),
                    "field": field,
                    "message": message,
                }
            )
        violations = [
            f"record {f['index']}: {f['field']}: {f['message']}" for f in failed
        ]
        verdict = _records_verdict(
            accepted=len(accepted),
            failed=failed,
            json_shape=json_shape,
            verbose=verbose,
            strict=query.get("strict", "1") != "0",
        )
        verdict.accepted = accepted
        verdict.violations = violations
        return verdict, content, form

    def _check_auth(self, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        if self.import_auth is not None:
            user, password = _basic(headers.get("authorization", ""))
            if (user, password or "") != self.import_auth:
                raise _Refused(401, "Invalid credentials")
        if self.project_id is not None and query.get("project_id") != self.project_id:
            raise _Refused(401, "Invalid credentials")

    def _record_problem(self, endpoint: str, record: Any) -> tuple[str, str] | None:
        if not isinstance(record, dict):
            return "record", "not a JSON object"
        if endpoint == "engage":
            return self._profile_problem(record)
        if endpoint == "groups":
            return self._group_problem(record)
        return self._event_problem(record, imported=endpoint == "import")

    def _token_problem(self, value: Any, field: str) -> tuple[str, str] | None:
        if not isinstance(value, str) or not value:
            return field, "missing or empty"
        if self.token is not None and value != self.token:
            return field, "not the project token"
        return None

    def _event_problem(
        self, record: dict[str, Any], *, imported: bool
    ) -> tuple[str, str] | None:
        if not isinstance(record.get("event"), str) or not record["event"]:
            return "event", "missing or empty"
        properties = record.get("properties")
        if not isinstance(properties, dict):
            return "properties", "missing or not an object"
        if not imported or "token" in properties:
            problem = self._token_problem(properties.get("token"), "properties.token")
            if problem:
                return problem
        if "time" in properties or imported or self.require_time:
            problem = _time_problem(properties.get("time"))
            if problem:
                return problem
        if "distinct_id" in properties or imported:
            distinct_id = properties.get("distinct_id")
            if not _is_identifier(distinct_id):
                return "properties.distinct_id", "missing or not a string or number"
            if imported and str(distinct_id).lower() in _INVALID_IDS:
                return "properties.distinct_id", "a value Mixpanel refuses"
        if "$insert_id" in properties or imported or self.require_insert_id:
            insert_id = properties.get("$insert_id")
            if not isinstance(insert_id, str) or not _INSERT_ID.fullmatch(insert_id):
                return "properties.$insert_id", "missing, or not 1-36 of [A-Za-z0-9-]"
            if insert_id.lower() in _INVALID_IDS:
                return "properties.$insert_id", "a value Mixpanel refuses"
        return None

    def _profile_problem(self, record: dict[str, Any]) -> tuple[str, str] | None:
        problem = self._token_problem(record.get("$token"), "$token")
        if problem:
            return problem
        if not _is_identifier(record.get("$distinct_id")):
            return "$distinct_id", "missing or not a string or number"
        return _ops_problem(record, _PROFILE_OPS)

    def _group_problem(self, record: dict[str, Any]) -> tuple[str, str] | None:
        problem = self._token_problem(record.get("$token"), "$token")
        if problem:
            return problem
        if not isinstance(record.get("$group_key"), str) or not record["$group_key"]:
            return "$group_key", "missing or empty"
        if not _is_identifier(record.get("$group_id")):
            return "$group_id", "missing or not a string or number"
        return _ops_problem(record, _GROUP_OPS)


# -- checks ----------------------------------------------------------------


def _time_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "properties.time", "missing or not a number"
    seconds = value / 1000 if value > 1e11 else value
    if not math.isfinite(seconds) or seconds < _EARLIEST:
        return "properties.time", "before 1971-01-01"
    if seconds > time.time() + 3600:
        return "properties.time", "more than an hour in the future"
    return None


def _is_identifier(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


def _ops_problem(
    record: dict[str, Any], allowed: frozenset[str]
) -> tuple[str, str] | None:
    ops = [key for key in record if key in allowed]
    if not ops:
        return "record", "no update operation"
    for op in ops:
        value = record[op]
        if op in _OBJECT_OPS and not isinstance(value, dict):
            return op, "not an object"
        if op == "$unset" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return op, "not a list of property names"
        if op == "$add" and not all(
            isinstance(v, int | float) and not isinstance(v, bool)
            for v in value.values()
        ):
            return op, "a value is not a number"
        if op == "$union" and not all(isinstance(v, list) for v in value.values()):
            return op, "a value is not a list"
    return None


def _insert_id_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    properties = record.get("properties")
    found = properties.get("$insert_id") if isinstance(properties, dict) else None
    return found if isinstance(found, str) else None


# -- decoding ----------------------------------------------------------------


def _decompress(body: bytes, headers: Mapping[str, str]) -> bytes:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            raise _Refused(400, "body is not valid gzip") from None
    raise _Refused(400, f"Content-Encoding {encoding} not accepted")


def _form(content: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            content.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise _Refused(400, "body is not a percent-encoded form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _Refused(400, f"form field {name} repeated")
        form[name] = value
    return form


def _b64(value: str) -> bytes | None:
    if value.lstrip()[:1] in ("{", "["):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _records_from_data(data: str | None) -> list[Any]:
    if not data:
        raise _Refused(400, "form has no data field")
    raw: str | bytes = data
    decoded = _b64(data)
    if decoded is not None:
        raw = decoded
    value = _loads(raw, "data")
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise _Refused(400, "data is not a JSON object or a non-empty array")


def _records_from_json(content: bytes, *, array_only: bool) -> list[Any]:
    value = _loads(content, "body")
    if isinstance(value, dict) and not array_only:
        return [value]
    if isinstance(value, list) and value:
        return value
    raise _Refused(400, "body is not a non-empty JSON array")


def _records_from_ndjson(content: bytes) -> list[Any]:
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        raise _Refused(400, "body has no records")
    return [_loads(line, "NDJSON line") for line in lines]


def _loads(raw: str | bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(400, f"{what} is not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        text = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, None
    user, _, password = text.partition(":")
    return user, password


# -- answers -------------------------------------------------------------------


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> _Verdict:
    data = json.dumps(body, separators=(",", ":")).encode()
    return _Verdict(status, data, "application/json", dict(headers or {}))


def _refusal(refused: _Refused, *, json_shape: bool, verbose: bool) -> _Verdict:
    message = str(refused)
    if json_shape:
        phrase = _PHRASES.get(refused.status, "Error")
        return _json(
            refused.status, {"code": refused.status, "error": message, "status": phrase}
        )
    if refused.status == 401:
        return _json(401, {"error": message, "status": "error"})
    if verbose:
        return _json(refused.status, {"status": 0, "error": message})
    return _Verdict(refused.status, b"0", "text/plain")


def _records_verdict(
    *,
    accepted: int,
    failed: list[dict[str, Any]],
    json_shape: bool,
    verbose: bool,
    strict: bool,
) -> _Verdict:
    if json_shape:
        if failed and strict:
            return _json(
                400,
                {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "status": "Bad Request",
                    "num_records_imported": accepted,
                    "failed_records": failed,
                },
            )
        return _json(
            200, {"code": 200, "num_records_imported": accepted, "status": "OK"}
        )
    if accepted:
        if verbose:
            return _json(200, {"status": 1, "error": None})
        return _Verdict(200, b"1", "text/plain")
    first = failed[0]
    message = f"{first['field']}: {first['message']}"
    if verbose:
        return _json(400, {"status": 0, "error": message})
    return _Verdict(400, b"0", "text/plain")


def _scripted(
    endpoint: str | None, item: int | tuple[int, Mapping[str, str]]
) -> _Verdict:
    status, headers = item if isinstance(item, tuple) else (item, {})
    message = "scripted failure"
    if endpoint == "import":
        phrase = _PHRASES.get(status, "Error")
        return _json(
            status, {"code": status, "error": message, "status": phrase}, headers
        )
    return _json(status, {"status": 0, "error": message}, headers)
