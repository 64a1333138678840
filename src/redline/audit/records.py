"""The record shape shared by the export readers and the audit analysis.

Readers turn a vendor's export into ``AuditRecord`` values and never look at
what the values mean; the analysis never looks at files. The contract between
them is this module plus three functions in ``redline.audit.readers``:

- ``plan(paths, format=None) -> list[Chunk]``: expands directories and globs,
  detects each file's format from its content (through gzip and zip) unless
  ``format`` forces one, and splits large plain line-oriented files into
  byte ranges that end on line boundaries;
- ``read(chunk, progress=None) -> Iterator[AuditRecord | Malformed]``: reads
  one chunk on its own, so a worker process can take any chunk without shared
  state; ``progress`` (optional) is called with on-disk byte counts as they
  are consumed, adding up to ``chunk.size``;
- ``total_bytes(chunks) -> int``: the on-disk bytes the chunks cover, for a
  progress bar (each chunk reports its own share through ``Chunk.size``).

Everything here is plain data that pickles, so chunks can be sent to worker
processes and results sent back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

# The formats a reader understands. ``plan`` detects one of these per file; a
# caller may force one.
Format = Literal[
    "mixpanel",  # JSON lines of {"event", "properties"}, plain or gzipped
    "posthog-csv",  # PostHog's CSV event export
    "posthog-json",  # PostHog's JSON (array or lines) event export
    "segment",  # Segment archive: JSON lines of track/identify/... messages
    "amplitude",  # Amplitude export: zip of gzipped JSON lines, or one member
    "json",  # generic: one JSON array of objects
    "jsonl",  # generic: one JSON object per line
    "csv",  # generic: a header row, then one event per row
]

FORMATS: Final[tuple[str, ...]] = (
    "mixpanel",
    "posthog-csv",
    "posthog-json",
    "segment",
    "amplitude",
    "json",
    "jsonl",
    "csv",
)


@dataclass(slots=True)
class AuditRecord:
    """One event from an export, in a vendor-neutral shape.

    ``properties`` holds every value of the event, nested as the vendor sent
    it, so that scanning ``properties`` alone sees everything the vendor
    stored; ``distinct_id`` and ``time`` are lifted copies for counting people
    and time ranges (they also stay in ``properties`` under the vendor's own
    key). Per format:

    - Mixpanel: the ``properties`` object unchanged (``distinct_id``, ``time``,
      ``$insert_id``, ``token`` ... included).
    - PostHog: the ``properties`` object (parsed from its JSON column or
      rebuilt from flattened ``properties.*`` columns), plus the row's other
      columns (``distinct_id``, ``uuid``, ``person_properties`` ...) under
      their column names unless a property already uses that name.
    - Segment: the message's ``properties``; then ``context``, ``traits``,
      ``userId``, ``anonymousId``, ``messageId``, ``groupId`` ... under their
      own keys (a property of the same name wins and the message field goes
      under ``"$segment.<key>"``).
    - Amplitude: ``event_properties`` at the top level; ``user_properties``,
      ``group_properties``, ``ip_address``, ``device_id``, ``user_id``, ``city``
      ... under their own keys (collisions as for Segment, ``"$amplitude.<key>"``).
    - Generic JSON / JSON lines / CSV: the object (or row) itself; ``event`` and
      identity/time fields are found under common names and also lifted.

    ``event`` is the vendor's event name; messages without one get their kind
    (Segment ``identify``, ``page``, ``screen``, ``group``, ``alias``).
    ``time`` is unix seconds as a float, converted from milliseconds or ISO
    8601 where the vendor uses those; ``None`` when absent or unreadable.
    ``source`` names the file (and zip member) and the line (for CSV, the
    line where the row starts; for a JSON array, the element's index):
    ``"export.jsonl.gz:123"``, ``"export.zip!day1.json.gz:7"``,
    ``"events.json:[17]"``.
    """

    event: str
    distinct_id: str | None
    time: float | None
    properties: dict[str, Any]
    source: str


@dataclass(slots=True)
class Malformed:
    """A line or row that could not be read as an event.

    ``reason`` says what was wrong in words ("not valid JSON", "not an object",
    "no event name") and never repeats the content: exports are full of
    personal data and reports must not carry it.
    """

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """A unit of reading that one worker can do without anything else.

    ``start``/``end`` are byte offsets into a plain (uncompressed) file and
    always fall on line boundaries; ``end=None`` means to the end. Compressed
    files and zip members are never split. ``member`` names a zip member.
    ``first_line`` is the 1-based line number at ``start``, so sources stay
    exact when one file is read as several chunks. ``size`` is the number of
    on-disk bytes this chunk accounts for (for progress reporting; a zip
    member reports its compressed size).
    """

    path: str
    format: str
    start: int = 0
    end: int | None = None
    member: str | None = None
    first_line: int = 1
    size: int = 0
