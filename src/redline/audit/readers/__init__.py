"""Readers of vendor exports: files in, ``AuditRecord`` values out.

Readers know file formats and nothing about personal data; the analysis knows
personal data and nothing about files. The work is cut into ``Chunk`` values
by :func:`plan` in the parent, and each chunk is read by :func:`read` wherever
it lands (this process, a worker process, a Spark executor): no state is kept
between calls, and everything passed in or out pickles.

Example::

    chunks = plan(["exports/"])
    for chunk in chunks:
        for item in read(chunk):
            if isinstance(item, Malformed):
                ...  # item.source is "file:line", item.reason says what
            else:
                ...  # an AuditRecord
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator

from redline.audit.readers._convert import CONVERTERS
from redline.audit.readers._csvrows import read_csv
from redline.audit.readers._jsonarray import read_array
from redline.audit.readers._jsonlines import read_lines
from redline.audit.readers._plan import (
    DEFAULT_CHUNK_BYTES,
    ExportInputError,
    expand,
    plan,
    total_bytes,
)
from redline.audit.readers._sniff import container
from redline.audit.readers._source import (
    Progress,
    TruncatedInput,
    label,
    open_bytes,
    read_head,
)
from redline.audit.records import FORMATS, AuditRecord, Chunk, Malformed

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "FORMATS",
    "ExportInputError",
    "expand",
    "plan",
    "read",
    "total_bytes",
]

_CSV_FORMATS = frozenset({"csv", "posthog-csv"})


def read(
    chunk: Chunk, progress: Progress | None = None
) -> Iterator[AuditRecord | Malformed]:
    """Every event in the chunk, in file order, with the unreadable ones marked.

    ``progress``, if given, is called with on-disk byte counts as they are
    consumed; the counts add up to ``chunk.size``. Problems with the input
    never raise: a bad line, a truncated gzip or a broken zip come out as
    ``Malformed`` and reading goes on with the next chunk.
    """
    name = label(chunk)
    convert = CONVERTERS.get(chunk.format)
    if convert is None:
        if progress is not None:
            progress(chunk.size)
        yield Malformed(name, "not a recognised export (not JSON, CSV, gzip or zip)")
        return
    shape = "csv" if chunk.format in _CSV_FORMATS else _container(chunk)
    if shape == "lines":
        # errors are placed by line inside; only opening can fail here
        try:
            yield from read_lines(chunk, name, convert, progress)
        except (OSError, zipfile.BadZipFile) as error:
            yield Malformed(name, _unreadable(error))
        return
    last = name
    try:
        if shape == "csv":
            nested = chunk.format == "posthog-csv"
            reader = read_csv(chunk, name, convert, progress, nested=nested)
        else:
            prefix = "results.item" if shape == "results" else "item"
            reader = read_array(chunk, name, convert, progress, prefix=prefix)
        for item in reader:
            last = item.source
            yield item
    except (TruncatedInput, EOFError, zlib.error, zipfile.BadZipFile, OSError) as error:
        yield Malformed(last, _unreadable(error))


def _unreadable(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "the file disappeared while reading"
    if isinstance(error, PermissionError):
        return "the file cannot be read (permission denied)"
    return "compressed data is corrupt or cut short; reading stopped after this point"


def _container(chunk: Chunk) -> str:
    """``lines``, ``array`` or ``results`` (see ``_sniff.container``)."""
    if chunk.start != 0:
        return "lines"  # only line files are split into ranges
    try:
        with open_bytes(chunk) as stream:
            head = read_head(stream, 64 << 10)
    except (OSError, zipfile.BadZipFile):
        return "lines"  # the line reader reports it where it breaks
    return container(head)
