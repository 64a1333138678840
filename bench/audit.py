"""Audit throughput and memory on generated Mixpanel exports.

For each size (default 256 MB and 2 GB of JSON lines) it writes an export
with the test suite's generator, then measures in the same run:

- the floor: the readers alone (decode every line into an AuditRecord) over
  the same chunks on the same number of worker processes;
- the audit: ``redline.audit.run.analyse`` (readers, detectors, sketches,
  people sets, merge) and building the report.

It prints MB per minute, events per second, the audit/floor ratio, and the
peak resident memory of the parent, of the largest worker and of all of
them together (sampled every 0.1 s with psutil), so the two sizes show
whether memory grows with the input.

The machine is shared, so wall-clock figures move with the load. It also
prints the CPU seconds each phase used (this process and its reaped
workers, from getrusage) and the CPU ratio audit/floor, which other
processes hardly move, and the throughput that CPU time projects on
``--workers`` idle cores.

    nice python bench/audit.py                    # 256 MB and 2 GB
    python bench/audit.py --sizes 64 --keep /tmp/audit-bench
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.audit.exports import write_big_mixpanel

from redline.audit import readers
from redline.audit.records import AuditRecord, Chunk
from redline.audit.report import build_report
from redline.audit.run import analyse


class PeakMemory:
    """Samples the RSS of this process and its children in a thread."""

    def __init__(self) -> None:
        self.parent = self.worker = self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            try:
                parent = me.memory_info().rss
                children = [c.memory_info().rss for c in me.children(recursive=True)]
            except psutil.Error:
                continue
            self.parent = max(self.parent, parent)
            self.worker = max([self.worker, *children])
            self.total = max(self.total, parent + sum(children))


def _read_only(chunk: Chunk) -> int:
    return sum(1 for item in readers.read(chunk) if isinstance(item, AuditRecord))


def _cpu() -> float:
    """CPU seconds of this process and of its workers that have exited."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def floor(paths: list[str], workers: int) -> tuple[float, int]:
    chunks = readers.plan(paths, "mixpanel")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        events = sum(pool.map(_read_only, chunks))
    return time.perf_counter() - started, events


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def run(size_mb: int, directory: Path, workers: int) -> None:
    target = directory / f"{size_mb}mb"
    started = time.perf_counter()
    export = write_big_mixpanel(target, size_mb * 1_000_000, files=max(2, workers * 2))
    print(
        f"\n== {_mb(export.bytes)} export, {export.events:,} events, "
        f"{len(export.files)} files (written in {time.perf_counter() - started:.0f}s)"
    )
    paths = [str(path) for path in export.files]

    cpu = _cpu()
    floor_seconds, floor_events = floor(paths, workers)
    floor_cpu, cpu = _cpu() - cpu, _cpu()
    with PeakMemory() as memory:
        started = time.perf_counter()
        analysis = analyse(paths, format="mixpanel", workers=workers)
        report = build_report(analysis)
        seconds = time.perf_counter() - started
    audit_cpu = _cpu() - cpu
    assert analysis.partial.events == export.events == floor_events

    minutes = seconds / 60
    for label, took in (("readers only (floor)", floor_seconds), ("audit", seconds)):
        print(
            f"{label:22} {took:7.1f}s  {export.bytes / 1e9 / (took / 60):6.2f} GB/min  "
            f"{export.events / took:10,.0f} events/s"
        )
    print(f"audit / floor time     {seconds / floor_seconds:7.2f}x")
    print(
        f"CPU                    floor {floor_cpu:.1f}s, audit {audit_cpu:.1f}s "
        f"({audit_cpu / floor_cpu:.2f}x); "
        f"{audit_cpu / export.events * 1e6:.1f} us/event"
    )
    projected = export.bytes / 1e9 / (audit_cpu / workers / 60)
    print(
        f"projected on {workers} idle cores "
        f"{projected:5.2f} GB/min  {export.events / (audit_cpu / workers):10,.0f} "
        "events/s (from CPU time)"
    )
    print(
        f"peak RSS               parent {_mb(memory.parent)}, largest worker "
        f"{_mb(memory.worker)}, all {_mb(memory.total)}"
    )
    print(
        f"found                  {report['blast_radius']['people']:,} people, "
        f"{len(report['findings'])} findings; "
        f"{export.bytes / 1e6 / minutes:,.0f} MB/min"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 2048], help="MB")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, help="write exports here and keep them")
    args = parser.parse_args()
    directory = args.keep or Path(tempfile.mkdtemp(prefix="redline-audit-bench-"))
    print(
        f"{args.workers} workers, {os.cpu_count()} cores, "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    try:
        for size in args.sizes:
            run(size, directory, args.workers)
            if args.keep is None:
                shutil.rmtree(directory / f"{size}mb", ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
