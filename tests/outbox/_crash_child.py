"""Child process for the crash test: append batches until killed.

After each ``append`` returns it prints the batch's insert_ids on one line,
so every printed id was acknowledged as durable.
Usage: python _crash_child.py PATH DURABILITY WRITER
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from redline.outbox import Entry, SqliteOutbox


async def main(path: Path, durability: str, writer: str) -> None:
    outbox = await SqliteOutbox.open(
        path,
        durability=durability,  # type: ignore[arg-type]
        writer=writer,  # type: ignore[arg-type]
    )
    counter = 0

    async def writer(task: int) -> None:
        nonlocal counter
        while True:
            counter += 1
            ids = [f"t{task}-b{counter}-{i}" for i in range(25)]
            await outbox.append([Entry("demo/local", id_, b"{}" * 100) for id_ in ids])
            sys.stdout.write(",".join(ids) + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer(task) for task in range(8)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
