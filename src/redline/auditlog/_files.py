"""Where the audit log lives on disk and how its files are read back.

The log is a directory of numbered files, ``audit-000001.jsonl``,
``audit-000002.jsonl``, ...; the highest number is the one being written.
A file's number only ever grows, so a missing number is a removed file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

# the last checkpoint's sequence number and hash, signed
HEAD_FILE = "audit.head"

_NAME = re.compile(r"^audit-(\d{6,})\.jsonl$")


def file_name(index: int) -> str:
    return f"audit-{index:06d}.jsonl"


def log_files(directory: Path) -> list[tuple[int, Path]]:
    """The log's files in order, with their numbers."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    """One complete line of a file: where it is and what it parsed to."""

    number: int  # 1-based line number in its file
    offset: int  # byte offset of its start
    record: dict[str, Any] | None  # None: not a JSON object
    error: str | None  # why it did not parse


@dataclasses.dataclass(frozen=True, slots=True)
class Tail:
    """Bytes after a file's last newline: a write cut short."""

    offset: int
    size: int
    sha256: str


def read_lines(path: Path) -> tuple[list[Line], Tail | None]:
    """Every complete line of ``path``, and any torn tail after them."""
    return parse_lines(path.read_bytes())


def parse_lines(data: bytes) -> tuple[list[Line], Tail | None]:
    """Every complete line of a file's ``data``, and any torn tail."""
    end = data.rfind(b"\n") + 1
    tail = None
    if end < len(data):
        rest = data[end:]
        tail = Tail(end, len(rest), hashlib.sha256(rest).hexdigest())
    return list(_parse(data[:end])), tail


def _parse(data: bytes) -> Iterator[Line]:
    offset = 0
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield Line(number, offset, None, f"not JSON ({exc.msg})")
        else:
            if isinstance(value, dict):
                yield Line(number, offset, value, None)
            else:
                yield Line(number, offset, None, "not a JSON object")
        offset += len(raw)
