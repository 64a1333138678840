"""JSON lines: one object per line, decoded with orjson, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from redline.audit.readers._convert import Converter
from redline.audit.readers._source import (
    MAX_LINE,
    OVERLONG,
    TRUNCATED,
    Progress,
    line_batches,
)
from redline.audit.records import AuditRecord, Chunk, Malformed

_NOT_JSON = "not valid JSON"
_OVERLONG = f"line longer than {MAX_LINE >> 20} MiB"
_TRUNCATED = "compressed data is corrupt or cut short here; the rest is unreadable"


def read_lines(
    chunk: Chunk, name: str, convert: Converter, progress: Progress | None
) -> Iterator[AuditRecord | Malformed]:
    """Every line of the chunk as a record, or as ``Malformed`` if it is not one.

    Blank lines are skipped silently; they are how many exports end.
    """
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    prefix = f"{name}:"
    for first, lines in line_batches(chunk, progress):
        for number, line in enumerate(lines, first):
            try:
                obj = loads(line)
            except decode_error:
                if line == OVERLONG:
                    yield Malformed(f"{prefix}{number}", _OVERLONG)
                elif line == TRUNCATED:
                    yield Malformed(f"{prefix}{number}", _TRUNCATED)
                elif line.strip():
                    yield Malformed(f"{prefix}{number}", _NOT_JSON)
                continue
            yield convert(obj, f"{prefix}{number}")
