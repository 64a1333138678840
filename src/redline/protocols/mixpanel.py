"""The Mixpanel ingestion protocol: what SDKs send, and what Mixpanel takes.

:func:`decode` turns a request to ``/track``, ``/engage``, ``/groups`` or
``/import`` into vendor-neutral :class:`~redline.events.Event` objects;
:func:`encode_upstream` is its inverse, producing the request mixpanel-python
would send; :func:`respond` and :func:`error_response` answer the client in
the shape it asked for. Wire facts come from protocols.md §1.

Choices where Mixpanel's behaviour is undocumented or unsafe to copy:

* A request that cannot be read at all (bad base64 or JSON, unknown
  ``Content-Type`` or ``Content-Encoding``, no ``data``) answers HTTP 400 with
  the body Mixpanel uses for invalid data (``0`` or
  ``{"status": 0, "error": ...}``). Mixpanel documents only ``200`` + ``0``
  for ``/track``; no SDK tells the two apart (mixpanel-python reads only the
  body, mixpanel-browser drops a batch on any 4xx but 413 and 429), and a
  400 keeps access logs honest. ``/import`` answers its own JSON shape.
* More records than ``max_records`` answer 413, not 400: on 413
  mixpanel-browser splits the batch and sends the halves again.
* A bad project token (the gateway raises :class:`~redline.errors.Unauthorized`)
  answers 401 ``{"error": ..., "status": "error"}``, Mixpanel's documented
  ``ErrorResponse``; mixpanel-python raises on it because ``status != 1``.
* Records nested deeper than :data:`MAX_DEPTH` levels, or holding strings
  that are not valid Unicode, fail one by one; the others still pass
  (Mixpanel answers ``1`` when at least one record is valid).
* With ``strict`` (the default), ``/import`` records must carry ``time``,
  ``distinct_id`` and a well-formed ``$insert_id``, as Mixpanel's strict mode
  requires; the failures are listed in a 400 ``failed_records`` answer.

Failure reasons and error messages name fields and sizes, never values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal, get_args
from urllib.parse import urlencode

from ..errors import PayloadTooLarge, RequestError
from ..events import Event, Kind
from . import _body

__all__ = [
    "ENDPOINTS",
    "MAX_DEPTH",
    "TRANSPARENT_GIF",
    "Decoded",
    "Endpoint",
    "Options",
    "Response",
    "UpstreamRequest",
    "decode",
    "encode_upstream",
    "endpoint_for",
    "error_response",
    "event_from_export",
    "event_to_export",
    "options_or_default",
    "parse_options",
    "respond",
]

Endpoint = Literal["track", "engage", "groups", "import"]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)

# deeper records fail on their own; Mixpanel itself keeps 3 levels of
# properties, so legitimate data never comes close
MAX_DEPTH = 32

# 1x1 GIF89a, one transparent pixel: what Mixpanel answers to img=1
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00"  # header, 1x1, 2-colour table
    b"\x00\x00\x00\xff\xff\xff"  # the colour table
    b"\x21\xf9\x04\x01\x00\x00\x00\x00"  # colour 0 is transparent
    b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # the image, 1x1
    b"\x02\x02\x44\x01\x00"  # LZW: clear, pixel 0, end
    b"\x3b"
)

# a JavaScript name path such as ``mixpanel._jsc[12345678]`` (what
# mixpanel-browser's JSONP path sends); nothing that could close the call
_CALLBACK = re.compile(
    r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*(?:\[[0-9]{1,16}\])*"
)
_CALLBACK_MAX = 128
# times must fit a signed 64-bit integer
_TIME_MIN = -(2**63)
_TIME_MAX = 2**63 - 1
# Mixpanel's $insert_id: at most 36 of these (protocols.md §1.4)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "text/plain", ""})
_JSON_TYPES = frozenset({"application/json", "text/json"})
_NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonlines"}
)

_TRACK_KEYS = ("token", "distinct_id", "time", "$insert_id", "ip")
_PROFILE_KEYS = ("$token", "$distinct_id", "$time", "$ip")
_PROFILE_ENVELOPE = ("$ignore_time", "$ignore_alias")
_GROUP_KEYS = ("$token", "$time", "$group_key", "$group_id")

_OPTIONS_NOTE = "_redline_mixpanel_options"
_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_NO_STORE = {"Cache-Control": "no-cache, no-store, must-revalidate"}


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """What the client asked for, from the query string and form fields."""

    verbose: bool = False
    img: bool = False
    callback: str | None = None
    # geolocate by the request address when the event carries no ip
    ip: bool = True
    # /import: refuse (and list) records that fail validation
    strict: bool = True


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Decoded:
    """One decoded request.

    ``events``, ``tokens`` and ``indexes`` run in parallel, one entry per
    valid record; ``failures`` and ``failed_insert_ids`` run in parallel,
    one entry per record that could not be decoded. ``failed_insert_ids``
    holds a failed record's ``$insert_id`` when it is well formed, so the
    gateway can list it in an ``/import`` answer.
    """

    endpoint: Endpoint
    options: Options
    events: list[Event]
    tokens: list[str | None]
    indexes: list[int]
    failures: list[tuple[int, str]]
    auth_user: str | None
    failed_insert_ids: list[str | None] = dataclasses.field(default_factory=list)

    def __repr__(self) -> str:
        # counts only: events, tokens and the auth user are never printed
        return (
            f"Decoded(endpoint={self.endpoint!r}, options={self.options!r}, "
            f"events={len(self.events)}, failures={len(self.failures)})"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """A request for Mixpanel; the destination adds host and credentials."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """An answer for the client, independent of the web framework."""

    status: int
    media_type: str
    body: bytes
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class _BadRecord(Exception):
    """One record cannot be decoded; the reason is shape only."""


class _Unreadable:
    """An NDJSON line that is not JSON, kept in place of its record."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


