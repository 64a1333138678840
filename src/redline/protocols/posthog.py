"""The PostHog capture protocol (v0): what posthog-js and posthog-python send.

:func:`decode` reads a request to ``/e``, ``/i/v0/e``, ``/capture`` or
``/batch`` into vendor-neutral events; :func:`encode_upstream` is its inverse,
producing the ``/batch/`` request posthog-python sends; :func:`respond` and
:func:`error_response` answer as PostHog's capture server does. Wire facts
come from protocols.md §2.

Bodies: JSON (an array of events, one event, or ``{api_key|token, batch,
sent_at, historical_migration}``), gzip (by ``Content-Encoding``, by the
``compression=gzip-js`` hint, or by its magic bytes, since posthog-js sends
it unlabelled as ``text/plain``), and form ``data=`` holding JSON, base64
(``compression=base64``, sendBeacon) or lz-string base64 (``compression=lz64``
in the query or as a form field beside ``data``: very old posthog-js and
posthog-js-lite). PostHog's newer protocol, ``/i/v1/analytics/events``, is
:mod:`redline.protocols.posthog_v1`, which shares this module's event
decoding.

Canonical names: PostHog's own property names are mostly Mixpanel's
(``$current_url``, ``$referrer``, ``$os``...); ``$lib``, ``$pathname``,
``$host`` and ``title`` are moved to ``mp_lib``, ``current_url_path``,
``current_domain`` and ``current_page_title``, ``$pageview`` is the event
``$mp_web_page_view``, ``properties.$ip`` is the event's address, ``uuid`` its
idempotency id, and ``$set``/``$set_once`` are person operations sanitised
by the profile rules (docs/vendors.md).

Clock skew: PostHog dates an event ``now - (sent_at - timestamp)``. The
gateway holds events in its outbox, so :func:`decode` applies that
correction itself with its own receive time, and :func:`encode_upstream`
sends a fresh ``sent_at``: the stored times do not move by the delay.

Answers: 200 ``{"status": 1}`` (PostHog SDKs want exactly 200); a request
that cannot be read 400, an unknown key 401, too large 413, busy 503, each
with the JSON error shape of PostHog's API (``type``, ``code``, ``detail``,
``attr``). Like PostHog, a batch with some bad records is answered 200; one
whose every record is bad answers 400.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PayloadTooLarge, RequestError
from ..events import Event, Kind
from . import _body, _lz64
from ._vendor import (
    LITERAL,
    PERSON,
    TIMESTAMP,
    BadRecord,
    Batch,
    Response,
    UpstreamRequest,
    as_uuid,
    format_iso,
    json_response,
    parse_iso,
    time_seconds,
)

__all__ = [
    "CAPTURE_PATHS",
    "FIELD_MAP",
    "clock_skew",
    "config_body",
    "config_script",
    "decode",
    "decode_event",
    "encode_event",
    "encode_upstream",
    "error_response",
    "respond",
    "without_geolocation",
]

# path (without the trailing slash) -> endpoint
CAPTURE_PATHS = {
    "/e": "capture",
    "/i/v0/e": "capture",
    "/capture": "capture",
    "/batch": "batch",
}
# PostHog property -> canonical (Mixpanel) property
FIELD_MAP: tuple[tuple[tuple[str, ...], str], ...] = (
    (("$lib",), "mp_lib"),
    (("$pathname",), "current_url_path"),
    (("$host",), "current_domain"),
    (("title",), "current_page_title"),
)
PAGEVIEW = "$pageview"
CANONICAL_PAGEVIEW = "$mp_web_page_view"
MAX_DEPTH = 32

_PERSON_OPS = ("$set", "$set_once")
_MIXPANEL_OPS = ("$add", "$append", "$union", "$remove", "$delete")
_KNOWN = frozenset(
    {"event", "properties", "distinct_id", "timestamp", "uuid", "offset", "api_key"}
    | set(_PERSON_OPS)
)
_JSON_TYPES = frozenset({"application/json", "text/json"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "text/plain", ""})
# where an event kept its distinct id and token, for an exact encoding
_SHAPE = "$posthog"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_HIST = "$historical"
_LZ64 = frozenset({"lz64", "lz-string"})


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
    """Decode one capture request. ``headers`` must have lower-cased names.

    ``received_at`` (seconds) is when the gateway received it; with it,
    client times are corrected for the client's clock skew from
    ``sent_at``, and events without a time are dated by it. Raises
    :class:`RequestError` (400, 405) or :class:`PayloadTooLarge` (413) when
    the request cannot be read as a whole.
    """
    value = _payload(method, query, headers, body, max_body_bytes)
    key: str | None = None
    sent_at: Any = None
    historical = False
    if isinstance(value, dict) and "batch" in value:
        key = _token(value.get("api_key")) or _token(value.get("token"))
        sent_at = value.get("sent_at")
        historical = value.get("historical_migration") is True
        value = value["batch"]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RequestError("payload is neither an event, an array nor a batch")
    if len(value) > max_records:
        raise PayloadTooLarge(f"more than {max_records} events in one request")
    if not value:
        raise RequestError("no events")
    if sent_at is None:
        # older posthog-js sends the time of sending as _ (milliseconds)
        sent_at = _query_ms(query.get("_"))
    skew = clock_skew(sent_at, received_at)

    batch = Batch(endpoint, [], [], [], [], key=key)
    for index, item in enumerate(value):
        try:
            event, token = decode_event(item, skew, received_at)
        except BadRecord as bad:
            batch.failures.append((index, str(bad)))
            continue
        if historical:
            event.envelope[_HIST] = True
        batch.events.append(event)
        batch.tokens.append(token)
        batch.indexes.append(index)
    return without_geolocation(batch)


def without_geolocation(batch: Batch) -> Batch:
    """``batch``, marked not to be located by the request's address when
    every event asks for no geolocation: posthog-python's default, whose
    request address is a server's."""
    if batch.events and all(
        e.properties.get("$geoip_disable") is True for e in batch.events
    ):
        return dataclasses.replace(batch, client_ip=False)
    return batch


