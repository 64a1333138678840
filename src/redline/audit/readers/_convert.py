"""From one decoded vendor object to an ``AuditRecord``.

One function per vendor schema; the container (lines, array, CSV) is someone
else's job. Every value of the object ends up in ``properties`` so that the
analysis, which looks only there, sees all of it; see ``AuditRecord`` for
where each vendor's fields go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from redline.audit.readers._time import MS_THRESHOLD as _MS_THRESHOLD
from redline.audit.readers._time import to_seconds
from redline.audit.records import AuditRecord, Malformed

Converter = Callable[[Any, str], "AuditRecord | Malformed"]

NOT_OBJECT: Final = "not a JSON object"
NO_EVENT: Final = "no event name"
BAD_PROPERTIES: Final = "properties is not an object"

# The kinds of Segment message; a record without ``event`` is named by kind.
SEGMENT_TYPES: Final = frozenset(
    {"track", "identify", "page", "screen", "group", "alias"}
)
# Generic objects: the first of these names that holds a value wins.
GENERIC_EVENT_KEYS: Final = ("event", "event_type", "event_name", "name", "type")
GENERIC_ID_KEYS: Final = (
    "distinct_id",
    "user_id",
    "userId",
    "anonymousId",
    "device_id",
    "person_id",
)
GENERIC_TIME_KEYS: Final = ("time", "timestamp", "event_time", "ts", "created_at")
UNNAMED: Final = "(no event name)"


def _identity(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _merge(
    properties: dict[str, Any], extra: dict[str, Any], skip: frozenset[str], tag: str
) -> None:
    """Add the object's other fields beside its properties.

    A property of the same name wins; a different vendor value then goes
    under ``"$<tag>.<key>"`` so nothing is lost.
    """
    for key, value in extra.items():
        if key in skip:
            continue
        if key not in properties:
            properties[key] = value
        elif properties[key] != value:
            properties[f"${tag}.{key}"] = value


def mixpanel(obj: Any, source: str) -> AuditRecord | Malformed:
    # the common shape first, with as few calls as possible: this runs once
    # per line of exports that reach gigabytes
    if type(obj) is dict and len(obj) == 2:
        event = obj.get("event")
        properties = obj.get("properties")
        if type(event) is str and event and type(properties) is dict:
            who = properties.get("distinct_id")
            when = properties.get("time")
            return AuditRecord(
                event,
                who if type(who) is str and who else _identity(who),
                float(when)
                if type(when) is int and 0 <= when < _MS_THRESHOLD
                else to_seconds(when),
                properties,
                source,
            )
    return _mixpanel_other(obj, source)


def _parts(
    obj: Any,
    event_key: str,
    properties_key: str,
    *,
    kinds: frozenset[str] = frozenset(),
    decode: bool = False,
) -> tuple[str, dict[str, Any]] | str:
    """The event name and the properties object, or why there are none.

    A message without a name is named by its ``type`` when that is one of
    ``kinds``; ``decode`` accepts properties held as JSON text.
    """
    if type(obj) is not dict:
        return NOT_OBJECT
    event = obj.get(event_key)
    if type(event) is not str or not event:
        kind = obj.get("type")
        if kind not in kinds:
            return NO_EVENT
        event = kind
    raw = obj.get(properties_key)
    if decode:
        raw = _maybe_json(raw)
    if raw is None or raw == "":
        raw = {}
    if type(raw) is not dict:
        return BAD_PROPERTIES
    return event, raw


def _mixpanel_other(obj: Any, source: str) -> AuditRecord | Malformed:
    parts = _parts(obj, "event", "properties")
    if isinstance(parts, str):
        return Malformed(source, parts)
    event, properties = parts
    if len(obj) > 2:
        properties = dict(properties)
        _merge(properties, obj, _MIXPANEL_SKIP, "mixpanel")
    return AuditRecord(
        event,
        _identity(properties.get("distinct_id")),
        to_seconds(properties.get("time")),
        properties,
        source,
    )


_MIXPANEL_SKIP: Final = frozenset({"event", "properties"})
_POSTHOG_SKIP: Final = frozenset({"event", "properties"})
_POSTHOG_JSON_COLUMNS: Final = frozenset(
    {"properties", "person_properties", "set", "set_once", "$set", "$set_once"}
)


def _maybe_json(value: Any) -> Any:
    """PostHog stores some objects as JSON text; decode those, keep the rest."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def posthog(obj: Any, source: str) -> AuditRecord | Malformed:
    parts = _parts(obj, "event", "properties", decode=True)
    if isinstance(parts, str):
        return Malformed(source, parts)
    event, raw = parts
    properties = dict(raw)
    extra = {
        key: _maybe_json(value) if key in _POSTHOG_JSON_COLUMNS else value
        for key, value in obj.items()
    }
    _merge(properties, extra, _POSTHOG_SKIP, "posthog")
    distinct = _identity(obj.get("distinct_id")) or _identity(raw.get("distinct_id"))
    when = obj.get("timestamp")
    if when is None:
        when = raw.get("$time", raw.get("timestamp"))
    return AuditRecord(event, distinct, to_seconds(when), properties, source)