# -- options ---------------------------------------------------------------


def parse_options(
    query: Mapping[str, str], form: Mapping[str, str] | None = None
) -> Options:
    """Read ``verbose``, ``img``, ``callback``, ``ip`` and ``strict``.

    Form fields win over the query string (mixpanel-python sends its options
    in the form, mixpanel-browser in the query). A ``callback`` that is not a
    plain JavaScript name path raises :class:`RequestError`, so that no
    request can make the gateway echo script of its choosing.
    """
    merged = {**query, **(form or {})}
    callback = merged.get("callback") or None
    if callback is not None and (
        len(callback) > _CALLBACK_MAX or not _CALLBACK.fullmatch(callback)
    ):
        raise RequestError("callback is not a JavaScript name")
    return Options(
        verbose=_flag(merged.get("verbose"), default=False),
        img=_flag(merged.get("img"), default=False),
        callback=callback,
        ip=_flag(merged.get("ip"), default=True),
        strict=_flag(merged.get("strict"), default=True),
    )


def options_or_default(query: Mapping[str, str]) -> Options:
    """Like :func:`parse_options` on the query alone, but never raises."""
    try:
        return parse_options(query)
    except RequestError:
        return parse_options({k: v for k, v in query.items() if k != "callback"})


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    value = value.strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    return default


def _attach(exc: RequestError, options: Options) -> None:
    # the form fields are read inside decode(); an error raised after that
    # carries them, so error_response answers e.g. mixpanel-python (verbose
    # in the form, not the query) with the JSON it needs
    exc.__dict__[_OPTIONS_NOTE] = options


def _attached(exc: RequestError) -> Options | None:
    found = exc.__dict__.get(_OPTIONS_NOTE)
    return found if isinstance(found, Options) else None


# -- decoding --------------------------------------------------------------


