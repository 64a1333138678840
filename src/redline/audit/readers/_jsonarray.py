"""A JSON array of objects, streamed element by element with ijson.

A whole export as one array cannot be split into lines, and loading it at
once would make memory grow with the file; ijson's C backend walks it with a
small buffer. Sources name the element's index (``export.json:[17]``), as
arrays have no line per element. A syntax error ends the array: nothing after
it can be located reliably, so it is reported once and the chunk stops.
"""

from __future__ import annotations

from collections.abc import Iterator

import ijson  # type: ignore[import-untyped]

from redline.audit.readers._convert import Converter
from redline.audit.readers._source import BLOCK, Progress, blocks, open_bytes
from redline.audit.records import AuditRecord, Chunk, Malformed


class _Blocks:
    """A read() face over ``blocks`` so progress is reported as ijson reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            # ijson probes with read(0) to learn whether it gets bytes or text
            return b""
        return next(self._chunks, b"")


def read_array(
    chunk: Chunk,
    name: str,
    convert: Converter,
    progress: Progress | None,
    *,
    prefix: str = "item",
) -> Iterator[AuditRecord | Malformed]:
    """Elements of the array at ``prefix`` (ijson's notation: ``item`` is a
    top-level array, ``results.item`` the array under a top-level key)."""
    count = 0
    with open_bytes(chunk) as stream:
        source = _Blocks(blocks(stream, chunk, progress))
        items = ijson.items(source, prefix, use_float=True, buf_size=BLOCK)
        try:
            for obj in items:
                yield convert(obj, f"{name}:[{count}]")
                count += 1
        except ijson.JSONError:
            yield Malformed(
                f"{name}:[{count}]",
                "not valid JSON; the rest of the array was skipped",
            )
