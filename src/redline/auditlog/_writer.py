"""Appending to the audit log: chained, signed now and then, rotated by size.

One lock serialises appends from any thread. Each record is written with a
single ``write`` to a file opened for appending, then flushed to the disk
(``fsync``) when durability is ``power``; ``append`` returns once that is
done. A checkpoint (an HMAC over the chain's head) is written every
``checkpoint_every`` records, before each rotation, when asked (the
gateway does at every summary interval) and on close.

On open the chain continues from the last complete record on disk. Bytes
after it (a line cut short by a crash, or lines that do not parse) are left
where they are, untouched, and described by an ``audit.recovered`` record at
the start of a new file, so that verification can tell a crash from an
edit, and nothing is silently dropped.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

from ..sensitive import Sensitive
from . import _record
from ._files import HEAD_FILE, file_name, log_files, read_lines
from ._key import AuditKey

log = logging.getLogger("redline.audit")

Durability = Literal["power", "process"]

# a record larger than this is refused: fields are names and counts
MAX_RECORD_BYTES = 256 * 1024


class AuditLogClosed(RuntimeError):
    """An append after :meth:`AuditLog.close`."""


class AuditLogBusy(RuntimeError):
    """Another process writes this audit log: two writers would fork the
    chain."""


LOCK_FILE = "audit.lock"
# directories whose lock this process holds (a second AuditLog on the same
# directory in one process, as tests build gateways one after another,
# shares it)
_held: dict[Path, int] = {}


@dataclasses.dataclass(frozen=True, slots=True)
class Damage:
    """Bytes at the end of a file that hold no complete record."""

    file: str
    offset: int
    size: int
    sha256: str

    def as_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AuditLog:
    """An append-only, hash-chained log of what the gateway did.

    ``append(kind, **fields)`` is thread-safe; fields must be JSON values
    (names, ids, counts, digests), never secrets or event values.
    """

    def __init__(
        self,
        directory: Path,
        key: AuditKey,
        *,
        durability: Durability = "power",
        max_file_bytes: int = 16 * 1024 * 1024,
        checkpoint_every: int = 100,
    ) -> None:
        if max_file_bytes < 1024:
            raise ValueError("max_file_bytes must be at least 1024")
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.directory = directory
        self._key = key
        self._fsync = durability == "power"
        self._max_bytes = max_file_bytes
        self._checkpoint_every = checkpoint_every
        self._lock = threading.Lock()
        self._closed = False
        self._since_checkpoint = 0
        # a write failed part-way: the file's end is unknown until resumed
        self._broken = False
        self._fd = -1  # the file being written; -1 while none is open
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_path = _take_lock(directory)
        try:
            with self._lock:
                self._resume("the last write before this start was cut short")
        except BaseException:
            _release_lock(self._lock_path)
            raise

    # -- the public face -------------------------------------------------

    @property
    def key_id(self) -> str:
        return self._key.key_id

    @property
    def last_seq(self) -> int:
        """The sequence number of the last record written (0: none yet)."""
        return self._seq

    def append(self, kind: str, **fields: Any) -> None:
        """Write one record, chained to the one before it."""
        if not kind or kind == "checkpoint":
            raise ValueError(f"{kind!r} is not a record kind callers may write")
        with self._lock:
            self._check_open()
            self._write(kind, fields)
            self._since_checkpoint += 1
            if self._since_checkpoint >= self._checkpoint_every:
                self._checkpoint()
            if self._size >= self._max_bytes:
                self._rotate()

    def checkpoint(self) -> None:
        """Sign the chain's head now, unless nothing was written since the
        last checkpoint."""
        with self._lock:
            self._check_open()
            if self._since_checkpoint:
                self._checkpoint()

    def close(self) -> None:
        """Write a final checkpoint and close the file; idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._broken:
                    self._check_open()
                if self._since_checkpoint:
                    self._checkpoint()
            finally:
                self._closed = True
                if self._fd >= 0:
                    os.close(self._fd)
                _release_lock(self._lock_path)

    # -- inside the lock ---------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise AuditLogClosed("the audit log is closed")
        if self._broken:
            if self._fd >= 0:
                os.close(self._fd)
                # never closed twice, should resuming fail as well
                self._fd = -1
            self._resume("a write failed part-way")

    def _resume(self, why: str) -> None:
        """Continue from the last complete record on disk; any bytes after
        it are kept and described in a new file."""
        self._index, self._seq, self._prev, damage = _resume(self.directory)
        if damage:
            # continue in a fresh file; the damaged bytes stay as evidence
            self._index += 1
        self._fd = self._open(self._index)
        self._size = os.fstat(self._fd).st_size
        self._broken = False
        if damage:
            described = [d.as_data() for d in damage]
            log.error(
                "audit log: %s; its bytes are kept and recorded",
                why,
                extra={"damaged": described},
            )
            self._write("audit.recovered", {"damaged": described})

    def _write(self, kind: str, data: dict[str, Any]) -> None:
        record: dict[str, Any] = {
            "seq": self._seq + 1,
            "ts": _record.utc_now(),
            "kind": kind,
            "data": data,
            "prev": self._prev,
        }
        if kind == "checkpoint":
            data["mac"] = _record.checkpoint_mac(self._key.secret.reveal(), record)
        try:
            record["hash"] = _record.chain_hash(self._prev, record)
            line = _record.encode(record)
        except TypeError as exc:
            raise TypeError(
                f"audit record {kind!r}: fields must be JSON values "
                f"(names, ids, counts), not {_culprit(data)}"
            ) from exc
        if len(line) > MAX_RECORD_BYTES:
            raise ValueError(
                f"audit record {kind!r} is {len(line)} bytes, over "
                f"{MAX_RECORD_BYTES}; log counts and names, not contents"
            )
        try:
            _write_all(self._fd, line)
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            # part of the line may be on disk; the next append finds out
            self._broken = True
            raise
        self._size += len(line)
        self._seq += 1
        self._prev = record["hash"]

    def _checkpoint(self) -> None:
        self._write("checkpoint", {"key_id": self._key.key_id})
        self._since_checkpoint = 0
        self._write_head()

    def _write_head(self) -> None:
        # the last checkpoint, signed, beside the log: cutting records off
        # the end (back past a checkpoint) no longer leaves a log that
        # looks whole
        key_id = self._key.key_id
        head = {
            "seq": self._seq,
            "hash": self._prev,
            "key_id": key_id,
            "mac": _record.head_mac(
                self._key.secret.reveal(), self._seq, self._prev, key_id
            ),
        }
        path = self.directory / HEAD_FILE
        tmp = path.with_name(HEAD_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, _record.encode(head))
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if self._fsync:
            _fsync_dir(self.directory)

    def _rotate(self) -> None:
        if self._since_checkpoint:
            self._checkpoint()
        os.close(self._fd)
        self._fd = -1
        self._index += 1
        try:
            self._fd = self._open(self._index)
        except OSError:
            # the next append finds the files as they are and goes on
            self._broken = True
            raise
        self._size = 0
        log.info("audit log rotated", extra={"file": file_name(self._index)})

    def _open(self, index: int) -> int:
        path = self.directory / file_name(index)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if created and self._fsync:
            # the new name must survive a power loss too
            _fsync_dir(self.directory)
        return fd


