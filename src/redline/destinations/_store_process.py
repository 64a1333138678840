"""The local store's writer, in a process of its own.

The gateway's request loop, its outbox and its forwarder share one
interpreter lock. Reading outbox records back, building the store's rows and
inserting them with their indexes is the largest share of that work after
the requests themselves, and it comes in bursts that stand in the requests'
way. :class:`StoreWriter` hands each batch, as the outbox's own bytes, to a
child process that owns the store's write connection and answers when the
batch is committed; the forwarder acknowledges the outbox only then, as
before, so what a crash of either process can lose does not change.

The child is ``python -m redline.destinations._store_process PATH``. Its
standard input carries requests and its standard output answers, as frames
of :mod:`redline._child`. It exits when its input closes, which is
also what happens when the gateway dies, so it never outlives it. A child
that dies is started again on the next batch; the batch it held fails with
a retryable error and is leased again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from .. import _child
from ..events import Event, to_record

__all__ = ["StoreUnavailable", "StoreWriter"]

log = logging.getLogger("redline.store")

# added to the store writer's nice value
_NICENESS = 10
# how long close() waits for the child to finish its batch and exit
_CLOSE_TIMEOUT = 10.0


class StoreUnavailable(Exception):
    """The writer process could not take or finish a batch (it died, or
    its database refused the write); the batch may be tried again."""


class StoreWriter:
    """Inserts into the local store at ``path`` through a child process.

    Has the write methods of :class:`~redline.destinations.local.LocalStore`
    (``insert``, ``insert_records``), blocking like them, so the
    destination runs them in a worker thread; one batch at a time.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.restarts = 0

    def start(self) -> None:
        """Start the child now (else the first batch starts it)."""
        with self._lock:
            self._ensure()

    def insert(self, project: str, events: Sequence[Event]) -> int:
        records = [orjson.dumps(to_record(event)) for event in events]
        stored, _ = self.insert_records(project, records)
        return stored

    def insert_records(
        self, project: str, records: Sequence[bytes]
    ) -> tuple[int, list[int]]:
        """As :meth:`LocalStore.insert_records`; raises
        :class:`StoreUnavailable` when the child fails."""
        request = _child.frame((project, list(records)))
        with self._lock:
            child = self._ensure()
            assert child.stdin is not None and child.stdout is not None
            try:
                child.stdin.write(request)
                child.stdin.flush()
                outcome = _child.read_frame(child.stdout)
            except (OSError, EOFError) as exc:
                self._lost(child)
                raise StoreUnavailable("store writer process died") from exc
            if outcome is None:
                self._lost(child)
                raise StoreUnavailable("store writer process died")
        if outcome[0] == "ok":
            return int(outcome[1]), list(outcome[2])
        # the database's error, by class name only: messages may quote SQL
        raise StoreUnavailable(f"local store write failed ({outcome[1]})")

    def close(self) -> None:
        """Let the child finish and exit; kill it if it does not."""
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is None:
            return
        assert child.stdin is not None
        with contextlib.suppress(OSError):
            child.stdin.close()
        try:
            child.wait(_CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("store writer did not exit; killing it")
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    @property
    def pid(self) -> int | None:
        child = self._child
        return None if child is None else child.pid

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._closed:
            raise StoreUnavailable("the local store is closed")
        child = self._child
        if child is not None and child.poll() is None:
            return child
        if child is not None:
            self._lost(child)
        self._child = child = subprocess.Popen(
            _child.command(__name__, str(self.path)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # its own errors go where the gateway's do
            stderr=None,
            close_fds=True,
            env=_child.environment(),
        )
        return child

    def _lost(self, child: subprocess.Popen[bytes]) -> None:
        if self._child is child:
            self._child = None
            self.restarts += 1
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if child.poll() is None:
            child.kill()
        child.wait()
        log.warning(
            "store writer process exited (code %s); starting another",
            child.returncode,
        )


def _serve(path: str, requests: IO[bytes], answers: IO[bytes]) -> None:
    import sqlite3

    from .local import LocalStore

    with LocalStore(path) as store:
        while (request := _child.read_frame(requests)) is not None:
            project, records = request
            outcome: tuple[Any, ...]
            try:
                stored, unreadable = store.insert_records(project, records)
                outcome = ("ok", stored, unreadable)
            except sqlite3.Error as exc:
                outcome = ("error", type(exc).__name__)
            _child.write_frame(answers, outcome)


def main(argv: Sequence[str]) -> None:
    _child.ignore_interrupts()
    _child.log_like_parent()
    # the store's inserts can wait; the requests and the outbox's commits
    # cannot: on a busy machine this process yields the cores to them
    os.nice(_NICENESS)
    _serve(argv[0], sys.stdin.buffer, _child.answers_channel())


if __name__ == "__main__":
    main(sys.argv[1:])