def _payload(
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    limit: int,
) -> Any:
    method = method.upper()
    hint = (query.get("compression") or "").strip().lower()
    if method == "GET":
        data = query.get("data")
        if not data:
            raise RequestError("no data field")
        return _data(data, hint, limit)
    if method != "POST":
        raise RequestError("method not allowed", status=405)
    if len(body) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    # gzip is found by its magic bytes whatever the hint says
    content = _body.decompress(body, headers, limit=limit)
    kind = _body.media_type(headers)
    if _body.looks_like_json(content):
        return _body.loads_json(content, "body")
    if kind in _JSON_TYPES:
        raise RequestError("body is not valid JSON")
    if kind not in _FORM_TYPES:
        raise RequestError("unsupported Content-Type")
    text = content.decode("utf-8", "replace")
    if "=" in text[:64] and (hint not in _LZ64 or "data=" in text[:64]):
        form = _body.parse_form(content)
        data = form.get("data")
        if not data:
            raise RequestError("no data field")
        hint = (form.get("compression") or hint).strip().lower()
        return _data(data, hint, limit)
    if hint in _LZ64:
        # the lz-string text as the whole body (lz64's "=" padding is no form)
        return _data(text, hint, limit)
    # a bare base64 body (older SDKs on the legacy paths)
    return _data(text, "base64", limit)