def decode(
    endpoint: Endpoint,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_body_bytes: int,
    max_records: int,
) -> Decoded:
    """Decode one request to a Mixpanel ingestion endpoint.

    ``headers`` must have lower-cased names. Raises :class:`RequestError`
    (400, or 405 for a method other than GET or POST) when the request cannot
    be read, and :class:`PayloadTooLarge` (413) when the body, its
    decompressed form, or the number of records is over the limit. Records
    that are wrong on their own are listed in ``failures``.
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown Mixpanel endpoint {endpoint!r}")
    options = options_or_default(query)
    try:
        options = parse_options(query)
        options, payload = _payload(
            method, query, headers, body, options, max_body_bytes
        )
        items = _items(payload, max_records)
    except RequestError as exc:
        if _attached(exc) is None:
            _attach(exc, options)
        raise

    events: list[Event] = []
    tokens: list[str | None] = []
    indexes: list[int] = []
    failures: list[tuple[int, str]] = []
    failed_insert_ids: list[str | None] = []
    for index, item in enumerate(items):
        try:
            event, token = _record(endpoint, item, options)
        except _BadRecord as bad:
            failures.append((index, str(bad)))
            failed_insert_ids.append(_insert_id_of(endpoint, item))
            continue
        events.append(event)
        tokens.append(token)
        indexes.append(index)

    return Decoded(
        endpoint=endpoint,
        options=options,
        events=events,
        tokens=tokens,
        indexes=indexes,
        failures=failures,
        auth_user=_body.basic_auth_user(headers),
        failed_insert_ids=failed_insert_ids,
    )


_Payload = tuple[Literal["data", "json", "ndjson"], str | bytes]


def _payload(
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    options: Options,
    limit: int,
) -> tuple[Options, _Payload]:
    """Find the payload: ``data`` from query or form, or the whole body."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return options, ("data", _data_field(query, limit))
    if method != "POST":
        raise RequestError("method not allowed", status=405)
    if len(body) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")

    content = _body.decompress(body, headers, limit=limit)
    kind = _body.media_type(headers)
    if kind in _JSON_TYPES:
        return options, ("json", content)
    if kind in _NDJSON_TYPES:
        return options, ("ndjson", content)
    if kind not in _FORM_TYPES:
        # Mixpanel documents form, JSON and NDJSON bodies only
        raise RequestError("unsupported Content-Type")
    # text/plain is what sendBeacon sends for the same data=... body
    if _body.looks_like_json(content):
        return options, ("json", content)
    form = _body.parse_form(content)
    options = parse_options(query, form)
    # a POST may still carry data in the query string
    source = form if form.get("data") else query
    try:
        return options, ("data", _data_field(source, limit))
    except RequestError as exc:
        _attach(exc, options)
        raise


def _data_field(fields: Mapping[str, str], limit: int) -> str:
    data = fields.get("data")
    if not data:
        raise RequestError("no data field")
    if len(data) > limit:
        raise PayloadTooLarge(f"data over {limit} bytes")
    return data


def _items(payload: _Payload, max_records: int) -> list[Any]:
    kind, content = payload
    if kind == "ndjson":
        raw_lines = content.encode() if isinstance(content, str) else content
        lines = [line for line in raw_lines.splitlines() if line.strip()]
        _check_count(len(lines), max_records)
        return [_ndjson_line(line) for line in lines]

    if kind == "data":
        text = str(content)
        raw: str | bytes = (
            text if _body.looks_like_json(text) else _body.b64decode_loose(text)
        )
        value = _body.loads_json(raw, "data")
    else:
        value = _body.loads_json(content, "body")
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RequestError("payload is neither a JSON object nor an array")
    _check_count(len(value), max_records)
    return value


def _check_count(count: int, max_records: int) -> None:
    if count > max_records:
        raise PayloadTooLarge(f"more than {max_records} records in one request")
    if count == 0:
        raise RequestError("no records")


def _ndjson_line(line: bytes) -> Any:
    try:
        return _body.loads_json(line, "line")
    except RequestError as exc:
        return _Unreadable(f"record: {exc}")


def _record(
    endpoint: Endpoint, item: Any, options: Options
) -> tuple[Event, str | None]:
    if isinstance(item, _Unreadable):
        raise _BadRecord(item.reason)
    if not isinstance(item, dict):
        raise _BadRecord("record: not a JSON object")
    problem = _body.shape_problem(item, max_depth=MAX_DEPTH)
    if problem:
        raise _BadRecord(f"record: {problem}")
    if endpoint == "engage":
        return _profile(item)
    if endpoint == "groups":
        return _group(item)
    return _track(item, imported=endpoint == "import", strict=options.strict)


