"""PostHog's capture v1 protocol: ``POST /i/v1/analytics/events``.

posthog-python sends it with ``capture_mode='v1'`` (or
``POSTHOG_CAPTURE_MODE=v1``); its default is still v0's ``/batch/``
(:mod:`redline.protocols.posthog`). Wire facts come from protocols.md §2.2
and posthog-python 7.91.1's ``capture_v1.py``; what PostHog's capture
server refuses, and how, from its ``rust/capture/src/v1``.

The request: ``Authorization: Bearer <project key>``; ``PostHog-Sdk-Info``
(``<lib>/<version>``), ``PostHog-Attempt``, ``PostHog-Request-Id`` and
``PostHog-Request-Timestamp``; ``Content-Type: application/json``, the body
optionally gzip, zlib deflate or zstd by ``Content-Encoding``; the body
``{created_at, batch: [{event, uuid, distinct_id, timestamp, options,
properties, session_id?, window_id?}], historical_migration?}``.

:func:`decode` gives the same vendor-neutral events a v0 request gives, so
one policy applies and a PostHog destination keeps sending v0:

* ``$set`` and ``$set_once`` inside ``properties`` are person operations;
* ``options`` become the sentinel properties v0 carries
  (``disable_skew_correction`` is ``$ignore_sent_at``, ``cookieless_mode``
  ``$cookieless_mode``, ``process_person_profile``
  ``$process_person_profile``, ``product_tour_id`` ``$product_tour_id``);
* ``session_id`` and ``window_id`` become ``$session_id`` and ``$window_id``;
* ``PostHog-Sdk-Info`` becomes ``$lib`` (canonical ``mp_lib``) and
  ``$lib_version``, which the SDK leaves out of v1 events, as PostHog does;
* the uuid is the idempotency id, and the client's clock skew is taken
  from ``PostHog-Request-Timestamp``.

An envelope note (``$v1``) says which properties came from where, so that
:func:`encode_upstream` gives back the request that came in.

Answers: 200 ``{"results": {<uuid>: {"result": "ok"}}}``, a record that
cannot be read or whose key may not send ``{"result": "drop", "details":
...}`` (the SDK reports drops to ``on_error`` and does not send them again);
a request that cannot be read as a whole (no or a repeated uuid, a bad
header, JSON or ``created_at``) PostHog's v1 error ``{error,
error_description, error_uri}`` with 400, 401, 413, 415, 429 or 503.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .. import __version__
from ..errors import PayloadTooLarge, RequestError, Unauthorized
from ..events import Event
from . import _body, posthog
from ._vendor import (
    BadRecord,
    Batch,
    Response,
    UpstreamRequest,
    as_uuid,
    format_iso,
    json_response,
)

__all__ = [
    "PATH",
    "decode",
    "encode_event",
    "encode_upstream",
    "error_response",
    "respond",
]

PATH = "/i/v1/analytics/events"

_REQUIRED = (
    "content-type",
    "user-agent",
    "posthog-sdk-info",
    "posthog-attempt",
    "posthog-request-id",
    "posthog-request-timestamp",
)
_ENCODINGS = frozenset({"", "identity", "gzip", "deflate", "zstd"})
_MAX_SDK_INFO = 200
_ERROR_URI = "https://posthog.com/docs/api"
# the envelope note: which properties this adapter made of v1 fields
_NOTE = "$v1"
_HIST = "$historical"
_PERSON_OPS = ("$set", "$set_once")


def _bool(value: Any) -> bool | None:
    # PostHog's coercion: booleans, "true"/"false"/"1"/"0", numbers
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "1": True, "false": False, "0": False}.get(
            value.strip().lower()
        )
    if isinstance(value, int | float):
        return value != 0
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# option -> the sentinel property v0 carries it as, and PostHog's coercion
_OPTIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "cookieless_mode": ("$cookieless_mode", _bool),
    "disable_skew_correction": ("$ignore_sent_at", _bool),
    "process_person_profile": ("$process_person_profile", _bool),
    "product_tour_id": ("$product_tour_id", _str),
}
# top-level field -> the property PostHog makes of it
_TOP = {"session_id": "$session_id", "window_id": "$window_id"}
_TOP_FIELDS = tuple(_TOP)


class _Refused(RequestError):
    """A request refused as a whole, with PostHog's v1 error tag."""

    def __init__(self, message: str, tag: str, *, status: int = 400) -> None:
        super().__init__(message, status=status)
        self.tag = tag


