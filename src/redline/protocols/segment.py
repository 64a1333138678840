"""The Segment HTTP tracking API: what analytics-python and analytics-next send.

:func:`decode` reads ``/v1/track``, ``/v1/identify``, ``/v1/page``,
``/v1/screen``, ``/v1/group``, ``/v1/alias`` and ``/v1/batch`` (and
analytics-next's one-letter routes ``/v1/t``, ``/v1/i``... ``/v1/b``) into
vendor-neutral events; :func:`encode_upstream` is its inverse, producing the
``/v1/batch`` request analytics-python sends. Wire facts: protocols.md §3.

The write key comes as HTTP Basic user (``writeKey:``) or as ``writeKey`` in
the body; the gateway reads it as the ingest key. Bodies are JSON, gzipped
or not (by header or magic bytes), any ``Content-Type`` (analytics-next
sends ``text/plain``).

Records by type:

* ``track``: an analytics event named by ``event``; ``page``: the event
  ``$mp_web_page_view`` (Mixpanel's page view), ``screen``: ``$screen``, with
  the page ``name`` and ``category`` kept beside; ``alias``: ``$create_alias``
  with ``distinct_id`` = ``previousId`` and the property ``alias`` =
  ``userId``, as Mixpanel's alias event;
* ``identify``: a profile update ``{"$set": traits}``; ``group``: a group
  update of ``groupId`` with ``{"$set": traits}``.

``userId`` is the distinct id (else ``anonymousId``); both are also the
properties ``$user_id`` and ``$device_id``, so a policy rule on them (hash)
applies. ``context`` fields with a Mixpanel counterpart become those
properties (``context.page.url`` is ``$current_url``, ``context.campaign.source``
``utm_source``...: :data:`FIELD_MAP`), ``context.ip`` is the event's address;
the rest of ``context`` is the property ``$context`` (an object the policy
may allow with nested rules). ``messageId`` is the idempotency id.

Clock skew: Segment dates an event ``receivedAt - (sentAt - timestamp)``;
:func:`decode` corrects with the gateway's receive time and
:func:`encode_upstream` sends a fresh ``sentAt``.

Answers: 200 ``{"success": true}`` (SDKs accept any 2xx); 400 for bodies
that cannot be read and batches whose every record is bad, 401 for an
unknown write key, 400 for too large (as Segment), 503 busy; error bodies
are ``{"code", "message"}``, which analytics-python reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PayloadTooLarge, RequestError
from ..events import Event, Kind
from . import _body
from ._vendor import (
    LITERAL,
    TIMESTAMP,
    BadRecord,
    Batch,
    Response,
    UpstreamRequest,
    format_iso,
    json_response,
    parse_iso,
    pull_mapped,
    push_mapped,
    time_seconds,
)

__all__ = [
    "FIELD_MAP",
    "PATHS",
    "decode",
    "encode_message",
    "encode_upstream",
    "error_response",
    "respond",
]

TYPES = ("track", "identify", "page", "screen", "group", "alias")
# path -> endpoint (a message type, or "batch")
PATHS: dict[str, str] = {f"/v1/{t}": t for t in TYPES}
PATHS.update({f"/v1/{t[0]}": t for t in TYPES if t != "screen"})
PATHS.update({"/v1/s": "screen", "/v1/batch": "batch", "/v1/b": "batch"})
PATHS["/v1/import"] = "batch"

FIELD_MAP: tuple[tuple[tuple[str, ...], str], ...] = (
    (("context", "page", "url"), "$current_url"),
    (("context", "page", "referrer"), "$referrer"),
    (("context", "page", "path"), "current_url_path"),
    (("context", "page", "title"), "current_page_title"),
    (("context", "page", "search"), "current_url_search"),
    (("context", "campaign", "source"), "utm_source"),
    (("context", "campaign", "medium"), "utm_medium"),
    (("context", "campaign", "name"), "utm_campaign"),
    (("context", "campaign", "term"), "utm_term"),
    (("context", "campaign", "content"), "utm_content"),
    (("context", "userAgent"), "$raw_user_agent"),
    (("context", "library", "name"), "mp_lib"),
    (("context", "library", "version"), "$lib_version"),
    (("context", "os", "name"), "$os"),
    (("context", "device", "model"), "$device"),
    (("context", "screen", "width"), "$screen_width"),
    (("context", "screen", "height"), "$screen_height"),
    (("userId",), "$user_id"),
    (("anonymousId",), "$device_id"),
)
CONTEXT = "$context"
PAGEVIEW = "$mp_web_page_view"
SCREEN = "$screen"
ALIAS = "$create_alias"
MAX_DEPTH = 32

_KNOWN = frozenset(
    {
        "type",
        "userId",
        "anonymousId",
        "messageId",
        "timestamp",
        "sentAt",
        "context",
        "integrations",
        "event",
        "properties",
        "traits",
        "name",
        "category",
        "groupId",
        "previousId",
        "writeKey",
    }
)
_SHAPE = "$segment"


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
    """Decode one request; ``endpoint`` is a message type or ``"batch"``.

    Raises :class:`RequestError` (400, 405) or :class:`PayloadTooLarge`
    (413, answered 400 as Segment does) when the request cannot be read.
    """
    if method.upper() != "POST":
        raise RequestError("method not allowed", status=405)
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(f"request body over {max_body_bytes} bytes")
    content = _body.decompress(body, headers, limit=max_body_bytes)
    value = _body.loads_json(content, "body")
    if not isinstance(value, dict):
        raise RequestError("body is not a JSON object")
    key = _body.basic_auth_user(headers) or _string(value.get("writeKey"))
    if endpoint == "batch":
        items = value.get("batch")
        if not isinstance(items, list):
            raise RequestError("batch: missing or not an array")
        shared = value.get("context")
        sent_at = value.get("sentAt")
    else:
        items = [value]
        shared = None
        sent_at = value.get("sentAt")
    if len(items) > max_records:
        raise PayloadTooLarge(f"more than {max_records} messages in one request")
    if not items:
        raise RequestError("no messages")
    received = received_at

    batch = Batch(endpoint, [], [], [], [], key=key, client_ip=False)
    for index, item in enumerate(items):
        try:
            event = _message(
                item,
                None if endpoint == "batch" else endpoint,
                shared if isinstance(shared, dict) else None,
                sent_at,
                received,
            )
        except BadRecord as bad:
            batch.failures.append((index, str(bad)))
            continue
        batch.events.append(event)
        batch.tokens.append(_string(item.get("writeKey")))
        batch.indexes.append(index)
    return batch


def _message(
    item: Any,
    kind: str | None,
    shared: dict[str, Any] | None,
    sent_at: Any,
    received_at: float | None,
) -> Event:
    if not isinstance(item, dict):
        raise BadRecord("message: not a JSON object")
    problem = _body.shape_problem(item, max_depth=MAX_DEPTH)
    if problem:
        raise BadRecord(f"message: {problem}")
    given_type = item.get("type")
    kind = kind or given_type
    if kind not in TYPES:
        raise BadRecord("type: missing or not a Segment call type")
    if given_type is not None and given_type != kind:
        raise BadRecord("type: does not match the endpoint")
    message = dict(item)
    shape: dict[str, Any] = {}
    if given_type is None:
        shape["notype"] = True
    nulls = [k for k in ("userId", "anonymousId") if k in item and item[k] is None]
    if nulls:
        shape["null"] = nulls
    for name in ("userId", "anonymousId"):
        if message.get(name) is None:
            message.pop(name, None)
        else:
            message[name] = _identifier(message[name], name)
    user_id = message.get("userId")
    anonymous_id = message.get("anonymousId")
    if user_id is None and anonymous_id is None:
        raise BadRecord("userId or anonymousId: required")

    context = message.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise BadRecord("context: not an object")
    if shared:
        context = {**shared, **context}
    message["context"] = dict(context)
    if isinstance(context.get("page"), dict):
        message["context"]["page"] = dict(context["page"])
    ip = message["context"].pop("ip", None)
    if ip is not None and not isinstance(ip, str):
        raise BadRecord("context.ip: not a string")

    if kind in ("identify", "group"):
        traits = message.pop("traits", None)
        if traits is None:
            traits = {}
        if not isinstance(traits, dict):
            raise BadRecord("traits: not an object")
        properties: dict[str, Any] = {"$set": dict(traits)}
    else:
        given = message.pop("properties", None)
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise BadRecord("properties: not an object")
        properties = dict(given)
        if "properties" not in item:
            shape["noprops"] = True

    if CONTEXT in properties:
        raise BadRecord(f"properties.{CONTEXT}: a name Redline reserves")
    literal = pull_mapped(message, properties, FIELD_MAP)
    rest = message.pop("context", {})
    if rest:
        properties[CONTEXT] = rest
    elif "context" not in item:
        shape["noctx"] = True

    envelope: dict[str, Any] = {}
    if literal:
        envelope[LITERAL] = literal
    insert_id = message.get("messageId")
    if insert_id is not None and not isinstance(insert_id, str):
        raise BadRecord("messageId: not a string")
    time, stamp = _time(message.get("timestamp"), sent_at, received_at)
    if stamp is not None:
        envelope[TIMESTAMP] = stamp
    integrations = message.get("integrations")
    if integrations is not None:
        envelope["integrations"] = integrations

    distinct_id = user_id if user_id is not None else anonymous_id
    event_kind = Kind.TRACK
    if kind == "track":
        given_name = message.get("event")
        if not isinstance(given_name, str) or not given_name:
            raise BadRecord("event: missing or not a string")
        name = given_name
    elif kind in ("page", "screen"):
        name = PAGEVIEW if kind == "page" else SCREEN
        for field in ("name", "category"):
            if field in message:
                envelope[field] = message[field]
    elif kind == "alias":
        name = ALIAS
        previous = message.get("previousId")
        if previous is None:
            raise BadRecord("previousId: required")
        distinct_id = _identifier(previous, "previousId")
        if user_id is None:
            raise BadRecord("userId: required")
        properties.pop("$user_id", None)
        properties["alias"] = user_id
    elif kind == "identify":
        event_kind, name = Kind.PROFILE, "$profile"
    else:
        event_kind, name = Kind.GROUP, "$group"
        group_id = message.get("groupId")
        if group_id is None:
            raise BadRecord("groupId: required")
        distinct_id = _identifier(group_id, "groupId")
        envelope["$group_key"] = "group"
    envelope["type"] = kind
    extra = {k: v for k, v in item.items() if k not in _KNOWN}
    if extra:
        envelope["extra"] = extra
    if shape:
        envelope[_SHAPE] = shape
    return Event(
        event_kind,
        name,
        properties,
        distinct_id,
        insert_id or None,
        time,
        ip or None,
        False,
        envelope,
    )


def _time(
    stamp: Any, sent_at: Any, received_at: float | None
) -> tuple[float | None, str | None]:
    if stamp is not None:
        seconds = parse_iso(stamp, "timestamp")
        skew = None
        if received_at is not None and sent_at is not None:
            try:
                skew = received_at - parse_iso(sent_at, "sentAt")
            except BadRecord:
                skew = None
        if skew is None or abs(skew) < 0.001:
            return seconds, stamp
        return seconds + skew, None
    return received_at, None


def _identifier(value: Any, field: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise BadRecord(f"{field}: not a string or number")


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- encoding --------------------------------------------------------------


def encode_upstream(
    events: Sequence[Event], write_key: str, *, sent_at: float
) -> UpstreamRequest:
    """The ``/v1/batch`` request that sends ``events`` to Segment, with a
    fresh ``sentAt``; the destination adds Basic auth with the write key.
    Raises ``ValueError`` for an event Segment cannot take (a group call
    without a user)."""
    payload = {
        "batch": [encode_message(event) for event in events],
        "sentAt": format_iso(sent_at),
        "writeKey": write_key,
    }
    return UpstreamRequest(
        path="/v1/batch",
        query={},
        headers={"Content-Type": "application/json"},
        body=_body.dumps_json(payload),
    )


def encode_message(event: Event) -> dict[str, Any]:
    """One event as a Segment message; the inverse of decoding one."""
    envelope = event.envelope
    shape = envelope.get(_SHAPE)
    if not isinstance(shape, dict):
        shape = {}
    kind = envelope.get("type")
    if kind not in TYPES:
        kind = _type_of(event)
    properties = dict(event.properties)
    message: dict[str, Any] = {}
    if not shape.get("notype"):
        message["type"] = kind

    rest = properties.pop(CONTEXT, None)
    context: dict[str, Any] = dict(rest) if isinstance(rest, dict) else {}
    message["context"] = context
    literal = envelope.get(LITERAL)
    literal = literal if isinstance(literal, list) else []
    if kind == "alias":
        alias = properties.pop("alias", None)
        message["previousId"] = event.distinct_id
        if alias is None:
            raise ValueError("an alias without the new id")
        properties["$user_id"] = alias
    push_mapped(properties, message, FIELD_MAP, literal)
    if event.ip is not None:
        context["ip"] = event.ip
    if not context and shape.get("noctx"):
        del message["context"]

    user_id = message.get("userId")
    anonymous_id = message.get("anonymousId")
    distinct_id = event.distinct_id
    if (
        kind not in ("group", "alias")
        and distinct_id is not None
        and user_id is None
        and distinct_id != anonymous_id
    ):
        message["userId"] = distinct_id
    for name in shape.get("null") or []:
        message.setdefault(name, None)
    if message.get("userId") is None and message.get("anonymousId") is None:
        raise ValueError("a Segment message needs userId or anonymousId")

    if kind in ("identify", "group"):
        traits = properties.pop("$set", {})
        message["traits"] = traits if isinstance(traits, dict) else {}
        if kind == "group":
            message["groupId"] = distinct_id
    else:
        if kind == "track":
            message["event"] = event.name
        for field in ("name", "category"):
            if field in envelope:
                message[field] = envelope[field]
        if properties or not shape.get("noprops"):
            message["properties"] = properties
    if event.insert_id is not None:
        message["messageId"] = event.insert_id
    stamp = envelope.get(TIMESTAMP)
    if isinstance(stamp, str):
        message["timestamp"] = stamp
    else:
        seconds = time_seconds(event.time)
        if seconds is not None:
            message["timestamp"] = format_iso(seconds)
    if "integrations" in envelope:
        message["integrations"] = envelope["integrations"]
    extra = envelope.get("extra")
    if isinstance(extra, dict):
        for key, value in extra.items():
            message.setdefault(key, value)
    return message


def _type_of(event: Event) -> str:
    # events from another vendor
    if event.kind is Kind.PROFILE:
        return "identify"
    if event.kind is Kind.GROUP:
        return "group"
    if event.name == PAGEVIEW:
        return "page"
    if event.name == SCREEN:
        return "screen"
    if event.name == ALIAS:
        return "alias"
    return "track"


# -- responses -------------------------------------------------------------


def respond(
    batch: Batch, *, accepted: int, failures: list[tuple[int, str]]
) -> Response:
    """200 ``{"success": true}``, unless every message failed (400)."""
    if accepted == 0 and failures:
        return _error(400, "invalid_request", failures[0][1])
    return json_response(200, {"success": True})


def error_response(exc: RequestError, *, retry_after: float | None = None) -> Response:
    """Segment's answer to a request refused as a whole."""
    status = exc.status
    if status == 401:
        response = _error(401, "invalid_write_key", str(exc))
    elif status == 413:
        # Segment answers oversized payloads 400
        response = _error(400, "payload_too_large", str(exc))
    elif status == 429 or status >= 500:
        response = _error(status, "busy", str(exc))
    else:
        response = _error(status, "invalid_request", str(exc))
    if retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"success": False, "code": code, "message": message})