_SEGMENT_SKIP: Final = frozenset({"event", "properties"})
# a track call must carry its event name; the other kinds are named by kind
_SEGMENT_NAMED_BY_KIND: Final = SEGMENT_TYPES - {"track"}


def segment(obj: Any, source: str) -> AuditRecord | Malformed:
    parts = _parts(obj, "event", "properties", kinds=_SEGMENT_NAMED_BY_KIND)
    if isinstance(parts, str):
        return Malformed(source, parts)
    event, raw = parts
    properties = dict(raw)
    _merge(properties, obj, _SEGMENT_SKIP, "segment")
    distinct = _identity(obj.get("userId")) or _identity(obj.get("anonymousId"))
    when = obj.get("timestamp") or obj.get("originalTimestamp") or obj.get("sentAt")
    return AuditRecord(event, distinct, to_seconds(when), properties, source)


_AMPLITUDE_SKIP: Final = frozenset({"event_type", "event_properties"})


def amplitude(obj: Any, source: str) -> AuditRecord | Malformed:
    parts = _parts(obj, "event_type", "event_properties")
    if isinstance(parts, str):
        return Malformed(source, parts)
    event, raw = parts
    properties = dict(raw)
    _merge(properties, obj, _AMPLITUDE_SKIP, "amplitude")
    distinct = _identity(obj.get("user_id")) or _identity(obj.get("device_id"))
    when = obj.get("event_time")
    if when is None:
        when = obj.get("time", obj.get("client_event_time"))
    return AuditRecord(event, distinct, to_seconds(when), properties, source)


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            return value
    return None


def generic(obj: Any, source: str) -> AuditRecord | Malformed:
    if type(obj) is not dict:
        return Malformed(source, NOT_OBJECT)
    name = _first(obj, GENERIC_EVENT_KEYS)
    event = name if isinstance(name, str) and name else UNNAMED
    nested = obj.get("properties")
    lookup = nested if type(nested) is dict else obj
    distinct = _identity(_first(obj, GENERIC_ID_KEYS))
    if distinct is None and lookup is not obj:
        distinct = _identity(_first(lookup, GENERIC_ID_KEYS))
    when = _first(obj, GENERIC_TIME_KEYS)
    if when is None and lookup is not obj:
        when = _first(lookup, GENERIC_TIME_KEYS)
    return AuditRecord(event, distinct, to_seconds(when), obj, source)


CONVERTERS: Final[dict[str, Converter]] = {
    "mixpanel": mixpanel,
    "posthog-json": posthog,
    "posthog-csv": posthog,
    "segment": segment,
    "amplitude": amplitude,
    "json": generic,
    "jsonl": generic,
    "csv": generic,
}