def _data(data: str, hint: str, limit: int) -> Any:
    if len(data) > limit:
        raise PayloadTooLarge(f"data over {limit} bytes")
    if hint in _LZ64 and not _body.looks_like_json(data):
        return _body.loads_json(_lz64.decode(data, limit=limit), "data")
    if _body.looks_like_json(data):
        return _body.loads_json(data, "data")
    raw = _body.b64decode_loose(data)
    if raw[:2] == _body.GZIP_MAGIC:
        raw = _body.decompress(raw, {}, limit=limit)
    if not _body.looks_like_json(raw):
        # base64 of base64: PostHog unwraps once more on its legacy paths
        raw = _body.b64decode_loose(raw.decode("ascii", "replace"))
    return _body.loads_json(raw, "data")


def _query_ms(value: str | None) -> float | None:
    if value and value.isdigit() and len(value) <= 16:
        return int(value) / 1000
    return None


def clock_skew(sent_at: Any, received_at: float | None) -> float | None:
    """Seconds to add to client times, or None when unknown: the gateway's
    receive time less the client's time of sending (an ISO 8601 string or
    seconds)."""
    if received_at is None or sent_at is None:
        return None
    if isinstance(sent_at, float | int) and not isinstance(sent_at, bool):
        sent = float(sent_at)
    else:
        try:
            sent = parse_iso(sent_at, "sent_at")
        except BadRecord:
            return None
    return received_at - sent if math.isfinite(sent) else None


def decode_event(
    item: Any, skew: float | None, received_at: float | None
) -> tuple[Event, str | None]:
    """One capture-API event record as a vendor-neutral event, and the
    ingest key it carries itself (``properties.token``, ``api_key``).

    ``skew`` is what :func:`clock_skew` gives for the request. Raises
    :class:`BadRecord` for a record that cannot be decoded.
    """
    if not isinstance(item, dict):
        raise BadRecord("event: not a JSON object")
    problem = _body.shape_problem(item, max_depth=MAX_DEPTH)
    if problem:
        raise BadRecord(f"event: {problem}")
    name = item.get("event")
    if not isinstance(name, str) or not name:
        raise BadRecord("event: missing or not a string")
    given = item.get("properties")
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise BadRecord("properties: not an object")
    properties = dict(given)
    shape: dict[str, Any] = {}

    token = _token(properties.pop("token", None))
    if token is not None:
        shape["tok"] = True
    token = token or _token(item.get("api_key"))
    top_id = item.get("distinct_id")
    prop_id = properties.pop("distinct_id", None)
    if "distinct_id" in given:
        shape["pid"] = True if top_id is None else (prop_id == top_id)
    distinct_id = _identifier(top_id if top_id is not None else prop_id)
    if distinct_id is None:
        raise BadRecord("distinct_id: missing")
    if top_id is None:
        shape["top"] = False

    insert_id = item.get("uuid")
    if insert_id is not None and not isinstance(insert_id, str):
        raise BadRecord("uuid: not a string")
    ip = properties.pop("$ip", None)
    if ip is not None and not isinstance(ip, str):
        raise BadRecord("properties.$ip: not a string")

    envelope: dict[str, Any] = {}
    person: dict[str, Any] = {}
    for op in _PERSON_OPS:
        inner = properties.pop(op, None)
        outer = item.get(op)
        for part in (inner, outer):  # the top-level one wins
            if part is None:
                continue
            if not isinstance(part, dict):
                raise BadRecord(f"{op}: not an object")
            person.setdefault(op, {}).update(part)
        if inner is not None and outer is None:
            shape.setdefault("in", []).append(op)
    kind = Kind.TRACK
    if name == "$set":
        # a person update and nothing else (posthog-python's set()): a
        # profile update, as Mixpanel's /engage
        kind = Kind.PROFILE
        properties.update(person)
    elif person:
        envelope[PERSON] = person

    time, stamp = _time(item, properties, skew, received_at)
    if stamp is not None:
        envelope[TIMESTAMP] = stamp
    literal = _pull_flat(properties)
    if literal:
        envelope[LITERAL] = literal
    if name == PAGEVIEW:
        name = CANONICAL_PAGEVIEW
    elif name == CANONICAL_PAGEVIEW:
        shape["name"] = True
    extra = {k: v for k, v in item.items() if k not in _KNOWN}
    if "offset" in item and TIMESTAMP in envelope:
        extra["offset"] = item["offset"]
    if extra:
        envelope["extra"] = extra
    if shape:
        envelope[_SHAPE] = shape
    event = Event(
        kind,
        name,
        properties,
        distinct_id,
        insert_id or None,
        time,
        ip or None,
        False,
        envelope,
    )
    return event, token


