"""Load generation for the benchmarks, run in a separate process."""

from __future__ import annotations

import asyncio
import base64
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "mixpanel_events.jsonl"


def realistic_bodies(count: int, batch: int, token: str, seed: int = 7) -> list[bytes]:
    """Request bodies as mixpanel-browser sends them to a non-Mixpanel host:
    ``data=`` + URL-encoded base64 of a JSON array of ``batch`` events."""
    rng = random.Random(seed)
    samples = [orjson.loads(line) for line in SAMPLES.read_text().splitlines() if line]
    bodies = []
    for n in range(count):
        events = []
        for i in range(batch):
            event = orjson.loads(orjson.dumps(rng.choice(samples)))
            props = event["properties"]
            props["token"] = token
            props["time"] = time.time()
            props["distinct_id"] = f"user_{rng.randrange(10_000)}@example.com"
            props["$insert_id"] = f"b{n:07d}-{i:03d}-{rng.randrange(1 << 30):x}"
            props["$browser"] = rng.choice(["Chrome", "Firefox", "Safari"])
            events.append(event)
        payload = base64.b64encode(orjson.dumps(events)).decode()
        bodies.append(b"data=" + quote(payload, safe="").encode())
    return bodies


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
            f"p50 {self.percentile(0.5):6.2f} ms   p99 {self.percentile(0.99):6.2f} ms   "
            f"errors {self.errors}"
        )


async def _closed_loop(url: str, bodies: list[bytes], batch: int, seconds: float, workers: int) -> Figures:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < stop_at:
                body = bodies[i % len(bodies)]
                i += workers
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                counts["requests"] += 1
                if response.status_code != 200:
                    counts["errors"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(workers)))
        elapsed = time.perf_counter() - started
    ok = counts["requests"] - counts["errors"]
    return Figures(counts["requests"], ok * batch, counts["errors"], elapsed, latencies)


async def _open_loop(url: str, bodies: list[bytes], batch: int, seconds: float, rate_rps: float) -> Figures:
    """Requests at a fixed rate, whatever the answers do; latency is
    measured from the scheduled send time, so queueing counts."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    latencies: list[float] = []
    errors = 0
    total = int(seconds * rate_rps)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter()

        async def one(n: int) -> None:
            nonlocal errors
            due = start + n / rate_rps
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            response = await client.post(url, content=bodies[n % len(bodies)], headers=headers)
            latencies.append((time.perf_counter() - due) * 1000)
            if response.status_code != 200:
                errors += 1

        await asyncio.gather(*(one(n) for n in range(total)))
        elapsed = time.perf_counter() - start
    return Figures(total, (total - errors) * batch, errors, elapsed, latencies)


def run_closed(url: str, bodies: list[bytes], batch: int, seconds: float, workers: int) -> Figures:
    return asyncio.run(_closed_loop(url, bodies, batch, seconds, workers))


def run_open(url: str, bodies: list[bytes], batch: int, seconds: float, rate_rps: float) -> Figures:
    return asyncio.run(_open_loop(url, bodies, batch, seconds, rate_rps))


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}"
