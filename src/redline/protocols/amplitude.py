"""Amplitude's HTTP V2 and Batch Event Upload APIs: what amplitude-analytics
and analytics-browser send.

:func:`decode` reads ``/2/httpapi`` and ``/batch`` bodies (``{"api_key",
"events": [...], "options"}``, JSON, gzipped or not) into vendor-neutral
events; :func:`encode_upstream` is its inverse, producing the HTTP V2 request
amplitude-analytics sends. Wire facts: protocols.md §4.

Records: ``event_type`` is the event name (``[Amplitude] Page Viewed`` is
Mixpanel's ``$mp_web_page_view``); ``user_id`` is the distinct id (else
``device_id``), and both are also the properties ``$user_id`` and
``$device_id``; ``time`` (milliseconds) is the event time; ``insert_id`` the
idempotency id; ``event_properties`` the properties; ``user_properties``
person operations sanitised by the profile rules (``$setOnce`` is
``$set_once``, ``$unset``'s object a list of names; plain properties are a
``$set``). ``ip`` is the event's address, and ``"$remote"`` (or no ``ip``)
means the request's, which the gateway's IP rule then coarsens. Top-level
fields with a Mixpanel counterpart become those properties (:data:`FIELD_MAP`:
``os_name`` is ``$os``, ``location_lat`` ``$latitude``...); the others
(``platform``, ``country``, ``groups``...) are the property ``$context``.

Amplitude does not correct clock skew; events without a ``time`` are dated
by the gateway on arrival, so that a delay in the outbox does not move them.

Answers (the SDK reads the body's ``code``, never the status line): 200
``{"code": 200, "events_ingested", "payload_size_bytes",
"server_upload_time"}`` (the payload size is the request body's as received,
compressed or not); bad records 400 with their indexes in
``events_with_invalid_fields`` / ``events_with_missing_fields`` (the SDK then
retries only the others, which the gateway has already accepted: their
``insert_id`` makes Amplitude drop the repeat); an unknown key 400
``Invalid API key: ...``; too large 413; busy 503.
"""

from __future__ import annotations

import math
import time as _clock
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PayloadTooLarge, RequestError
from ..events import Event, Kind
from . import _body
from ._vendor import (
    LITERAL,
    PERSON,
    BadRecord,
    Batch,
    Response,
    UpstreamRequest,
    json_response,
    pull_mapped,
    push_mapped,
    time_seconds,
)

__all__ = [
    "FIELD_MAP",
    "PATHS",
    "PROPERTY_MAP",
    "decode",
    "encode_event",
    "encode_upstream",
    "error_response",
    "respond",
]

PATHS = {"/2/httpapi": "httpapi", "/batch": "batch"}
# top-level event field -> canonical property
FIELD_MAP: tuple[tuple[tuple[str, ...], str], ...] = (
    (("user_id",), "$user_id"),
    (("device_id",), "$device_id"),
    (("os_name",), "$os"),
    (("os_version",), "$os_version"),
    (("device_model",), "$device"),
    (("user_agent",), "$raw_user_agent"),
    (("library",), "mp_lib"),
    (("location_lat",), "$latitude"),
    (("location_lng",), "$longitude"),
)
# event_properties name -> canonical property
PROPERTY_MAP: tuple[tuple[str, str], ...] = (
    ("[Amplitude] Page URL", "$current_url"),
    ("[Amplitude] Page Path", "current_url_path"),
    ("[Amplitude] Page Title", "current_page_title"),
    ("[Amplitude] Page Domain", "current_domain"),
)
PAGEVIEW = "[Amplitude] Page Viewed"
# 9999-12-31: a later time is no time
_TIME_MAX_MS = 253402300800000
IDENTIFY = "$identify"
GROUP_IDENTIFY = "$groupidentify"
# user-property operations, by their canonical (Mixpanel) names
_PERSON_OPS = frozenset(
    {
        "$set",
        "$set_once",
        "$add",
        "$append",
        "$prepend",
        "$unset",
        "$preInsert",
        "$postInsert",
        "$remove",
        "$clearAll",
    }
)
# Mixpanel profile operations Amplitude has no counterpart for
_FOREIGN_OPS = ("$union", "$delete")
CANONICAL_PAGEVIEW = "$mp_web_page_view"
CONTEXT = "$context"
MAX_DEPTH = 32

