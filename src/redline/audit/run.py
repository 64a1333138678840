"""Running the analysis over the machine's cores.

The readers split the input into chunks that can each be read alone
(``redline.audit.readers.plan``); a process pool folds each chunk into a
:class:`~redline.audit.partial.Partial`; the parent merges partials as they
come back and reports progress (bytes when a chunk is done, events as the
workers count them). With one worker everything runs in this process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from ._classify import Classifier
from ._sketch import DEFAULT_CAP
from .partial import Partial
from .records import AuditRecord, Chunk, Malformed

__all__ = ["Analysis", "Progress", "analyse", "analyse_chunks"]

# a reader takes a chunk and a callback for the on-disk bytes it consumes
Reader = Callable[
    [Chunk, Callable[[int], None] | None], Iterable[AuditRecord | Malformed]
]
# records folded at once (and between progress messages from a worker)
_BATCH = 16_384


@dataclasses.dataclass(slots=True)
class Progress:
    """Where a run is; passed to the progress callback after each change."""

    files: int
    files_done: int
    bytes: int
    bytes_done: int
    events: int


@dataclasses.dataclass(slots=True)
class Analysis:
    """The merged partial and what was read to make it."""

    partial: Partial
    files: int
    bytes: int
    chunks: int
    workers: int
    seconds: float


def analyse(
    paths: Sequence[str],
    *,
    format: str | None = None,
    workers: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    detectors: Sequence[str] = (),
) -> Analysis:
    """Read every export under ``paths`` and analyse it. ``detectors`` names
    detectors to run besides the gateway's defaults (``national_id:fr.nir``,
    see :func:`redline.detect.build_detector`)."""
    from . import readers

    chunks = readers.plan(list(paths), format)
    return analyse_chunks(
        chunks,
        reader=readers.read,
        workers=workers,
        on_progress=on_progress,
        detectors=detectors,
    )


def analyse_chunks(
    chunks: Sequence[Chunk],
    *,
    reader: Reader,
    workers: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cap: int = DEFAULT_CAP,
    detectors: Sequence[str] = (),
) -> Analysis:
    """Analyse ``chunks`` with ``reader`` on ``workers`` processes (default:
    the machine's cores, at most one per chunk). An unknown name in
    ``detectors`` raises ConfigError before any work starts."""
    started = time.perf_counter()
    extra = tuple(dict.fromkeys(detectors))
    classifier = _classifier(extra)  # also checks the names, in this process
    key = secrets.token_bytes(16)  # keys the digests of ids for this run only
    count = workers or os.cpu_count() or 1
    count = max(1, min(count, len(chunks) or 1))
    per_file = Counter(chunk.path for chunk in chunks)
    progress = Progress(
        files=len(per_file),
        files_done=0,
        bytes=sum(chunk.size for chunk in chunks),
        bytes_done=0,
        events=0,
    )
    notify = on_progress or (lambda _: None)
    notify(progress)

    def finished(chunk: Chunk) -> None:
        per_file[chunk.path] -= 1
        if per_file[chunk.path] == 0:
            progress.files_done += 1
        notify(progress)

    merged = Partial(key=key, cap=cap)
    if count == 1:
        for chunk in chunks:
            part = Partial(key=key, cap=cap)
            for size, events in _fold(part, chunk, reader, classifier):
                progress.bytes_done += size
                progress.events += events
                notify(progress)
            merged.merge(part)
            finished(chunk)
    else:
        _run_pool(
            chunks, reader, key, cap, extra, count, merged, progress, notify, finished
        )
    return Analysis(
        partial=merged,
        files=progress.files,
        bytes=progress.bytes,
        chunks=len(chunks),
        workers=count,
        seconds=time.perf_counter() - started,
    )


def _run_pool(
    chunks: Sequence[Chunk],
    reader: Reader,
    key: bytes,
    cap: int,
    detectors: tuple[str, ...],
    count: int,
    merged: Partial,
    progress: Progress,
    notify: Callable[[Progress], None],
    finished: Callable[[Chunk], None],
) -> None:
    # fork: workers start at once and inherit the loaded detectors
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    )
    ticks: Any = context.Queue()
    with ProcessPoolExecutor(
        max_workers=count,
        mp_context=context,
        initializer=_start_worker,
        initargs=(key, cap, detectors, ticks),
    ) as pool:
        pending: dict[Future[Partial], Chunk] = {
            pool.submit(_work, chunk, reader): chunk for chunk in chunks
        }
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            size, events = _drain(ticks)
            if size or events:
                progress.bytes_done += size
                progress.events += events
                notify(progress)
            for future in done:
                chunk = pending.pop(future)
                merged.merge(future.result())
                finished(chunk)
    size, events = _drain(ticks)
    progress.bytes_done += size
    progress.events += events
    notify(progress)


def _drain(ticks: Any) -> tuple[int, int]:
    size = events = 0
    while True:
        try:
            more_size, more_events = ticks.get_nowait()
        except queue.Empty:
            return size, events
        size += more_size
        events += more_events


# -- in the worker processes -------------------------------------------------

_worker: dict[str, Any] = {}


def _classifier(detectors: tuple[str, ...]) -> Classifier:
    """A classifier with the default detectors and those named."""
    if not detectors:
        return Classifier()
    from ..detect import DEFAULT_DETECTORS, Scanner, build_detector
    from ..errors import ConfigError

    names = [*DEFAULT_DETECTORS, *(n for n in detectors if n not in DEFAULT_DETECTORS)]
    built = []
    for name in names:
        try:
            built.append(build_detector(name))
        except KeyError:
            raise ConfigError(
                f"unknown detector {name!r}",
                fix="name one of redline.detect.DETECTORS, or "
                "national_id:<python-stdnum module> such as national_id:fr.nir",
            ) from None
    return Classifier(Scanner(built))


def _start_worker(key: bytes, cap: int, detectors: tuple[str, ...], ticks: Any) -> None:
    classifier = _classifier(detectors)
    _worker.update(key=key, cap=cap, ticks=ticks, classifier=classifier)


def _work(chunk: Chunk, reader: Reader) -> Partial:
    part = Partial(key=_worker["key"], cap=_worker["cap"])
    ticks = _worker["ticks"]
    for tick in _fold(part, chunk, reader, _worker["classifier"]):
        ticks.put(tick)
    return part


def _fold(
    part: Partial, chunk: Chunk, reader: Reader, classifier: Classifier
) -> Iterator[tuple[int, int]]:
    """Fold ``chunk`` into ``part``; yield (bytes, events) read as it goes
    (malformed lines are not events). A chunk that cannot be read is
    reported as one malformed entry."""
    ids: dict[str, int] = {}
    consumed = [0]

    def count(size: int) -> None:
        consumed[0] += size

    seen = reported = 0
    batch: list[AuditRecord] = []
    try:
        for record in reader(chunk, count):
            if isinstance(record, Malformed):
                part.add_malformed(record)
                continue
            seen += 1
            batch.append(record)
            if len(batch) == _BATCH:
                part.add_batch(batch, classifier, ids)
                batch = []
                yield consumed[0] - reported, seen
                reported, seen = consumed[0], 0
    except OSError as exc:
        reason = f"could not be read ({type(exc).__name__})"
        part.add_malformed(Malformed(source=_where(chunk), reason=reason))
    if batch:
        part.add_batch(batch, classifier, ids)
    # whatever the reader did not report counts as read once the chunk is done
    yield chunk.size - reported, seen


def _where(chunk: Chunk) -> str:
    name = os.path.basename(chunk.path)
    return f"{name}!{chunk.member}" if chunk.member else name
