"""Load generation for the benchmarks, run in a separate process."""

from __future__ import annotations

import asyncio
import base64
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
SAMPLES = (
    Path(__file__).resolve().parent.parent / "tests" / "data" / "mixpanel_events.jsonl"
)


class Bodies:
    """Request bodies as mixpanel-browser sends them to a non-Mixpanel host:
    ``data=`` + URL-encoded base64 of a JSON array of ``batch`` events.

    ``bodies[i]`` is encoded when asked for, from one of ``count`` event
    batches drawn at the start, with insert ids of its own: the gateway
    forwards a record it accepted lately once, so a benchmark that sent the
    same bodies again would measure repeats being answered, not events
    being queued. Each copy sent to a load process draws a new prefix for
    its ids, so the phases of a run never repeat one another.
    """

    def __init__(self, count: int, batch: int, token: str, seed: int = 7) -> None:
        rng = random.Random(seed)
        samples = [
            orjson.loads(line) for line in SAMPLES.read_text().splitlines() if line
        ]
        self.batch = batch
        self._templates: list[list[dict[str, Any]]] = []
        for _ in range(count):
            events = []
            for _ in range(batch):
                event = orjson.loads(orjson.dumps(rng.choice(samples)))
                props = event["properties"]
                props["token"] = token
                props["time"] = time.time()
                props["distinct_id"] = f"user_{rng.randrange(10_000)}@example.com"
                props["$browser"] = rng.choice(["Chrome", "Firefox", "Safari"])
                events.append(event)
            self._templates.append(events)
        self._prefix: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_prefix": None}

    def __len__(self) -> int:
        return 1 << 40  # indexes never wrap: every body is new

    def __getitem__(self, index: int) -> bytes:
        if self._prefix is None:
            # 16 base-36 characters per id, as mixpanel-browser's
            self._prefix = "".join(random.choice(_BASE36) for _ in range(6))
        events = self._templates[index % len(self._templates)]
        # random characters, as mixpanel-browser's cheap_guid draws them (a
        # counter would put long runs of digits in every id, which no SDK
        # sends and which the gateway must scan as a possible phone number)
        for event in events:
            tail = "".join(random.choices(_BASE36, k=10))
            event["properties"]["$insert_id"] = self._prefix + tail
        payload = base64.b64encode(orjson.dumps(events))
        # what encodeURIComponent does to base64: only these three change
        quoted = payload.replace(b"+", b"%2B").replace(b"/", b"%2F")
        return b"data=" + quoted.replace(b"=", b"%3D")


def realistic_bodies(count: int, batch: int, token: str, seed: int = 7) -> Bodies:
    """``count`` batches of ``batch`` realistic events, encoded on demand
    with fresh insert ids (see :class:`Bodies`)."""
    return Bodies(count, batch, token, seed)


@dataclass
class Figures:
    requests: int
    events: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self, label: str) -> str:
        return (
            f"{label:<26} {self.events_per_second:>10,.0f} events/s   "
            f"p50 {self.percentile(0.5):6.2f} ms   "
            f"p99 {self.percentile(0.99):6.2f} ms   "
            f"errors {self.errors}"
        )


class _Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost
    far less per request than the servers it measures, which a full client
    library does not."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
        assert self.reader is not None
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle connection
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
            self.writer.write(head + body)
            status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split()[1])


def _split(url: str) -> tuple[str, int, str]:
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode()
    return parsed.host, parsed.port or 80, path


async def _closed_loop(
    url: str, bodies: Bodies, batch: int, seconds: float, workers: int
) -> Figures:
    host, port, path = _split(url)
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    stop_at = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        conn = _Connection(host, port, path)
        i = offset
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += workers
            started = time.perf_counter()
            status = await conn.post(body)
            latencies.append((time.perf_counter() - started) * 1000)
            counts["requests"] += 1
            if status != 200:
                counts["errors"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.perf_counter() - started
    ok = counts["requests"] - counts["errors"]
    return Figures(counts["requests"], ok * batch, counts["errors"], elapsed, latencies)


async def _open_loop(
    url: str, bodies: Bodies, batch: int, seconds: float, rate_rps: float
) -> Figures:
    """Requests at a fixed rate, whatever the answers do; latency is
    measured from the scheduled send time, so queueing counts."""
    host, port, path = _split(url)
    latencies: list[float] = []
    errors = 0
    total = int(seconds * rate_rps)
    idle: list[_Connection] = []
    start = time.perf_counter()

    async def one(n: int) -> None:
        nonlocal errors
        due = start + n / rate_rps
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = idle.pop() if idle else _Connection(host, port, path)
        status = await conn.post(bodies[n % len(bodies)])
        latencies.append((time.perf_counter() - due) * 1000)
        idle.append(conn)
        if status != 200:
            errors += 1

    await asyncio.gather(*(one(n) for n in range(total)))
    elapsed = time.perf_counter() - start
    return Figures(total, (total - errors) * batch, errors, elapsed, latencies)


def run_closed(
    url: str, bodies: Bodies, batch: int, seconds: float, workers: int
) -> Figures:
    return asyncio.run(_closed_loop(url, bodies, batch, seconds, workers))


def run_open(
    url: str, bodies: Bodies, batch: int, seconds: float, rate_rps: float
) -> Figures:
    return asyncio.run(_open_loop(url, bodies, batch, seconds, rate_rps))


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}"
