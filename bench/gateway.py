"""Gateway throughput and latency over loopback.

Starts `redline serve` (local store destination, the shipped example
policy) and, as the floor, a bare endpoint on the same server stack that
only parses the same bodies and answers `1`. A load generator in a separate
process sends batches of 50 realistic events as mixpanel-browser does
(base64 `data=`), first as fast as the server answers, then at half the
measured gateway rate to read latency under moderate load.

    python bench/gateway.py [--seconds 10] [--durability power|process]
        [--writer process|thread]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import Bodies, Figures, realistic_bodies, run_closed, run_open

BATCH = 50
# the target: this many events per second at most, and a p99 under
# 10 ms at half of it
TARGET_EVENTS_PER_SECOND = 20_000

BARE_APP = """
import base64, orjson
from urllib.parse import unquote_to_bytes
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def track(request):
    body = await request.body()
    data = unquote_to_bytes(body.split(b"=", 1)[1])
    events = orjson.loads(base64.b64decode(data))
    assert isinstance(events, list)
    return Response(b'{"status":1,"error":null}', media_type="application/json")

app = Starlette(routes=[Route("/track", track, methods=["POST"])])
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, and of its
    living child processes (the outbox and store writers) (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(_cpu_seconds(int(child)) for child in children)
    return total


def _settled_cpu(pid: int) -> float:
    """The process's CPU time once it has gone idle (its forwarder has
    drained the outbox), so the work left after the load stopped counts."""
    last = _cpu_seconds(pid)
    while True:
        time.sleep(0.5)
        now = _cpu_seconds(pid)
        if now - last < 0.02:
            return now
        last = now


def _measure(url: str, bodies: Bodies, seconds: float, rate: float | None) -> Figures:
    # the load runs in its own process so it does not share the server's core
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        if rate is None:
            return pool.apply(run_closed, (url, bodies, BATCH, seconds, 16))
        return pool.apply(run_open, (url, bodies, BATCH, seconds, rate))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--durability", choices=["power", "process"], default="power")
    parser.add_argument("--writer", choices=["process", "thread"], default="process")
    args = parser.parse_args()

    bodies = realistic_bodies(400, BATCH, "demo")
    work = Path(tempfile.mkdtemp(prefix="redline-bench-"))
    gw_port, bare_port = _port(), _port()
    config = work / "redline.yaml"
    config.write_text(
        f"server: {{port: {gw_port}, data_dir: {work / 'data'}}}\n"
        f"outbox: {{durability: {args.durability}, writer: {args.writer}}}\n"
        "log: {level: warning}\n"
        "destinations: {local: {type: local}}\n"
        "projects: {demo: {ingest_keys: [demo], forward: [{destination: local}]}}\n"
    )
    (work / "bare.py").write_text(BARE_APP)
    path = [str(work), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    gateway = subprocess.Popen(
        [sys.executable, "-m", "redline.cli", "serve", "--config", str(config)],
        env=env,
        **quiet,
    )
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=work,
        **quiet,
    )
    try:
        gw_url = f"http://127.0.0.1:{gw_port}"
        bare_url = f"http://127.0.0.1:{bare_port}"
        _wait(gw_url + "/healthz")
        _wait(bare_url + "/track")
        # warm up both
        _measure(gw_url + "/track?verbose=1", bodies, 1.0, None)
        _measure(bare_url + "/track", bodies, 1.0, None)
        cpu_floor_before = _settled_cpu(bare.pid)

        floor = _measure(bare_url + "/track", bodies, args.seconds, None)
        floor_cpu = _settled_cpu(bare.pid)
        cpu_before = _settled_cpu(gateway.pid)
        full = _measure(gw_url + "/track?verbose=1", bodies, args.seconds, None)
        cpu_per_event = (_settled_cpu(gateway.pid) - cpu_before) / full.events
        floor_cpu_per_event = (floor_cpu - cpu_floor_before) / floor.events
        half_rate = full.events_per_second / 2 / BATCH
        at_half = _measure(gw_url + "/track?verbose=1", bodies, args.seconds, half_rate)
        bare_half = _measure(bare_url + "/track", bodies, args.seconds, half_rate)
        target_rate = TARGET_EVENTS_PER_SECOND / 2 / BATCH
        at_target = _measure(
            gw_url + "/track?verbose=1", bodies, args.seconds, target_rate
        )
    finally:
        gateway.terminate()
        bare.terminate()
        gateway.wait(30)
        bare.wait(30)

    print(
        f"batches of {BATCH} events, {os.cpu_count()} cores, "
        f"outbox durability {args.durability}, writer {args.writer}"
    )
    print(floor.line("bare parse (floor), max"))
    print(full.line("redline gateway, max"))
    print(bare_half.line(f"bare parse @ {half_rate * BATCH:,.0f} ev/s"))
    print(at_half.line(f"redline @ {half_rate * BATCH:,.0f} ev/s"))
    print(at_target.line(f"redline @ {target_rate * BATCH:,.0f} ev/s"))
    ratio = full.events_per_second / floor.events_per_second
    print(f"gateway / floor throughput ratio: {ratio:.2f}")
    # CPU time per event counts all the gateway's work for an event (decode,
    # policy, outbox, forwarding to the local store), including what its
    # forwarder did after the load stopped; it is steadier than wall-clock
    # rates on a busy machine
    print(
        f"CPU per event: gateway {cpu_per_event * 1e6:.1f} us, "
        f"floor {floor_cpu_per_event * 1e6:.1f} us "
        f"(one core's capacity: {1 / cpu_per_event:,.0f} events/s)"
    )


if __name__ == "__main__":
    main()
