"""The outbox writer process itself (see :mod:`redline.outbox._process`).

Kept apart from the package's imports so that ``python -m`` runs it once.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import _child
from ._base import Entry
from .sqlite import OutboxUnavailable, _call_for, _open_writer, _transact, _Writer

# the most calls one transaction takes (as the thread's)
_MAX_CALLS = 4_096


def _portable(error: BaseException) -> BaseException:
    """``error`` as it can cross the pipe: itself if it pickles, else an
    ``OutboxUnavailable`` naming its class (never its message)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return OutboxUnavailable(f"outbox call failed ({type(error).__name__})")
    return error


def _serve(path: Path, durability: str, requests: int, answers: Any) -> None:
    try:
        conn = _open_writer(path, durability)  # type: ignore[arg-type]
        writer = _Writer(conn, time.time)
        depth = writer.open_depth()
    except Exception as exc:
        _child.write_frame(answers, ("error", type(exc).__name__))
        return
    _child.write_frame(answers, ("ready", depth))
    commits = 0
    buffer = bytearray()
    try:
        while chunk := os.read(requests, 1 << 20):
            buffer += chunk
            waiting = _child.frames(buffer)
            while waiting:
                group, waiting = waiting[:_MAX_CALLS], waiting[_MAX_CALLS:]
                calls = []
                for kind, args, now in group:
                    if kind == "append":
                        args = [Entry(*fields) for fields in args]
                    call = _call_for(kind, args, None)
                    call.run = _at(now, writer, call.run)
                    calls.append(call)
                if _transact(writer, calls):
                    commits += 1
                out = bytearray()
                for call in calls:
                    done = call.done
                    if call.error is None and done is not None:
                        outcome: tuple[Any, ...] = (
                            "ok",
                            _plain(done.result),
                            writer.depth,
                            tuple(done.routes),
                            commits,
                        )
                    else:
                        error = call.error or OutboxUnavailable("outbox call failed")
                        outcome = ("error", _portable(error), writer.depth, commits)
                    out += _child.frame(outcome)
                answers.write(out)
                answers.flush()
    finally:
        conn.close()


def _plain(result: Any) -> Any:
    """A lease's records as tuples: they cross the pipe several times
    faster than the dataclass."""
    if isinstance(result, list):
        return [
            (r.id, r.route, r.insert_id, r.payload, r.attempts, r.enqueued_at)
            for r in result
        ]
    return result


def _at(now: float, writer: Any, run: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``run`` with the writer's clock reading the caller's ``now``."""

    def timed(w: Any) -> Any:
        writer.clock = lambda: now
        return run(w)

    return timed


def main(argv: list[str]) -> None:
    _child.ignore_interrupts()
    _child.log_like_parent()
    answers = _child.answers_channel()
    _serve(Path(argv[0]), argv[1], sys.stdin.fileno(), answers)


if __name__ == "__main__":
    main(sys.argv[1:])