def _resume(directory: Path) -> tuple[int, int, str, list[Damage]]:
    """The file to write, the last sequence number and hash, and any
    damage after the last complete record."""
    files = log_files(directory)
    if not files:
        return 1, 0, _record.GENESIS, []
    damage: list[Damage] = []
    last_index = files[-1][0]
    for _, path in reversed(files):
        lines, _ = read_lines(path)
        size = path.stat().st_size
        head = None
        for line in reversed(lines):
            record = line.record
            if (
                record is not None
                and isinstance(record.get("seq"), int)
                and isinstance(record.get("hash"), str)
            ):
                head = (line, record)
                break
        if head is None:
            if size:
                damage.append(_damage(path, 0, size))
            continue
        line, record = head
        end = line.offset + len(_line_bytes(path, line.offset))
        if end < size:
            damage.append(_damage(path, end, size - end))
        damage.reverse()
        return last_index, int(record["seq"]), str(record["hash"]), damage
    # files, but not one record in them
    damage.reverse()
    return last_index, 0, _record.GENESIS, damage


def _line_bytes(path: Path, offset: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.readline()


def _damage(path: Path, offset: int, size: int) -> Damage:
    with path.open("rb") as f:
        f.seek(offset)
        digest = hashlib.sha256(f.read(size)).hexdigest()
    return Damage(path.name, offset, size, digest)


def _take_lock(directory: Path) -> Path | None:
    """Lock the directory against other processes; None when this process
    already holds it."""
    path = (directory / LOCK_FILE).resolve()
    if path in _held:
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AuditLogBusy(
            f"another process is writing the audit log in {directory}"
        ) from None
    _held[path] = fd
    return path


def _release_lock(path: Path | None) -> None:
    fd = _held.pop(path, None) if path is not None else None
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _culprit(data: dict[str, Any]) -> str:
    for name, value in data.items():
        if isinstance(value, Sensitive):
            return f"a secret ({name})"
    kinds = {type(v).__name__ for v in data.values()}
    return "values of type " + ", ".join(sorted(kinds))