def _track(
    record: dict[str, Any], *, imported: bool, strict: bool
) -> tuple[Event, str | None]:
    name = record.get("event")
    if not isinstance(name, str) or not name:
        raise _BadRecord("event: missing or not a string")
    given = record.get("properties")
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise _BadRecord("properties: not an object")

    # this runs for every record: plain pops, positional arguments
    properties = dict(given)
    pop = properties.pop
    token = pop("token", None)
    distinct_id = pop("distinct_id", None)
    time = pop("time", None)
    insert_id = pop("$insert_id", None)
    ip = pop("ip", None)
    event = Event(
        Kind.TRACK,
        name,
        properties,
        _identifier(distinct_id, "properties.distinct_id"),
        _identifier(insert_id, "properties.$insert_id"),
        _time(time, "properties.time"),
        _ip(ip, "properties.ip"),
        imported,
    )
    if len(record) > 1 + ("properties" in record):
        extra = {k: v for k, v in record.items() if k not in ("event", "properties")}
        event.envelope["extra"] = extra
    if imported and strict:
        _check_import(event)
    return event, _token(token)


def _check_import(event: Event) -> None:
    # what Mixpanel's /import?strict=1 requires of every record
    if event.time is None:
        raise _BadRecord("properties.time: required")
    if event.distinct_id is None:
        raise _BadRecord("properties.distinct_id: required")
    if event.insert_id is None:
        raise _BadRecord("properties.$insert_id: required")
    if not _INSERT_ID.fullmatch(event.insert_id):
        raise _BadRecord(
            "properties.$insert_id: must be 1 to 36 characters of A-Z, a-z, 0-9, -"
        )


def _profile(record: dict[str, Any]) -> tuple[Event, str | None]:
    properties = dict(record)
    token, distinct_id, time, ip = (properties.pop(key, None) for key in _PROFILE_KEYS)
    envelope = {k: properties.pop(k) for k in _PROFILE_ENVELOPE if k in properties}
    event = Event(
        kind=Kind.PROFILE,
        name="$profile",
        properties=properties,
        distinct_id=_identifier(distinct_id, "$distinct_id"),
        time=_time(time, "$time"),
        ip=_ip(ip, "$ip"),
        envelope=envelope,
    )
    if event.distinct_id is None:
        raise _BadRecord("$distinct_id: required")
    return event, _token(token)


def _group(record: dict[str, Any]) -> tuple[Event, str | None]:
    properties = dict(record)
    token, time, group_key, group_id = (
        properties.pop(key, None) for key in _GROUP_KEYS
    )
    if not isinstance(group_key, str) or not group_key:
        raise _BadRecord("$group_key: missing or not a string")
    event = Event(
        kind=Kind.GROUP,
        name="$group",
        properties=properties,
        distinct_id=_identifier(group_id, "$group_id"),
        time=_time(time, "$time"),
        envelope={"$group_key": group_key},
    )
    if event.distinct_id is None:
        raise _BadRecord("$group_id: required")
    return event, _token(token)


def _identifier(value: Any, field: str) -> str | None:
    kind = type(value)
    if kind is str or value is None:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return str(value)
    raise _BadRecord(f"{field}: not a string or number")


def _time(value: Any, field: str) -> float | int | None:
    kind = type(value)
    if kind is float or value is None:
        return value  # type: ignore[no-any-return]
    if kind is int:
        # JSON integers are unbounded; a time no 64-bit field holds is no
        # time, and could not be stored or sent
        if not _TIME_MIN <= value <= _TIME_MAX:
            raise _BadRecord(f"{field}: out of range")
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        try:
            whole = int(value)
        except ValueError:
            pass
        else:
            if not _TIME_MIN <= whole <= _TIME_MAX:
                raise _BadRecord(f"{field}: out of range")
            return whole
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    raise _BadRecord(f"{field}: not a number")


def _ip(value: Any, field: str) -> str | None:
    # an ip of 0 asks Mixpanel not to geolocate; None says the same here
    if value is None or value is False or value in ("", "0"):
        return None
    if isinstance(value, str):
        return value
    if type(value) is int and value == 0:
        return None
    raise _BadRecord(f"{field}: not an IP address string")