# -- decoding --------------------------------------------------------------


def decode(
    endpoint: str,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_body_bytes: int,
    max_records: int,
    received_at: float | None = None,
) -> Batch:
    """Decode one v1 request. ``headers`` must have lower-cased names.

    ``received_at`` (seconds) is when the gateway received it: client times
    are corrected by the difference to ``PostHog-Request-Timestamp``.
    Raises :class:`RequestError` for a request refused as a whole.
    """
    if method.upper() != "POST":
        raise _Refused("method not allowed", "method_not_allowed", status=405)
    key = _bearer(headers)
    sent_at = _check_headers(headers)
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(f"request body over {max_body_bytes} bytes")
    if not body:
        raise _Refused("request body is empty", "empty_body")
    try:
        content = _body.decompress(body, headers, limit=max_body_bytes)
    except PayloadTooLarge:
        raise
    except RequestError as exc:
        raise _Refused(str(exc), "request_decoding_error") from None
    try:
        value = _body.loads_json(content, "body")
    except RequestError as exc:
        raise _Refused(str(exc), "request_parsing_error") from None
    records, historical = _envelope(value, max_records)
    ids = _record_ids(records)
    skew = posthog.clock_skew(sent_at, received_at)
    sdk = _sdk_info(headers.get("posthog-sdk-info", ""))

    batch = Batch(endpoint, [], [], [], [], key=key, record_ids=tuple(ids))
    for index, record in enumerate(records):
        try:
            event = _event(record, skew, received_at, sdk)
        except BadRecord as bad:
            batch.failures.append((index, str(bad)))
            continue
        if historical:
            event.envelope[_HIST] = True
        batch.events.append(event)
        # one key for the request: a token in a record's properties has
        # no say in v1
        batch.tokens.append(None)
        batch.indexes.append(index)
    return posthog.without_geolocation(batch)


