"""Helpers for the gateway's child processes (the outbox writer, the local
store's writer): how they are started and how they talk.

A child is ``python -m <module> ARGS``, started with this package's own
source first on its path so that it runs the same Redline as its parent.
Both directions carry frames: a 4-byte big-endian length, then a pickle.
Only Redline's own processes are at either end of the pipes, so nothing
foreign is ever unpickled. A child writes its log to the standard error it
shares with the gateway, in the gateway's format (passed in its
environment), so that the log stays one stream of lines of one shape.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from . import _logs

LENGTH = struct.Struct(">I")
# the gateway's log level and format, as "level:format"
_LOG_SETTINGS = "REDLINE_CHILD_LOG"


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def environment() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    settings = _logs.settings()
    if settings is not None:
        env[_LOG_SETTINGS] = ":".join(settings)
    return env


def log_like_parent() -> None:
    """In a child: log as the gateway does, and report an uncaught
    exception as one log line with its type and place, never its message
    (it may quote a value)."""
    settings = os.environ.get(_LOG_SETTINGS)
    if settings:
        level, _, fmt = settings.partition(":")
        _logs.configure(level, fmt)
    sys.excepthook = _log_uncaught


def _log_uncaught(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    logging.getLogger("redline.child").critical(
        "%s failed", sys.argv[0], exc_info=(kind, error, tb)
    )


def frame(message: Any) -> bytes:
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(payload)) + payload


def frames(buffer: bytearray) -> list[Any]:
    """The whole frames at the start of ``buffer``, removed from it."""
    out = []
    at = 0
    while len(buffer) - at >= LENGTH.size:
        (size,) = LENGTH.unpack_from(buffer, at)
        end = at + LENGTH.size + size
        if len(buffer) < end:
            break
        out.append(pickle.loads(memoryview(buffer)[at + LENGTH.size : end]))
        at = end
    del buffer[:at]
    return out


def read_frame(stream: IO[bytes]) -> Any | None:
    """One message from a blocking stream, or None at its end."""
    head = _exactly(stream, LENGTH.size)
    if head is None:
        return None
    (size,) = LENGTH.unpack(head)
    body = _exactly(stream, size)
    if body is None:
        raise EOFError("frame cut short")
    return pickle.loads(body)


def write_frame(stream: IO[bytes], message: Any) -> None:
    stream.write(frame(message))
    stream.flush()


def answers_channel() -> IO[bytes]:
    """In a child: a stream of its own for answers on the parent's pipe;
    standard output then goes to standard error, so that nothing printed
    can break a frame."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return answers


def _exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            if left == size:
                return None
            raise EOFError("frame cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def ignore_interrupts() -> None:
    """Ctrl-C reaches the whole process group, and so does SIGTERM from a
    service manager that stops every process of the service (systemd's
    default); the parent decides when a child ends, by closing its input.
    A child killed first would fail the parent's last calls."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


__all__: Sequence[str] = [
    "LENGTH",
    "answers_channel",
    "command",
    "environment",
    "frame",
    "frames",
    "ignore_interrupts",
    "log_like_parent",
    "read_frame",
    "write_frame",
]
