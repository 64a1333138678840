"""From the paths a user gave to chunks that workers can read on their own.

Planning reads only file heads, except for plain line files larger than the
chunk size: those are read once to cut them into byte ranges on line
boundaries and to count lines, so every chunk knows its first line number and
sources stay exact however the file was split.
"""

from __future__ import annotations

import glob
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import IO, Final, cast

from redline.audit.readers._sniff import HEAD, UNKNOWN, container, detect
from redline.audit.readers._source import (
    BLOCK,
    GZIP_MAGIC,
    ZIP_MAGIC,
    Gunzip,
    read_head,
)
from redline.audit.records import FORMATS, Chunk
from redline.errors import RedlineError

DEFAULT_CHUNK_BYTES: Final = 64 << 20
# Formats read line by line, which a byte range can split.
SPLITTABLE: Final = frozenset(
    {"mixpanel", "segment", "amplitude", "posthog-json", "jsonl", "json"}
)
_GLOB_CHARS: Final = frozenset("*?[")


class ExportInputError(RedlineError):
    """The paths given to read cannot be used; the message says which and why."""

    exit_code = 2


def expand(paths: Sequence[str]) -> list[str]:
    """Files named by paths, directories (recursively) and globs, in order.

    Hidden files and directories (``.DS_Store``, ``.git``) are left out of
    directories and globs; a file named on its own is always read.
    """
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(_walk(path))
        elif os.path.isfile(path):
            files.append(path)
        elif _GLOB_CHARS & set(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise ExportInputError(
                    f"{path}: the pattern matches no file "
                    "(fix: check the pattern, quoted so the shell leaves it alone)"
                )
            for match in matches:
                if os.path.isdir(match):
                    files.extend(_walk(match))
                elif os.path.isfile(match) and not _hidden(match):
                    files.append(match)
        else:
            raise ExportInputError(
                f"{path}: no such file or directory (fix: pass the export's path)"
            )
    seen: set[str] = set()
    unique = []
    for file in files:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique


def _hidden(path: str) -> bool:
    return os.path.basename(path).startswith(".")


def _walk(root: str) -> Iterator[str]:
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for name in sorted(names):
            path = os.path.join(directory, name)
            # regular files only: a pipe or socket in the tree would block
            if not name.startswith(".") and os.path.isfile(path):
                yield path


def plan(
    paths: Sequence[str],
    format: str | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> list[Chunk]:
    """Chunks covering every file under ``paths``, each with its format.

    ``format`` forces one format for every file (still read through gzip and
    zip). A file whose content is no known export gets one chunk of format
    ``"unknown"``, which ``read`` reports as malformed instead of stopping.
    """
    if format is not None and format not in FORMATS:
        raise ExportInputError(
            f"unknown export format {format!r} (fix: use one of {', '.join(FORMATS)})"
        )
    chunks: list[Chunk] = []
    for path in expand(paths):
        try:
            chunks.extend(_plan_file(path, format, chunk_bytes))
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise ExportInputError(
                f"{path}: cannot be read ({reason}) "
                "(fix: check its permissions, or leave it out of the paths)"
            ) from None
    return chunks


def total_bytes(chunks: Sequence[Chunk]) -> int:
    """On-disk bytes the chunks cover, for a progress bar's total."""
    return sum(chunk.size for chunk in chunks)


def _plan_file(path: str, forced: str | None, chunk_bytes: int) -> list[Chunk]:
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic == ZIP_MAGIC:
        return _plan_zip(path, forced)
    if magic[:2] == GZIP_MAGIC:
        fmt = forced or detect(_gzip_head(path))
        return [Chunk(path, fmt, size=size)]
    with open(path, "rb") as file:
        head = file.read(HEAD)
    fmt = forced or detect(head)
    lines = container(head) == "lines"
    if fmt in SPLITTABLE and lines and size > chunk_bytes:
        return _split(path, fmt, size, chunk_bytes)
    return [Chunk(path, fmt, size=size)]


def _gzip_head(path: str) -> bytes:
    """The first decompressed bytes, tolerating a file cut short."""
    with open(path, "rb") as raw:
        return read_head(cast(IO[bytes], Gunzip(raw)), HEAD)


def _plan_zip(path: str, forced: str | None) -> list[Chunk]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            chunks = []
            for info in members:
                if _hidden(info.filename) or info.filename.startswith("__MACOSX/"):
                    continue
                fmt = forced or detect(_member_head(archive, info.filename))
                chunks.append(
                    Chunk(path, fmt, member=info.filename, size=info.compress_size)
                )
            return chunks
    except zipfile.BadZipFile:
        return [Chunk(path, UNKNOWN, size=os.path.getsize(path))]


def _member_head(archive: zipfile.ZipFile, member: str) -> bytes:
    try:
        with archive.open(member) as stream:
            head = stream.read(HEAD)
            if head[:2] != GZIP_MAGIC:
                return head
        with archive.open(member) as stream:
            return read_head(cast(IO[bytes], Gunzip(stream)), HEAD)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile):
        return b""


def _split(path: str, fmt: str, size: int, chunk_bytes: int) -> list[Chunk]:
    """Byte ranges of about ``chunk_bytes``, each starting at a line start."""
    chunks: list[Chunk] = []
    start, first_line = 0, 1
    offset, lines = 0, 0  # bytes and newlines seen before the current block
    target = chunk_bytes
    with open(path, "rb") as file:
        while True:
            block = file.read(BLOCK)
            if not block:
                break
            end_of_block = offset + len(block)
            while target < end_of_block:
                cut = block.find(b"\n", max(target - offset, 0))
                if cut < 0:
                    target = end_of_block  # look again in the next block
                    break
                boundary = offset + cut + 1
                lines_before = lines + block.count(b"\n", 0, cut + 1)
                if boundary < size:
                    chunks.append(
                        Chunk(
                            path,
                            fmt,
                            start,
                            boundary,
                            first_line=first_line,
                            size=boundary - start,
                        )
                    )
                    start, first_line = boundary, lines_before + 1
                target = boundary + chunk_bytes
            lines += block.count(b"\n")
            offset = end_of_block
    chunks.append(
        Chunk(path, fmt, start, None, first_line=first_line, size=size - start)
    )
    return chunks
