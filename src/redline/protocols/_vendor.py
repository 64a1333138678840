"""What the PostHog, Segment and Amplitude adapters share.

Each of them decodes a request into a :class:`Batch` of vendor-neutral
events, answers in its vendor's own format, and encodes events back. The
policy is written once, in the property names Redline calls canonical (the
Mixpanel names: ``$current_url``, ``$referrer``, ``utm_source``...), so each
adapter moves its vendor's fields onto those names when decoding and back
when encoding, with the tables in :data:`Mapping` form documented in
``docs/vendors.md``.

Envelope keys used by these adapters (the engine leaves the envelope to the
adapter, and the gateway reads :data:`PERSON`):

* :data:`PERSON`: person-property operations (``{"$set": {...},
  "$set_once": {...}}``) riding on an analytics event. The gateway sanitises
  them with the policy's profile rules, as Mixpanel's ``/engage`` would be.
* :data:`LITERAL`: canonical names the client itself sent as properties,
  which must not be moved back to a vendor field on encoding.
* :data:`TIMESTAMP`: the client's own time string, kept when the time was
  not corrected, so that encoding gives back exactly what came in.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..events import Event
from .mixpanel import Response, UpstreamRequest

__all__ = [
    "LITERAL",
    "PERSON",
    "TIMESTAMP",
    "BadRecord",
    "Batch",
    "FieldMap",
    "Response",
    "UpstreamRequest",
    "as_uuid",
    "format_iso",
    "json_response",
    "parse_iso",
    "pull_mapped",
    "push_mapped",
    "time_seconds",
]

PERSON = "$person"
LITERAL = "$literal"
TIMESTAMP = "$ts"

# a vendor field's path inside its record, and the canonical property name
FieldMap = Sequence[tuple[tuple[str, ...], str]]

_MISSING: Any = object()
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
# names a derived id (uuid5) from an id that is not a UUID, stable across
# retries so the vendor deduplicates them
_ID_NAMESPACE = uuid.UUID("6f1c4c2e-58a4-4b0e-9a55-3b1f2d7c9e10")
_TIME_MAX = 253402300799.0  # 9999-12-31T23:59:59Z


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Batch:
    """One decoded request of a vendor other than Mixpanel.

    ``events``, ``tokens`` and ``indexes`` run in parallel, one entry per
    valid record (``tokens[i]`` is the record's own ingest key, if any);
    ``failures`` lists the records that could not be decoded, by index and a
    shape-only reason. ``key`` is the ingest key the request as a whole
    carries (a body ``api_key``, Basic auth), used for records without one.
    ``client_ip`` says whether events without an address of their own are
    geolocated by the request's address. ``record_ids`` holds every record's
    idempotency id by index, failed ones included, for a vendor whose answer
    is given per record by id (PostHog's capture v1). ``body_bytes`` is the
    size of the request body as received, for a vendor whose answer reports
    it (Amplitude's ``payload_size_bytes``).
    """

    endpoint: str
    events: list[Event]
    tokens: list[str | None]
    indexes: list[int]
    failures: list[tuple[int, str]]
    key: str | None = None
    client_ip: bool = True
    record_ids: tuple[str, ...] = ()
    body_bytes: int = 0

    def __repr__(self) -> str:
        # counts only: events and keys are never printed
        return (
            f"Batch(endpoint={self.endpoint!r}, events={len(self.events)}, "
            f"failures={len(self.failures)})"
        )


class BadRecord(Exception):
    """One record cannot be decoded; the reason is shape only."""


def pull_mapped(
    record: dict[str, Any], properties: dict[str, Any], table: FieldMap
) -> list[str]:
    """Move the vendor fields of ``table`` from ``record`` to canonical
    ``properties``; returns the canonical names the client had itself set in
    ``properties`` (those stay, and the vendor field stays in ``record``).

    Parents emptied by the move are removed, so encoding rebuilds them.
    """
    literal: list[str] = []
    for path, name in table:
        if name in properties:
            literal.append(name)
            continue
        value = _take(record, path)
        if value is not _MISSING:
            properties[name] = value
    return literal


def push_mapped(
    properties: dict[str, Any],
    record: dict[str, Any],
    table: FieldMap,
    literal: Sequence[str] = (),
) -> None:
    """The inverse of :func:`pull_mapped`: canonical ``properties`` back to
    their vendor fields in ``record``, except the ``literal`` names."""
    for path, name in table:
        if name in literal or name not in properties:
            continue
        value = properties.pop(name)
        target = record
        for part in path[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target[path[-1]] = value


def _take(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    parents: list[dict[str, Any]] = []
    target: Any = record
    for part in path[:-1]:
        child = target.get(part) if isinstance(target, dict) else None
        if not isinstance(child, dict):
            return _MISSING
        parents.append(target)
        target = child
    if path[-1] not in target:
        return _MISSING
    value = target.pop(path[-1])
    # drop the parents this move emptied, innermost first
    for parent, part in zip(reversed(parents), reversed(path[:-1]), strict=True):
        if parent[part]:
            break
        del parent[part]
    return value


def json_response(status: int, body: Any) -> Response:
    """A compact JSON answer."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(status, "application/json", data, {})


def parse_iso(value: Any, field: str) -> float:
    """Seconds since the epoch from an ISO 8601 time (naive means UTC)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise BadRecord(f"{field}: not an ISO 8601 time")
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRecord(f"{field}: not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def format_iso(seconds: float | int) -> str:
    """An ISO 8601 UTC time with milliseconds, as the SDKs send it."""
    if math.isnan(seconds):
        raise ValueError("time is not a number")
    # Mixpanel times may be milliseconds
    if seconds > _TIME_MAX:
        seconds = seconds / 1000
    seconds = min(max(float(seconds), 0.0), _TIME_MAX)
    when = datetime.fromtimestamp(seconds, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_uuid(insert_id: str) -> str:
    """A UUID for vendors whose idempotency id must be one: the id itself,
    32 hex digits written as a UUID, or a UUID derived from any other id."""
    if _UUID.fullmatch(insert_id):
        return insert_id
    if _HEX32.fullmatch(insert_id):
        return str(uuid.UUID(hex=insert_id))
    return str(uuid.uuid5(_ID_NAMESPACE, insert_id))


def time_seconds(value: Any) -> float | None:
    """An event time in seconds (Mixpanel times may be milliseconds)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return value / 1000 if value > _TIME_MAX else float(value)
    return None
