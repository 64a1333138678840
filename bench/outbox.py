"""Throughput of the SQLite outbox under concurrent appends.

Appends ``--entries`` records (batches of ``--batch``, ~300-byte payloads)
from ``--tasks`` concurrent tasks, once per durability, and compares each
with two baselines measured in the same process on the same disk:

* ``orjson``: serialising the same payloads, the floor of any outbox;
* ``bare``: one ``executemany`` and one commit per batch (no group commit)
  at ``synchronous=FULL`` in WAL mode, i.e. what "power" would cost without
  grouping.

Run: ``python bench/outbox.py [--entries 200000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Literal

import orjson

from redline.outbox import Entry, SqliteOutbox


def make_batches(entries: int, batch: int) -> list[list[Entry]]:
    out: list[list[Entry]] = []
    for start in range(0, entries, batch):
        out.append(
            [
                Entry(
                    route=f"demo/dest{i % 4}",
                    insert_id=f"{i:032x}",
                    payload=orjson.dumps(
                        {
                            "k": "track",
                            "n": "Checkout Completed",
                            "p": {"plan": "pro", "items": i % 7, "pad": "x" * 160},
                            "d": f"user-{i % 1000}",
                            "i": f"{i:032x}",
                            "t": 1_700_000_000 + i,
                        }
                    ),
                )
                for i in range(start, min(start + batch, entries))
            ]
        )
    return out


async def run_outbox(
    path: Path,
    batches: list[list[Entry]],
    tasks: int,
    durability: Literal["power", "process"],
) -> tuple[float, int]:
    outbox = await SqliteOutbox.open(path, durability=durability, max_events=10_000_000)
    work = iter(batches)

    async def worker() -> None:
        for batch in work:
            await outbox.append(batch)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    commits = outbox.commits
    await outbox.close()
    return elapsed, commits


def run_bare(path: Path, batches: list[list[Entry]]) -> float:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY, route TEXT, insert_id TEXT,"
        " payload BLOB, attempts INT, not_before REAL, enqueued_at REAL,"
        " last_error TEXT)"
    )
    conn.execute("CREATE INDEX outbox_due ON outbox (route, not_before, id)")
    started = time.perf_counter()
    for batch in batches:
        now = time.time()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO outbox (route, insert_id, payload, attempts, not_before,"
            " enqueued_at) VALUES (?, ?, ?, 0, ?, ?)",
            [(e.route, e.insert_id, e.payload, now, now) for e in batch],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def run_orjson(batches: list[list[Entry]]) -> float:
    records = [[orjson.loads(e.payload) for e in batch] for batch in batches]
    started = time.perf_counter()
    for batch in records:
        for record in batch:
            orjson.dumps(record)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=None, help="where to write")
    args = parser.parse_args()

    batches = make_batches(args.entries, args.batch)
    n = args.entries
    size = sum(len(e.payload) for b in batches for e in b) / n
    print(
        f"{n} entries, batches of {args.batch}, {args.tasks} tasks,"
        f" payload {size:.0f} B avg, cpus {os.cpu_count()}"
    )

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        orjson_s = run_orjson(batches)
        bare_s = run_bare(base / "bare.db", batches)
        print(f"{'orjson.dumps only':<32} {n / orjson_s:>12,.0f} entries/s")
        print(f"{'bare executemany, FULL':<32} {n / bare_s:>12,.0f} entries/s")
        durabilities: tuple[Literal["power", "process"], ...] = ("power", "process")
        for durability in durabilities:
            elapsed, commits = asyncio.run(
                run_outbox(base / f"{durability}.db", batches, args.tasks, durability)
            )
            rate = n / elapsed
            print(
                f"{'outbox ' + durability:<32} {rate:>12,.0f} entries/s"
                f"  ({len(batches)} appends in {commits} commits;"
                f" x{bare_s / elapsed:.2f} bare, {orjson_s / elapsed:.3f} of orjson)"
            )


if __name__ == "__main__":
    main()