_OPS_IN = {"$set": "$set", "$setOnce": "$set_once"}
_OPS_OUT = {v: k for k, v in _OPS_IN.items()}
_SHAPE = "$amplitude"


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
    """Decode one upload. Raises :class:`RequestError` (400, 405) or
    :class:`PayloadTooLarge` (413) when it cannot be read as a whole."""
    if method.upper() != "POST":
        raise RequestError("method not allowed", status=405)
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(f"request body over {max_body_bytes} bytes")
    content = _body.decompress(body, headers, limit=max_body_bytes)
    kind = _body.media_type(headers)
    if kind == "application/x-www-form-urlencoded":
        # the legacy form upload: e=<events JSON>&client=<key>
        form = _body.parse_form(content)
        value: Any = {"api_key": form.get("client"), "events": form.get("e")}
        if isinstance(value["events"], str):
            value["events"] = _body.loads_json(value["events"], "e")
    else:
        value = _body.loads_json(content, "body")
    if not isinstance(value, dict):
        raise RequestError("body is not a JSON object")
    key = value.get("api_key")
    if not isinstance(key, str) or not key:
        raise RequestError("api_key: missing")
    items = value.get("events")
    if not isinstance(items, list):
        raise RequestError("events: missing or not an array")
    if len(items) > max_records:
        raise PayloadTooLarge(f"more than {max_records} events in one request")
    if not items:
        raise RequestError("events: empty")

    batch = Batch(endpoint, [], [], [], [], key=key, body_bytes=len(body))
    for index, item in enumerate(items):
        try:
            event = _event(item, received_at)
        except BadRecord as bad:
            batch.failures.append((index, str(bad)))
            continue
        batch.events.append(event)
        batch.tokens.append(None)
        batch.indexes.append(index)
    return batch


def _event(item: Any, received_at: float | None) -> Event:
    if not isinstance(item, dict):
        raise BadRecord("event: not a JSON object")
    problem = _body.shape_problem(item, max_depth=MAX_DEPTH)
    if problem:
        raise BadRecord(f"event: {problem}")
    name = item.get("event_type")
    if not isinstance(name, str) or not name:
        raise BadRecord("event_type: missing or not a string")
    record = dict(item)
    for field in ("user_id", "device_id"):
        if record.get(field) is None:
            record.pop(field, None)
        else:
            record[field] = _identifier(record[field], field)
    user_id = record.get("user_id")
    device_id = record.get("device_id")
    if user_id is None and device_id is None:
        raise BadRecord("user_id: required (or device_id)")

    given = record.pop("event_properties", None)
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise BadRecord("event_properties: not an object")
    properties = dict(given)
    shape: dict[str, Any] = {}
    if "event_properties" not in item:
        shape["noprops"] = True
    if CONTEXT in properties:
        raise BadRecord(f"event_properties.{CONTEXT}: a name Redline reserves")
    literal = _pull_flat(properties)
    literal += pull_mapped(record, properties, FIELD_MAP)

    envelope: dict[str, Any] = {}
    person = _person(record.pop("user_properties", None), shape)
    kind = Kind.TRACK
    group_id: str | None = None
    if name == GROUP_IDENTIFY and _one_group(record):
        # a group-properties update: Mixpanel's /groups, under the group
        # rules; the group type is the group key, its name the group's id
        ((group_type, group_name),) = record.pop("groups").items()
        group_shape: dict[str, Any] = {}
        ops = _person(record.pop("group_properties", None), group_shape)
        if group_shape:
            shape["group"] = group_shape
        kind = Kind.GROUP
        properties.update(ops or {})
        envelope["$group_key"] = group_type
        group_id = _identifier(group_name, "groups")
        if person is not None:
            envelope[PERSON] = person
    elif name == IDENTIFY:
        # a user-properties update and nothing else: a profile update, as
        # Mixpanel's /engage
        kind = Kind.PROFILE
        properties.update(person or {})
    elif person is not None:
        envelope[PERSON] = person
    ip = record.pop("ip", None)
    if ip == "$remote":
        shape["remote"] = True
        ip = None
    elif ip is not None and not isinstance(ip, str):
        raise BadRecord("ip: not a string")
    insert_id = record.pop("insert_id", None)
    if insert_id is not None and not isinstance(insert_id, str):
        raise BadRecord("insert_id: not a string")
    raw_time = record.pop("time", None)
    if raw_time is None:
        seconds = received_at
    elif (
        isinstance(raw_time, int)
        and not isinstance(raw_time, bool)
        and 0 <= raw_time < _TIME_MAX_MS
    ):
        seconds = raw_time / 1000
    else:
        raise BadRecord("time: not an integer of milliseconds")
    record.pop("event_type")
    if record:
        properties[CONTEXT] = record
    if literal:
        envelope[LITERAL] = literal
    if name == PAGEVIEW:
        name = CANONICAL_PAGEVIEW
    elif name == CANONICAL_PAGEVIEW:
        shape["name"] = True
    if shape:
        envelope[_SHAPE] = shape
    distinct_id = user_id if user_id is not None else device_id
    if group_id is not None:
        distinct_id = group_id
    return Event(
        kind,
        name,
        properties,
        distinct_id,
        insert_id or None,
        seconds,
        ip or None,
        False,
        envelope,
    )