def _token(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _insert_id_of(endpoint: Endpoint, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if endpoint in ("track", "import"):
        properties = item.get("properties")
        found = properties.get("$insert_id") if isinstance(properties, dict) else None
    else:
        found = item.get("$insert_id")
    if isinstance(found, str) and _INSERT_ID.fullmatch(found):
        return found
    return None


def event_from_export(record: Any) -> Event:
    """An event from Mixpanel's export shape, ``{"event", "properties"}``,
    as ``redline sanitize`` and the audit read it. The token, if any, is
    discarded. Raises :class:`RequestError` for a record that is not one."""
    try:
        event, _ = _record("track", record, Options(strict=False))
    except _BadRecord as exc:
        raise RequestError(str(exc)) from None
    return event


def event_to_export(event: Event) -> dict[str, Any]:
    """The export shape of a track event, without a token."""
    record = _encode_record("track", dataclasses.replace(event, imported=False), "")
    del record["properties"]["token"]
    return record


# -- encoding --------------------------------------------------------------


def endpoint_for(event: Event) -> Endpoint:
    """Where ``event`` goes upstream."""
    if event.kind is Kind.PROFILE:
        return "engage"
    if event.kind is Kind.GROUP:
        return "groups"
    return "import" if event.imported else "track"


def encode_upstream(
    endpoint: Endpoint, events: Sequence[Event], token: str
) -> UpstreamRequest:
    """The request that sends ``events`` to Mixpanel's ``endpoint``.

    The exact inverse of :func:`decode`: each record gets ``token`` as its
    project token and ``Event.ip``, when set, as ``properties.ip`` or
    ``$ip``. ``/track``, ``/engage`` and ``/groups`` get a form body
    ``data=<JSON array>&verbose=1`` with ``ip=0`` in the query (the address,
    if any, travels in the records), as mixpanel-python sends; ``/import``
    gets a JSON array with ``strict=1``. Credentials are the destination's
    business. Raises ``ValueError`` for an event that does not belong to
    ``endpoint`` or holds values JSON cannot carry.
    """
    records = [_encode_record(endpoint, event, token) for event in events]
    data = _body.dumps_json(records)
    if endpoint == "import":
        return UpstreamRequest(
            path="/import",
            query={"strict": "1"},
            headers={"Content-Type": "application/json"},
            body=data,
        )
    form = urlencode({"data": data.decode("utf-8"), "verbose": "1"})
    return UpstreamRequest(
        path=f"/{endpoint}",
        query={"ip": "0"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=form.encode("ascii"),
    )


def _encode_record(endpoint: Endpoint, event: Event, token: str) -> dict[str, Any]:
    expected = {"track": Kind.TRACK, "import": Kind.TRACK, "engage": Kind.PROFILE}
    if event.kind is not expected.get(endpoint, Kind.GROUP):
        raise ValueError(f"a {event.kind.value} record cannot go to /{endpoint}")
    if event.kind is Kind.PROFILE:
        return _encode_profile(event, token)
    if event.kind is Kind.GROUP:
        return _encode_group(event, token)

    properties: dict[str, Any] = {"token": token}
    _put(properties, "distinct_id", event.distinct_id)
    _put(properties, "time", event.time)
    _put(properties, "$insert_id", event.insert_id)
    _merge(properties, event.properties, _TRACK_KEYS)
    _put(properties, "ip", event.ip)
    record: dict[str, Any] = {"event": event.name, "properties": properties}
    extra = event.envelope.get("extra")
    if isinstance(extra, dict):
        _merge(record, extra, ("event", "properties"))
    return record


def _encode_profile(event: Event, token: str) -> dict[str, Any]:
    record: dict[str, Any] = {"$token": token}
    _put(record, "$distinct_id", event.distinct_id)
    _put(record, "$time", event.time)
    _merge(record, event.properties, _PROFILE_KEYS + _PROFILE_ENVELOPE)
    _put(record, "$ip", event.ip)
    for key in _PROFILE_ENVELOPE:
        if key in event.envelope:
            record[key] = event.envelope[key]
    return record


def _encode_group(event: Event, token: str) -> dict[str, Any]:
    # group profiles have no geolocation: Event.ip is not sent
    record: dict[str, Any] = {"$token": token}
    _put(record, "$group_key", event.envelope.get("$group_key"))
    _put(record, "$group_id", event.distinct_id)
    _put(record, "$time", event.time)
    _merge(record, event.properties, _GROUP_KEYS)
    return record


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _merge(
    target: dict[str, Any], source: Mapping[str, Any], reserved: tuple[str, ...]
) -> None:
    for key, value in source.items():
        if key not in reserved:
            target[key] = value


# -- responses -------------------------------------------------------------


def respond(
    endpoint: Endpoint,
    options: Options,
    *,
    accepted: int,
    failures: list[tuple[int, str]],
    insert_ids: list[str | None] | None = None,
) -> Response:
    """Mixpanel's answer to a request that was read.

    ``/track``, ``/engage`` and ``/groups`` (and ``/import`` asked with
    ``verbose``, which is how mixpanel-python calls it) answer ``1`` when at
    least one record was accepted or none failed: plain text, verbose JSON,
    a GIF for ``img`` or a JSONP call for ``callback``. ``/import`` answers
    its JSON shape; with ``strict``, failures make it a 400 listing
    ``failed_records``. ``insert_ids[i]`` is the ``$insert_id`` of the record
    of ``failures[i]`` (``Decoded.failed_insert_ids`` followed by the
    gateway's own); a list of another length is ignored.
    """
    if endpoint == "import" and not options.verbose:
        return _import_answer(options, accepted, failures, insert_ids)
    ok = accepted > 0 or not failures
    error = None if ok else f"no valid records ({failures[0][1]})"
    return _answer(options, 200, ok=ok, error=error)


def error_response(
    endpoint: Endpoint,
    options: Options,
    exc: RequestError,
    *,
    retry_after: float | None = None,
) -> Response:
    """Mixpanel's answer to a request refused as a whole.

    Uses the options :func:`decode` had read when it raised ``exc`` (form
    fields included) in preference to ``options``. ``/import`` answers
    ``{"code", "error", "status"}`` (401: ``"Invalid credentials"``); the
    other endpoints answer 401/403 with ``{"error", "status": "error"}``, and
    anything else with ``0`` or ``{"status": 0, "error"}``, a GIF for
    ``img``, or a JSONP call (HTTP 200, so that the script runs).
    ``retry_after`` adds a ``Retry-After`` header (seconds).
    """
    options = _attached(exc) or options
    status = exc.status
    message = str(exc)
    headers = (
        {} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
    )

    if endpoint == "import" and not options.verbose:
        error = "Invalid credentials" if status == 401 else message
        body = {"code": status, "error": error, "status": _phrase(status)}
        return _json(status, body, headers)
    if status in (401, 403) and not (options.img or options.callback):
        return _json(status, {"error": message, "status": "error"}, headers)
    return _answer(options, status, ok=False, error=message, headers=headers)


def _answer(
    options: Options,
    status: int,
    *,
    ok: bool,
    error: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    headers = dict(headers or {})
    flag = 1 if ok else 0
    if options.img:
        return Response(status, "image/gif", TRANSPARENT_GIF, {**headers, **_NO_STORE})
    verbose = {"status": flag, "error": error}
    if options.callback:
        argument = (
            json.dumps(verbose, separators=(",", ":")) if options.verbose else str(flag)
        )
        script = f"{options.callback}({argument})".encode()
        # a script element does not run a non-2xx answer
        headers.update(_NO_STORE)
        headers["X-Content-Type-Options"] = "nosniff"
        return Response(200, "text/javascript", script, headers)
    if options.verbose:
        return _json(status, verbose, headers)
    return Response(status, "text/plain", str(flag).encode(), headers)


def _import_answer(
    options: Options,
    accepted: int,
    failures: list[tuple[int, str]],
    insert_ids: list[str | None] | None,
) -> Response:
    if not failures or not options.strict:
        return _json(
            200, {"code": 200, "num_records_imported": accepted, "status": "OK"}
        )
    if insert_ids is None or len(insert_ids) != len(failures):
        insert_ids = [None] * len(failures)
    failed = []
    for (index, reason), insert_id in zip(failures, insert_ids, strict=True):
        field, _, _ = reason.partition(": ")
        failed.append(
            {
                "index": index,
                "$insert_id": insert_id,
                "field": field if ": " in reason else "record",
                "message": reason,
            }
        )
    body = {
        "code": 400,
        "error": "some data points in the request failed validation",
        "status": "Bad Request",
        "num_records_imported": accepted,
        "failed_records": failed,
    }
    return _json(400, body)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(status, "application/json", data, dict(headers or {}))


def _phrase(status: int) -> str:
    if status in _PHRASES:
        return _PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
