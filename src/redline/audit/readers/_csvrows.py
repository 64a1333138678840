"""CSV exports: a header row, then one event per row.

Cells are text; empty cells are absent values. PostHog's exporter flattens
nested objects into dotted column names (``properties.$current_url``,
``person.properties.email``), so for PostHog those columns are nested back;
a generic CSV keeps its column names as they are. Cells holding a JSON object
or array (PostHog writes ``properties`` that way) are decoded for PostHog.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Final

from redline.audit.readers._convert import Converter
from redline.audit.readers._source import Progress, blocks, open_bytes
from redline.audit.records import AuditRecord, Chunk, Malformed

_DELIMITERS: Final = ",\t;|"
_BAD_CSV: Final = "not valid CSV (bad quoting or a field too large)"


class _BlockReader(io.RawIOBase):
    """A raw stream over ``blocks`` so progress is reported as text is read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def delimiter_of(head: str) -> str | None:
    """The delimiter of a CSV head, or None if it does not look like CSV.

    Judged on the header line alone, the most frequent of ``, TAB ; |``:
    header names are plain, while data cells (PostHog writes whole JSON
    objects into them) would mislead a sniffer that looks at quoting.
    """
    header = head.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def _nest(row: dict[str, Any], column: str, value: Any) -> None:
    parts = column.split(".")
    if parts[0] == "*" and len(parts) > 1:
        # HogQL's "select *" columns come out as "*.event", "*.properties.x"
        parts = parts[1:]
    target = row
    for part in parts[:-1]:
        inner = target.get(part)
        if not isinstance(inner, dict):
            inner = {}
            target[part] = inner
        target = inner
    target[parts[-1]] = value


def read_csv(
    chunk: Chunk,
    name: str,
    convert: Converter,
    progress: Progress | None,
    *,
    nested: bool,
) -> Iterator[AuditRecord | Malformed]:
    with open_bytes(chunk) as stream:
        raw = io.BufferedReader(_BlockReader(blocks(stream, chunk, progress)), 1 << 20)
        head = raw.peek(64 << 10)[: 64 << 10].decode("utf-8", "replace")
        delimiter = delimiter_of(head.removeprefix("\ufeff")) or ","
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        rows = csv.reader(text, delimiter=delimiter)
        yield from _rows(rows, name, convert, nested=nested)


def _rows(
    reader: Any, name: str, convert: Converter, *, nested: bool
) -> Iterator[AuditRecord | Malformed]:
    header: list[str] | None = None
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield Malformed(f"{name}:{start}", _BAD_CSV)
            start = reader.line_num + 1
            continue
        source = f"{name}:{start}"
        start = reader.line_num + 1
        if header is None:
            header = cells
            continue
        if not cells or cells == [""]:
            continue
        if len(cells) > len(header):
            reason = f"row has {len(cells)} cells, the header {len(header)}"
            yield Malformed(source, reason)
            continue
        row: dict[str, Any] = {}
        for column, cell in zip(header, cells, strict=False):
            if cell == "":
                continue
            if nested:
                _nest(row, column, cell)
            else:
                row[column] = cell
        yield convert(row, source)
