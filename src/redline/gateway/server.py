"""Building and running a gateway from a configuration.

Start-up: load and check the policy, open the outbox and the local store,
build the destinations and the forwarder, then serve. Shutdown runs in
phases with a deadline: uvicorn stops accepting and finishes the requests
in flight, the forwarder finishes or abandons its sends (un-acked records
stay in the outbox), then the outbox and the store close.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path

import uvicorn

from ..config import Config
from ..destinations.forwarder import Forwarder, build_destinations
from ..destinations.local import LocalStore
from ..engine import Engine
from ..hashkey import hasher_for
from ..outbox import SqliteOutbox
from ..policy import load_policy
from .app import Gateway

log = logging.getLogger("redline.gateway")

_GC_YOUNG = 20_000
_SWITCH_INTERVAL = 0.0005


def build(config: Config) -> Gateway:
    """A gateway ready to serve; its outbox and forwarder start with the
    app's lifespan."""
    policy = load_policy(config.policy_path)
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(policy, hasher_for(policy, data_dir, config.base_dir))
    spec = config.spec.outbox
    outbox = SqliteOutbox(
        Path(data_dir) / "outbox.db",
        durability=spec.durability,
        max_events=spec.max_events,
    )
    store = LocalStore.in_dir(data_dir)
    forwarder = Forwarder(
        outbox,
        build_destinations(config, store),
        retry_initial=spec.retry_initial_seconds,
        retry_max=spec.retry_max_seconds,
        max_attempts=spec.max_attempts,
    )

    async def on_start() -> None:
        await outbox.start()
        forwarder.start()

    async def on_stop() -> None:
        loop = asyncio.get_running_loop()
        await forwarder.stop(loop.time() + config.server.shutdown_timeout)
        log.info("shutdown: closing the outbox")
        await outbox.close()
        store.close()

    return Gateway(config, engine, outbox, on_start=on_start, on_stop=on_stop)


def serve(config: Config) -> None:
    gateway = build(config)
    # Each event allocates many short-lived objects and no cycles worth
    # collecting often: collect the young generation less often, and move
    # start-up objects out of the collector's way.
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, 20, 100)
    # the outbox writer and the store run Python in threads; hand the GIL
    # back to the request loop sooner than the default 5 ms
    sys.setswitchinterval(_SWITCH_INTERVAL)
    server = config.server
    tls = server.tls
    uv = uvicorn.Config(
        gateway.app(),
        host=server.host,
        port=server.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=int(server.shutdown_timeout),
        ssl_certfile=str(config.base_dir / tls.cert_file) if tls else None,
        ssl_keyfile=str(config.base_dir / tls.key_file) if tls else None,
    )
    scheme = "https" if tls else "http"
    log.info(
        "listening",
        extra={
            "url": f"{scheme}://{server.host}:{server.port}",
            "config": config.source,
            "policy": str(config.policy_path),
            "data_dir": str(config.data_dir),
        },
    )
    uvicorn.Server(uv).run()
