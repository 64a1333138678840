"""The SQLite outbox's writer in a process of its own.

With the writer in a thread, every statement it runs ends with the thread
taking the interpreter lock back from the requests; under load each of
those hand-overs can wait a switch interval, and an append's commit waits
for all of them. In a process the writer has an interpreter of its own:
the gateway writes each call to a pipe from its event loop and reads the
outcome back there, with no thread of its own involved.

The child is ``python -m redline.outbox._writer PATH DURABILITY``. It
opens the file as the thread would (same schema, same pragmas), answers
``("ready", depth)`` or ``("error", reason)``, then reads calls
``(kind, args, now)``: everything that has arrived is run as one
transaction (group commit) by the same code as the thread's, and one
outcome per call goes back, in order, with the records stored after that
transaction. ``now`` is the gateway's clock, so
due times are the same whichever writer runs. Leases live in the child's
memory, as they lived in the thread's. The child exits when its input
closes: at :meth:`RemoteWriter.finish`, or when the gateway dies, so it
never outlives it. If it dies first, every call waiting on it fails with
``OutboxUnavailable`` and so does every later one, which fails readiness
until the gateway is restarted, as a dead writer thread does.

What an acknowledged append survives does not change: the child commits
(and, for ``power``, fsyncs) before it answers, and the gateway answers
its client only after that.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import _child

__all__ = ["RemoteWriter"]


class _Answers(asyncio.Protocol):
    def __init__(
        self,
        ready: asyncio.Future[tuple[Any, ...]],
        on_outcomes: Callable[[list[tuple[Any, ...]]], None],
        on_exit: Callable[[], None],
    ) -> None:
        self._ready = ready
        self._on_outcomes = on_outcomes
        self._on_exit = on_exit
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        messages = _child.frames(self._buffer)
        if messages and not self._ready.done():
            self._ready.set_result(messages.pop(0))
        if messages:
            self._on_outcomes(messages)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ready.done():
            self._ready.set_result(("error", "the writer process exited"))
        self._on_exit()


class RemoteWriter:
    """The gateway's end of a writer process (see the module docstring)."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        requests: asyncio.WriteTransport,
    ) -> None:
        self._process = process
        self._requests = requests

    @classmethod
    async def start(
        cls,
        path: Path,
        durability: str,
        on_outcomes: Callable[[list[tuple[Any, ...]]], None],
        on_exit: Callable[[], None],
    ) -> tuple[RemoteWriter, int]:
        """Start the child; its writer and the records waiting in the file.
        ``on_outcomes`` and ``on_exit`` are called on the loop."""
        from .sqlite import OutboxUnavailable

        loop = asyncio.get_running_loop()
        process = subprocess.Popen(
            _child.command("redline.outbox._writer", str(path), durability),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            close_fds=True,
            env=_child.environment(),
        )
        assert process.stdin is not None and process.stdout is not None
        ready: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        await loop.connect_read_pipe(
            lambda: _Answers(ready, on_outcomes, on_exit), process.stdout
        )
        requests, _ = await loop.connect_write_pipe(asyncio.Protocol, process.stdin)
        writer = cls(process, requests)
        first = await ready
        if first[0] != "ready":
            writer.finish()
            await writer.wait()
            raise OutboxUnavailable(f"outbox open failed ({first[1]})")
        return writer, int(first[1])

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, call: tuple[str, Any, float]) -> None:
        self._requests.write(_child.frame(call))

    def finish(self) -> None:
        """Close the child's input: it finishes the calls it has, answers
        them, and exits."""
        self._requests.close()

    async def wait(self) -> None:
        await asyncio.to_thread(self._process.wait)