def _bearer(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization")
    if value is None:
        raise Unauthorized("missing Authorization: Bearer <project API key>")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _Refused(
            "Authorization must use the Bearer scheme", "invalid_header_value"
        )
    token = token.strip()
    if not token:
        raise Unauthorized("missing project API key")
    return token


def _check_headers(headers: Mapping[str, str]) -> str:
    """The headers PostHog requires; the request timestamp."""
    missing = [name for name in _REQUIRED if name not in headers]
    if missing:
        raise _Refused(
            "request is missing required headers: " + ", ".join(missing),
            "missing_required_headers",
        )
    if _body.media_type(headers) != "application/json":
        raise _Refused(
            "Content-Type must be application/json",
            "unsupported_content_type",
            status=415,
        )
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise _Refused(
            "unsupported Content-Encoding (gzip, deflate, zstd)",
            "unsupported_encoding",
            status=415,
        )
    try:
        uuid.UUID(headers["posthog-request-id"].strip())
    except ValueError:
        raise _Refused(
            "PostHog-Request-Id is not a UUID", "invalid_header_value"
        ) from None
    attempt = headers["posthog-attempt"].strip()
    if (
        not (attempt.isascii() and attempt.isdigit())
        or len(attempt) > 9
        or int(attempt) < 1
    ):
        raise _Refused(
            "PostHog-Attempt is not a positive integer", "invalid_header_value"
        )
    stamp = headers["posthog-request-timestamp"].strip()
    if not _is_rfc3339(stamp):
        raise _Refused(
            "PostHog-Request-Timestamp is not an RFC 3339 time",
            "invalid_header_value",
        )
    return stamp


def _envelope(value: Any, max_records: int) -> tuple[list[Any], bool]:
    if not isinstance(value, dict) or not isinstance(value.get("batch"), list):
        raise _Refused("body is not {created_at, batch}", "request_parsing_error")
    if not _is_rfc3339(value.get("created_at")):
        raise _Refused("created_at is not an RFC 3339 time", "invalid_batch")
    historical = value.get("historical_migration", False)
    if not isinstance(historical, bool):
        raise _Refused("historical_migration is not a boolean", "invalid_batch")
    records: list[Any] = value["batch"]
    if not records:
        raise _Refused("request batch is empty", "empty_batch")
    if len(records) > max_records:
        raise PayloadTooLarge(f"more than {max_records} events in one request")
    return records, historical


def _record_ids(records: list[Any]) -> list[str]:
    """Each record's uuid as PostHog answers by it. A record without one
    cannot be answered for: like PostHog, the request is refused."""
    ids: list[str] = []
    seen: set[str] = set()
    for record in records:
        if not isinstance(record, dict):
            raise _Refused("an event is not a JSON object", "request_parsing_error")
        value = record.get("uuid")
        if not isinstance(value, str) or not value.strip():
            raise _Refused("an event has no uuid", "missing_event_uuid")
        try:
            canonical = str(uuid.UUID(value.strip()))
        except ValueError:
            raise _Refused(
                "an event's uuid is not a UUID", "invalid_event_uuid"
            ) from None
        if canonical in seen:
            raise _Refused("two events have the same uuid", "duplicate_event_uuid")
        seen.add(canonical)
        ids.append(canonical)
    return ids


def _sdk_info(value: str) -> tuple[str, str] | None:
    """``$lib`` and ``$lib_version`` from ``<lib>/<version>``, split at the
    last slash as PostHog does; None when malformed."""
    if len(value) > _MAX_SDK_INFO:
        return None
    lib, _, version = value.rpartition("/")
    lib, version = lib.strip(), version.strip()
    return (lib, version) if lib and version else None


def _event(
    record: dict[str, Any],
    skew: float | None,
    received_at: float | None,
    sdk: tuple[str, str] | None,
) -> Event:
    """One v1 record, as the v0 record it stands for, decoded as v0's."""
    name = record.get("event")
    if not isinstance(name, str) or not name:
        raise BadRecord("event: missing or not a string")
    distinct_id = record.get("distinct_id")
    if not isinstance(distinct_id, str) or not distinct_id.strip():
        raise BadRecord("distinct_id: missing or not a string")
    if not _is_rfc3339(record.get("timestamp")):
        raise BadRecord("timestamp: not an RFC 3339 time")
    given = record.get("properties", {})
    if not isinstance(given, dict):
        raise BadRecord("properties: not an object")
    options = record.get("options")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise BadRecord("options: not an object")

    properties = dict(given)
    item = {k: v for k, v in record.items() if k not in ("options", *_TOP_FIELDS)}
    note: dict[str, Any] = {}
    if "options" not in record:
        note["no_options"] = True
    # what cannot move because the client also set the property stays a
    # top-level field of the record (kept as v0 keeps unknown fields)
    left: dict[str, Any] = {}
    for option, value in options.items():
        prop, coerce = _OPTIONS.get(option, (None, None))
        if value is None or prop is None or coerce is None or prop in properties:
            left[option] = value
            continue
        coerced = coerce(value)
        if coerced is None:
            raise BadRecord(f"options.{option}: wrong type")
        properties[prop] = coerced
        note.setdefault("options", []).append(prop)
    if left:
        item["options"] = left
    for field, prop in _TOP.items():
        value = record.get(field)
        if value is None or prop in properties:
            if field in record:
                item[field] = value
            continue
        if not isinstance(value, str):
            raise BadRecord(f"{field}: not a string")
        properties[prop] = value
        note.setdefault("top", []).append(prop)
    if sdk is not None and not {"$lib", "$lib_version"} & properties.keys():
        properties["$lib"], properties["$lib_version"] = sdk
        note["sdk"] = True

    item["properties"] = properties
    event, _ = posthog.decode_event(item, skew, received_at)
    event.envelope[_NOTE] = note
    return event


def _is_rfc3339(value: Any) -> bool:
    """An ISO 8601 date and time with a zone (PostHog's v1 refuses naive
    times)."""
    if not isinstance(value, str) or not 10 < len(value) <= 64:
        return False
    if "T" not in value.upper():
        return False
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


# -- encoding --------------------------------------------------------------


def encode_upstream(
    events: Sequence[Event], api_key: str, *, sent_at: float
) -> UpstreamRequest:
    """The v1 request that sends ``events`` to PostHog, the inverse of
    :func:`decode`: what an SDK sent comes back as it was sent.

    The destination adds ``Authorization: Bearer <api_key>`` (``api_key`` is
    needed here only for a ``token`` the client had put in properties).
    ``PostHog-Sdk-Info`` names the library of the first event whose
    ``$lib`` came from that header, else Redline. Raises ``ValueError`` for
    an event without an idempotency id or a distinct id.
    """
    records: list[dict[str, Any]] = []
    sdk: str | None = None
    for event in events:
        record, lib = encode_event(event, api_key)
        records.append(record)
        sdk = sdk or lib
    stamp = format_iso(sent_at)
    payload: dict[str, Any] = {"created_at": stamp, "batch": records}
    if any(event.envelope.get(_HIST) is True for event in events):
        payload["historical_migration"] = True
    headers = {
        "Content-Type": "application/json",
        "PostHog-Sdk-Info": sdk or f"redline/{__version__}",
        "PostHog-Attempt": "1",
        "PostHog-Request-Id": str(uuid.uuid4()),
        "PostHog-Request-Timestamp": stamp,
    }
    return UpstreamRequest(PATH, {}, headers, _body.dumps_json(payload))


def encode_event(
    event: Event, api_key: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """One event in v1's wire shape, and ``<lib>/<version>`` when its
    ``$lib`` belongs in ``PostHog-Sdk-Info`` instead.

    Events decoded from v1 go back as they came; others as posthog-python
    builds v1 events: person operations inside ``properties``, the sentinel
    properties as ``options``, ``$session_id`` and ``$window_id`` at the top.
    """
    if event.insert_id is None:
        raise ValueError("an event without an idempotency id")
    note = event.envelope.get(_NOTE)
    record = posthog.encode_event(event, api_key)
    properties: dict[str, Any] = record["properties"]
    for op in _PERSON_OPS:
        # v1 has no top-level form; the properties' own wins, as in the SDK
        outer = record.pop(op, None)
        if isinstance(outer, dict):
            inner = properties.get(op)
            properties[op] = {**outer, **inner} if isinstance(inner, dict) else outer
    if "distinct_id" not in record:
        record["distinct_id"] = properties.pop("distinct_id", None)
        if record["distinct_id"] is None:
            raise ValueError("an event without a distinct id")
    record["uuid"] = as_uuid(event.insert_id)

    moved = note.get("options", ()) if isinstance(note, dict) else None
    options: dict[str, Any] = {}
    for option, (prop, coerce) in _OPTIONS.items():
        if prop not in properties or (moved is not None and prop not in moved):
            continue
        value = coerce(properties[prop])
        if value is not None:
            options[option] = value
            del properties[prop]
    left = record.pop("options", None)
    if isinstance(left, dict):
        options.update(left)
    if not (isinstance(note, dict) and note.get("no_options") and not options):
        record["options"] = options

    top = note.get("top", ()) if isinstance(note, dict) else None
    for field, prop in _TOP.items():
        if prop in properties and field not in record and (top is None or prop in top):
            value = properties[prop]
            if isinstance(value, str):
                record[field] = properties.pop(prop)

    lib = None
    if isinstance(note, dict) and note.get("sdk"):
        name = properties.pop("$lib", None)
        version = properties.pop("$lib_version", None)
        if isinstance(name, str) and isinstance(version, str):
            lib = f"{name}/{version}"
    return record, lib


# -- answers ---------------------------------------------------------------


def respond(
    batch: Batch, *, accepted: int, failures: list[tuple[int, str]]
) -> Response:
    """PostHog's v1 answer to a request that was read: a result for each
    record by its uuid, ``ok`` (sent on, or left out by the policy) or
    ``drop`` with the reason (shape only) for one refused."""
    refused = dict(failures)
    results: dict[str, dict[str, str]] = {}
    for index, record_id in enumerate(batch.record_ids):
        reason = refused.get(index)
        if reason is None:
            results[record_id] = {"result": "ok"}
        else:
            results[record_id] = {"result": "drop", "details": reason}
    return json_response(200, {"results": results})


_TAGS = {
    401: "invalid_api_token",
    403: "origin_not_allowed",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_content_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def error_response(exc: RequestError, *, retry_after: float | None = None) -> Response:
    """PostHog's v1 answer to a request refused as a whole."""
    status = exc.status
    tag = getattr(exc, "tag", None) or _TAGS.get(status, "invalid_batch")
    response = json_response(
        status,
        {"error": tag, "error_description": str(exc), "error_uri": _ERROR_URI},
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response
