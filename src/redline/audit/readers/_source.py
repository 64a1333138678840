"""Bytes out of a chunk: a plain byte range, a gzip file or a zip member.

Everything reads in large blocks (orjson and the line splitter are fast
enough that small reads would dominate) and keeps at most one block plus one
partial line in memory.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Final, cast

from redline.audit.records import Chunk

BLOCK: Final = 4 << 20
# A line longer than this is reported as malformed and skipped, so one
# runaway line cannot take memory with it.
MAX_LINE: Final = 64 << 20
GZIP_MAGIC: Final = b"\x1f\x8b"
ZIP_MAGIC: Final = b"PK\x03\x04"

Progress = Callable[[int], None]


class TruncatedInput(Exception):
    """Compressed data ended early or is corrupt; carries no content."""


def label(chunk: Chunk) -> str:
    """How sources name this chunk's file: ``path`` or ``path!member``."""
    return f"{chunk.path}!{chunk.member}" if chunk.member else chunk.path


class Gunzip:
    """Decompresses gzip (all members, one after another) as it is read.

    Unlike ``gzip.GzipFile``, a read that meets the end of a file cut short
    first returns everything decompressed so far and raises only on the next
    read, so no complete line is lost to a truncated export. ``fileobj`` is
    the compressed file, whose position tells the progress on disk.
    """

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.fileobj = fileobj
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._in_member = False

    def read(self, size: int = -1) -> bytes:
        limit = size if size > 0 else BLOCK
        while True:
            data, self._pending = self._pending, b""
            if not data:
                data = self.fileobj.read(1 << 20)
                if not data:
                    if self._in_member:
                        raise TruncatedInput("EOFError")
                    return b""
            try:
                out = self._inflate.decompress(data, limit)
            except zlib.error:
                raise TruncatedInput("zlib.error") from None
            self._in_member = True
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:
                # the next member, if any, starts in the unused data
                self._pending = self._inflate.unused_data + self._pending
                self._inflate = zlib.decompressobj(wbits=31)
                self._in_member = False
                if not self._pending.strip(b"\x00"):
                    self._pending = b""
            if out:
                return out


def read_head(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes from the start, whatever breaks after them."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        try:
            part = stream.read(size - got)
        except (TruncatedInput, EOFError, OSError, zlib.error):
            break
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


@contextmanager
def open_bytes(chunk: Chunk) -> Iterator[IO[bytes]]:
    """The chunk's decompressed bytes from its start, as a binary stream."""
    with open(chunk.path, "rb") as raw:
        if chunk.member is not None:
            with zipfile.ZipFile(raw) as archive:
                with archive.open(chunk.member) as probe:
                    magic = probe.read(2)
                with archive.open(chunk.member) as member:
                    if magic == GZIP_MAGIC:
                        yield cast(IO[bytes], Gunzip(member))
                    else:
                        yield member
            return
        head = raw.read(2)
        raw.seek(chunk.start)
        if head == GZIP_MAGIC and chunk.start == 0:
            yield cast(IO[bytes], Gunzip(raw))
        else:
            yield raw


def blocks(
    stream: IO[bytes], chunk: Chunk, progress: Progress | None
) -> Iterator[bytes]:
    """Blocks of the chunk's decompressed bytes, reporting on-disk progress."""
    remaining = None if chunk.end is None else chunk.end - chunk.start
    reported = 0
    compressed = chunk.member is not None or isinstance(stream, Gunzip)
    disk = _disk_position(stream) if compressed else None
    while remaining is None or remaining > 0:
        want = BLOCK if remaining is None else min(BLOCK, remaining)
        try:
            block = stream.read(want)
        except (EOFError, OSError, zipfile.BadZipFile) as error:
            raise TruncatedInput(type(error).__name__) from None
        if not block:
            break
        if remaining is not None:
            remaining -= len(block)
        if progress is not None:
            done = disk() if disk is not None else reported + len(block)
            done = min(done, chunk.size)
            if done > reported:
                progress(done - reported)
                reported = done
        yield block
    if progress is not None and chunk.size > reported:
        progress(chunk.size - reported)


def _disk_position(stream: IO[bytes]) -> Callable[[], int] | None:
    """How far into the compressed file a decompressing stream has read."""
    inner = getattr(stream, "fileobj", None)
    if inner is None or not hasattr(inner, "tell"):
        return None
    try:
        inner.tell()
    except (OSError, ValueError):
        return None

    def position() -> int:
        try:
            return int(inner.tell())
        except (OSError, ValueError):
            return 0

    return position


def line_batches(
    chunk: Chunk, progress: Progress | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """Complete lines of the chunk, in batches with the first one's number.

    A line longer than ``MAX_LINE`` is dropped as it streams past and comes
    out as ``OVERLONG`` under its real line number, for the caller to report;
    compressed data that breaks off ends the batches with ``TRUNCATED``.
    """
    number = chunk.first_line
    carry = b""
    skipping = False
    with open_bytes(chunk) as stream:
        reading = blocks(stream, chunk, progress)
        while True:
            try:
                block = next(reading, None)
            except TruncatedInput:
                # the partial line in hand is lost with the rest
                yield number, [TRUNCATED]
                return
            if block is None:
                break
            lines = block.split(b"\n")
            if skipping:
                # still inside an over-long line: drop up to its end
                if len(lines) == 1:
                    continue
                lines[0] = OVERLONG
                skipping = False
            elif carry:
                lines[0] = carry + lines[0]
            carry = lines.pop()
            if len(carry) > MAX_LINE:
                carry = b""
                skipping = True
            if lines:
                yield number, lines
                number += len(lines)
        if skipping:
            yield number, [OVERLONG]
        elif carry:
            yield number, [carry]


# Stand in for a line too long to keep, and for where compressed data broke
# off; neither can be valid JSON.
OVERLONG: Final = b"\x00overlong"
TRUNCATED: Final = b"\x00truncated"