def _pull_flat(properties: dict[str, Any]) -> list[str]:
    literal: list[str] = []
    for (vendor,), canonical in FIELD_MAP:
        if canonical in properties:
            literal.append(canonical)
        elif vendor in properties:
            properties[canonical] = properties.pop(vendor)
    return literal


def _time(
    item: dict[str, Any],
    properties: dict[str, Any],
    skew: float | None,
    received_at: float | None,
) -> tuple[float | None, str | None]:
    """The event time in seconds, and the client's string when kept as is."""
    stamp = item.get("timestamp")
    ignore_sent_at = properties.get("$ignore_sent_at") is True
    if stamp is not None:
        seconds = parse_iso(stamp, "timestamp")
        if skew is None or ignore_sent_at or abs(skew) < 0.001:
            return seconds, stamp
        return seconds + skew, None
    offset = item.get("offset")
    if received_at is not None:
        if isinstance(offset, int | float) and not isinstance(offset, bool):
            return received_at - offset / 1000, None
        return received_at, None
    return None, None


def _identifier(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if value is None:
        return None
    raise BadRecord("distinct_id: not a string or number")


def _token(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- encoding --------------------------------------------------------------


def encode_upstream(
    events: Sequence[Event], api_key: str, *, sent_at: float
) -> UpstreamRequest:
    """The ``/batch/`` request that sends ``events`` to PostHog.

    The inverse of :func:`decode`: canonical names go back to PostHog's,
    ``Event.ip`` becomes ``properties.$ip``, the insert id becomes ``uuid``
    (as a UUID), person operations go to the top level. ``sent_at`` (now, at
    forwarding) goes beside them, so PostHog's skew correction sees no
    delay. Raises ``ValueError`` for events JSON cannot carry.
    """
    records = [encode_event(event, api_key) for event in events]
    historical = any(event.envelope.get(_HIST) is True for event in events)
    payload: dict[str, Any] = {
        "api_key": api_key,
        "batch": records,
        "sent_at": format_iso(sent_at),
    }
    if historical:
        payload["historical_migration"] = True
    return UpstreamRequest(
        path="/batch/",
        query={},
        headers={"Content-Type": "application/json"},
        body=_body.dumps_json(payload),
    )


def encode_event(event: Event, api_key: str | None = None) -> dict[str, Any]:
    """One event in PostHog's wire shape. A profile update (from a PostHog
    ``$set`` event or Mixpanel's ``/engage``) becomes a ``$set`` event; a
    group update a ``$groupidentify`` event."""
    envelope = event.envelope
    shape = envelope.get(_SHAPE)
    if not isinstance(shape, dict):
        shape = {}
    properties = dict(event.properties)
    person = envelope.get(PERSON)
    name = event.name
    distinct_id = event.distinct_id
    if event.kind is Kind.PROFILE:
        name = "$set"
        person = {op: properties.pop(op) for op in _PERSON_OPS if op in properties}
        # Mixpanel's other operations have no PostHog counterpart but $unset
        for op in _MIXPANEL_OPS:
            properties.pop(op, None)
    elif event.kind is Kind.GROUP:
        name = "$groupidentify"
        group_key = envelope.get("$group_key")
        properties = {
            "$group_type": group_key if isinstance(group_key, str) else "group",
            "$group_key": distinct_id,
            "$group_set": properties.get("$set", {}),
        }
        distinct_id = f"$group_{distinct_id}"
    elif name == CANONICAL_PAGEVIEW and not shape.get("name"):
        name = PAGEVIEW

    literal = envelope.get(LITERAL)
    literal = literal if isinstance(literal, list) else []
    for (vendor,), canonical in FIELD_MAP:
        if canonical in properties and canonical not in literal:
            properties[vendor] = properties.pop(canonical)
    if event.ip is not None:
        properties["$ip"] = event.ip
    else:
        # no address to geolocate by: PostHog would otherwise take the
        # gateway's own from the request
        properties.setdefault("$geoip_disable", True)
    if shape.get("tok") and api_key is not None:
        properties["token"] = api_key
    if distinct_id is not None and ("pid" in shape or shape.get("top") is False):
        properties["distinct_id"] = distinct_id

    record: dict[str, Any] = {"event": name}
    if distinct_id is not None and shape.get("top", True):
        record["distinct_id"] = distinct_id
    record["properties"] = properties
    stamp = envelope.get(TIMESTAMP)
    if isinstance(stamp, str):
        record["timestamp"] = stamp
    else:
        seconds = time_seconds(event.time)
        if seconds is not None:
            record["timestamp"] = format_iso(seconds)
    if event.insert_id is not None:
        record["uuid"] = as_uuid(event.insert_id)
    if isinstance(person, dict):
        inside = shape.get("in") or []
        for op in _PERSON_OPS:
            if op in person:
                if op in inside:
                    properties[op] = person[op]
                else:
                    record[op] = person[op]
    extra = envelope.get("extra")
    if isinstance(extra, dict):
        for key, value in extra.items():
            record.setdefault(key, value)
    return record


# -- responses -------------------------------------------------------------


def respond(
    batch: Batch, *, accepted: int, failures: list[tuple[int, str]]
) -> Response:
    """PostHog's answer to a request that was read: 200 ``{"status": 1}``
    unless every record failed (400 naming the first reason)."""
    if accepted == 0 and failures:
        return _error(400, "validation_error", "invalid_payload", failures[0][1])
    return json_response(200, {"status": 1})


def error_response(exc: RequestError, *, retry_after: float | None = None) -> Response:
    """PostHog's answer to a request refused as a whole."""
    status = exc.status
    if status == 401:
        response = _error(401, "authentication_error", "invalid_api_key", str(exc))
    elif status == 413:
        response = _error(413, "validation_error", "payload_too_large", str(exc))
    elif status >= 500 or status == 429:
        response = _error(status, "server_error", "busy", str(exc))
    else:
        response = _error(status, "validation_error", "invalid_payload", str(exc))
    if retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response


def _error(status: int, kind: str, code: str, detail: str) -> Response:
    return json_response(
        status, {"type": kind, "code": code, "detail": detail, "attr": None}
    )


def config_body(token: str) -> dict[str, Any] | None:
    """The remote config posthog-js loads from ``/array/<token>/config``:
    compression on, everything that would send more data off (recordings,
    heatmaps, surveys, site apps) off. None for a malformed token."""
    if not _TOKEN_RE.fullmatch(token):
        return None
    return {
        "token": token,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": False,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "autocapture_opt_out": False,
        "autocaptureExceptions": False,
        "analytics": {"endpoint": "/i/v0/e/"},
        "elementsChainAsString": True,
        "sessionRecording": False,
        "heatmaps": False,
        "surveys": False,
        "defaultIdentifiedOnly": True,
        "siteApps": [],
    }


def config_script(token: str) -> bytes | None:
    """``/array/<token>/config.js``: the same config as a script that
    registers it where posthog-js looks for it."""
    body = config_body(token)
    if body is None:
        return None
    site_apps = body.pop("siteApps")
    key = json.dumps(token)
    value = json.dumps({"config": body, "siteApps": site_apps}, separators=(",", ":"))
    script = (
        "(function(){window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
        f"window._POSTHOG_REMOTE_CONFIG[{key}]={value};}})();"
    )
    return script.encode()