def _pull_flat(properties: dict[str, Any]) -> list[str]:
    literal: list[str] = []
    for vendor, canonical in PROPERTY_MAP:
        if canonical in properties:
            literal.append(canonical)
        elif vendor in properties:
            properties[canonical] = properties.pop(vendor)
    return literal


def _one_group(record: dict[str, Any]) -> bool:
    groups = record.get("groups")
    return (
        isinstance(groups, dict)
        and len(groups) == 1
        and isinstance(next(iter(groups)), str)
        and isinstance(record.get("group_properties"), dict)
    )


def _person(value: Any, shape: dict[str, Any]) -> dict[str, Any] | None:
    """``user_properties`` as Mixpanel-named operations."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRecord("user_properties: not an object")
    if not any(isinstance(k, str) and k.startswith("$") for k in value):
        shape["plain"] = True
        return {"$set": dict(value)}
    ops: dict[str, Any] = {}
    for op, inner in value.items():
        name = _OPS_IN.get(op, str(op))
        if op == "$unset" and isinstance(inner, dict):
            ops[name] = list(inner)
        else:
            ops[name] = inner
    return ops


def _identifier(value: Any, field: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise BadRecord(f"{field}: not a string or number")


# -- encoding --------------------------------------------------------------


def encode_upstream(events: Sequence[Event], api_key: str) -> UpstreamRequest:
    """The HTTP V2 request that sends ``events`` to Amplitude."""
    payload = {"api_key": api_key, "events": [encode_event(e) for e in events]}
    return UpstreamRequest(
        path="/2/httpapi",
        query={},
        headers={"Content-Type": "application/json"},
        body=_body.dumps_json(payload),
    )


def encode_event(event: Event) -> dict[str, Any]:
    """One event in Amplitude's shape; the inverse of decoding one. Profile
    updates from other vendors become ``$identify`` events; group updates
    ``$groupidentify``."""
    envelope = event.envelope
    shape = envelope.get(_SHAPE)
    if not isinstance(shape, dict):
        shape = {}
    properties = dict(event.properties)
    person = envelope.get(PERSON)
    name = event.name
    record: dict[str, Any] = {}
    if event.kind is Kind.PROFILE:
        name = IDENTIFY
        person = {
            op: properties.pop(op) for op in list(properties) if op in _PERSON_OPS
        }
        for op in _FOREIGN_OPS:
            properties.pop(op, None)
    elif event.kind is Kind.GROUP:
        name = GROUP_IDENTIFY
        group_key = envelope.get("$group_key")
        group_type = group_key if isinstance(group_key, str) else "group"
        record["groups"] = {group_type: event.distinct_id}
        ops = {op: properties.pop(op) for op in list(properties) if op in _PERSON_OPS}
        for op in _FOREIGN_OPS:
            properties.pop(op, None)
        group_shape = shape.get("group")
        record["group_properties"] = _person_out(
            ops, group_shape if isinstance(group_shape, dict) else {}
        )
    elif name == CANONICAL_PAGEVIEW and not shape.get("name"):
        name = PAGEVIEW
    record["event_type"] = name

    rest = properties.pop(CONTEXT, None)
    if isinstance(rest, dict):
        for key, value in rest.items():
            record.setdefault(key, value)
    literal = envelope.get(LITERAL)
    literal = literal if isinstance(literal, list) else []
    push_mapped(properties, record, FIELD_MAP, literal)
    for vendor, canonical in PROPERTY_MAP:
        if canonical in properties and canonical not in literal:
            properties[vendor] = properties.pop(canonical)
    if event.kind is Kind.GROUP:
        if "user_id" not in record and "device_id" not in record:
            # Amplitude wants a user or a device on every event: a device
            # id no user has, for a group update that came without one
            record["device_id"] = f"group-{event.distinct_id}"
    elif (
        "user_id" not in record
        and event.distinct_id is not None
        and event.distinct_id != record.get("device_id")
    ):
        record["user_id"] = event.distinct_id
    if properties or not shape.get("noprops"):
        record["event_properties"] = properties
    if isinstance(person, dict):
        record["user_properties"] = _person_out(person, shape)
    seconds = time_seconds(event.time)
    if seconds is not None:
        record["time"] = round(seconds * 1000)
    if event.insert_id is not None:
        record["insert_id"] = event.insert_id
    if event.ip is not None:
        record["ip"] = event.ip
    elif shape.get("remote"):
        record["ip"] = "$remote"
    return record


def _person_out(person: dict[str, Any], shape: dict[str, Any]) -> dict[str, Any]:
    if shape.get("plain") and set(person) <= {"$set"}:
        inner = person.get("$set")
        return dict(inner) if isinstance(inner, dict) else {}
    out: dict[str, Any] = {}
    for op, value in person.items():
        if op == "$unset" and isinstance(value, list):
            out["$unset"] = dict.fromkeys(value, "-")
        else:
            out[_OPS_OUT.get(op, op)] = value
    return out


# -- responses -------------------------------------------------------------


def respond(
    batch: Batch, *, accepted: int, failures: list[tuple[int, str]]
) -> Response:
    """200 with Amplitude's success fields, or 400 listing the failed
    events by index (missing ids as missing fields, the rest as invalid)."""
    if not failures:
        return json_response(
            200,
            {
                "code": 200,
                "events_ingested": accepted,
                "payload_size_bytes": batch.body_bytes,
                "server_upload_time": int(_clock.time() * 1000),
            },
        )
    missing: dict[str, list[int]] = {}
    invalid: dict[str, list[int]] = {}
    for index, reason in failures:
        field, _, detail = reason.partition(": ")
        field = field.split(".", 1)[0] if ": " in reason else "event"
        target = missing if "required" in detail or "missing" in detail else invalid
        target.setdefault(field, []).append(index)
    body: dict[str, Any] = {"code": 400, "error": "Invalid events in the request"}
    if invalid:
        body["events_with_invalid_fields"] = invalid
    if missing:
        body["events_with_missing_fields"] = missing
    return json_response(400, body)


def error_response(exc: RequestError, *, retry_after: float | None = None) -> Response:
    """Amplitude's answer to an upload refused as a whole."""
    status = exc.status
    if status == 401:
        # what the SDK recognises as a bad key (and drops the batch)
        response = json_response(400, {"code": 400, "error": f"Invalid API key: {exc}"})
    elif status == 413:
        response = json_response(413, {"code": 413, "error": "Payload too large"})
    else:
        response = json_response(status, {"code": status, "error": str(exc)})
    if retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response
