"""Which export a file is, judged from its first bytes.

The decision uses the first decoded object (or the CSV header): each vendor's
export has a field set no other has. Anything that parses but matches no
vendor is generic JSON, JSON lines or CSV; anything that does not parse at all
is ``unknown`` and is reported rather than guessed at.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

import ijson  # type: ignore[import-untyped]
import orjson

from redline.audit.readers._convert import SEGMENT_TYPES
from redline.audit.readers._csvrows import delimiter_of

HEAD: Final = 64 << 10
UNKNOWN: Final = "unknown"

_SEGMENT_FIELDS: Final = frozenset(
    {"messageId", "anonymousId", "userId", "context", "originalTimestamp"}
)
_AMPLITUDE_FIELDS: Final = frozenset(
    {"user_id", "device_id", "event_time", "amplitude_id", "event_properties"}
)
_POSTHOG_FIELDS: Final = frozenset({"distinct_id", "uuid", "timestamp", "person_id"})


def vendor_of(obj: Any) -> str | None:
    """The vendor whose export objects look like ``obj``, if any."""
    if not isinstance(obj, dict):
        return None
    keys = obj.keys()
    if "event_type" in keys and not _AMPLITUDE_FIELDS.isdisjoint(keys):
        return "amplitude"
    if obj.get("type") in SEGMENT_TYPES and not _SEGMENT_FIELDS.isdisjoint(keys):
        return "segment"
    if (
        "event" in keys
        and isinstance(obj.get("properties"), dict)
        and keys
        <= {
            "event",
            "properties",
        }
    ):
        return "mixpanel"
    if "event" in keys and not _POSTHOG_FIELDS.isdisjoint(keys):
        return "posthog-json"
    return None


def detect(head: bytes) -> str:
    """The format of a file whose decompressed content starts with ``head``."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        return "jsonl"
    if text[:1] == b"[":
        return _detect_array(text, "item")
    if text[:1] == b"{":
        if container(text) == "results":
            return _detect_array(text, "results.item")
        return _detect_lines(text)
    return _detect_csv(text)


def container(head: bytes) -> str:
    """How JSON content holds its events: ``array``, ``results`` or ``lines``.

    ``results`` is one object whose top-level ``results`` array holds the
    events, as API pages and some JSON exports do (PostHog's events API);
    it is told from JSON lines by a first line that is not a whole object.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"[":
        return "array"
    if text[:1] != b"{":
        return "lines"
    try:
        orjson.loads(text.split(b"\n", 1)[0])
    except orjson.JSONDecodeError:
        pass
    else:
        return "lines"
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(text)):
            if prefix == "" and event == "map_key" and value == "results":
                return "results"
    except ijson.JSONError:
        pass
    return "lines"


def _detect_array(text: bytes, prefix: str) -> str:
    items = ijson.items(io.BytesIO(text), prefix, use_float=True)
    try:
        first = next(items, None)
    except ijson.JSONError:
        # the head cut the first element short, or it is not JSON at all
        first = None
    return vendor_of(first) or "json"


def _detect_lines(text: bytes) -> str:
    for line in text.split(b"\n")[:20]:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        return vendor_of(obj) or "jsonl"
    return "jsonl"


def _detect_csv(text: bytes) -> str:
    sample = text.decode("utf-8", "replace")
    first = sample.split("\n", 1)[0].rstrip("\r")
    if "\ufffd" in first or any(ord(c) < 32 and c != "\t" for c in first):
        return UNKNOWN  # binary: a header row is printable text
    delimiter = delimiter_of(sample)
    if delimiter is None:
        return UNKNOWN
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
    columns = {column.removeprefix("*.") for column in header}
    if "event" in columns and (
        "distinct_id" in columns
        or "properties" in columns
        or any(column.startswith("properties.") for column in columns)
    ):
        return "posthog-csv"
    return "csv"
