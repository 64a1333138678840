"""Building and running a gateway from a configuration.

Start-up: load and check the policy, open the outbox, the aggregation
windows and the local store, build the destinations and the forwarder, then
serve. Shutdown runs in phases with a deadline: uvicorn stops accepting and
finishes the requests in flight, open aggregation windows are closed into
the outbox, the forwarder finishes or abandons its sends (un-acked records
stay in the outbox), then the outbox and the store close.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import math
import socket
import ssl
import sys
from pathlib import Path

import uvicorn

from .._datadir import prepare as prepare_data_dir
from ..access import KeyRing, KeyStore, KeyWatcher
from ..auditlog import AuditTrail, open_audit_log
from ..config import Config
from ..destinations._store_process import StoreWriter
from ..destinations.forwarder import Forwarder, build_destinations
from ..destinations.local import STORE_FILENAME, LocalStore
from ..engine import Engine
from ..errors import ConfigError, ListenError
from ..hashkey import hasher_for
from ..outbox import SqliteOutbox
from ..policy import CompiledPolicy, load_policy
from ._aggregate import Aggregator
from ._lock import lock_data_dir, release_data_dir
from ._reload import PolicyReloader
from .admin import admin_app
from .app import Gateway
from .ops import Operations

log = logging.getLogger("redline.gateway")

_SWITCH_INTERVAL = 0.002


def build(config: Config) -> Gateway:
    """A gateway ready to serve; its outbox and forwarder start with the
    app's lifespan."""
    policy = load_policy(config.policy_path)
    data_dir = config.data_dir
    prepare_data_dir(data_dir)
    lock_data_dir(data_dir, config.source)

    def make_engine(compiled: CompiledPolicy) -> Engine:
        _warn_unknown_destinations(compiled, config)
        return Engine(compiled, hasher_for(compiled, data_dir, config.base_dir))

    engine = make_engine(policy)
    audit = open_audit_log(config)
    spec = config.spec.outbox
    outbox = SqliteOutbox(
        Path(data_dir) / "outbox.db",
        durability=spec.durability,
        max_events=spec.max_events,
        writer=spec.writer,
    )
    # the store's file is made (private) and its schema checked here, so
    # that a store that cannot be opened stops the start; the writes run
    # in a process of their own (destinations/_store_process.py)
    LocalStore.in_dir(data_dir).close()
    store = StoreWriter(Path(data_dir) / STORE_FILENAME)
    store.start()
    aggregator = Aggregator(
        Path(data_dir) / "aggregates.db", outbox, lambda: gateway.engine.hasher
    )

    async def on_start() -> None:
        if trail is not None:
            await trail.start()
        await outbox.start()
        await aggregator.start()
        forwarder.start()
        ops.start()
        await reloader.start()
        await keys.start()

    async def on_stop() -> None:
        await keys.stop()
        await reloader.stop()
        await ops.stop()
        # open aggregation windows go to the outbox before forwarding stops
        log.info("shutdown: closing aggregation windows")
        await aggregator.close()
        loop = asyncio.get_running_loop()
        await forwarder.stop(loop.time() + config.server.shutdown_timeout)
        log.info("shutdown: closing the outbox")
        await outbox.close()
        # the writer process finishes the batch it holds, if any, and exits
        await asyncio.to_thread(store.close)
        key_store.close()
        if trail is not None:
            log.info("shutdown: closing the audit log")
            await trail.stop()
        release_data_dir(data_dir)

    gateway = Gateway(
        config,
        engine,
        outbox,
        on_start=on_start,
        on_stop=on_stop,
        aggregator=aggregator,
    )
    # metrics, readiness and the dashboard; sends are timed per destination
    ops = Operations(gateway, high_water=spec.high_water_events)
    gateway.ops = ops
    interval = config.spec.audit_log.summary_interval_seconds
    trail = None if audit is None else AuditTrail(audit, gateway, interval)
    destinations = ops.metrics.timed(build_destinations(config, store))
    forwarder = Forwarder(
        outbox,
        destinations,
        retry_initial=spec.retry_initial_seconds,
        retry_max=spec.retry_max_seconds,
        max_attempts=spec.max_attempts,
    )
    ops.attach(forwarder, destinations)
    # a changed policy (SIGHUP or a new file) is put in force while serving
    reloader = PolicyReloader(gateway, Path(config.policy_path), make_engine)
    gateway.reloader = reloader
    # ingest keys and admin tokens made by `redline keys` and the admin API
    key_store = KeyStore.in_dir(data_dir)
    gateway.keyring = KeyRing(config, key_store)
    keys = KeyWatcher(gateway.keyring, key_store, lambda: gateway.audit)
    gateway.admin = admin_app(gateway, key_store)
    return gateway


def _warn_unknown_destinations(policy: CompiledPolicy, config: Config) -> None:
    """Policies are checked without a config, so an override naming a
    destination the config lacks is no error; it is said at every load."""
    known = config.spec.destinations
    for name in policy.spec.destinations:
        if name not in known:
            log.warning(
                "policy overrides destination %r, which the config does not "
                "define; the override applies to nothing",
                name,
                extra={"policy": policy.digest[:12]},
            )


def serve(config: Config) -> None:
    # a certificate uvicorn cannot load would otherwise surface as a
    # traceback after start-up has begun
    tls_files = _tls_files(config)
    # bound before anything starts, so that a busy port is one clear error
    # and no log line claims the gateway started
    sockets = _listen(config.server.host, config.server.port)
    try:
        gateway = build(config)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    # start-up objects (the compiled policy, detectors, libraries) never
    # die: keep them out of the collector's way, so that its pauses stay
    # short while requests wait
    gc.collect()
    gc.freeze()
    # the outbox writer and the store run Python in threads; hand the GIL
    # back to the request loop sooner than the default 5 ms (2 ms measured
    # best of 0.5, 2 and 5 ms in bench/gateway.py)
    sys.setswitchinterval(_SWITCH_INTERVAL)
    server = config.server
    uv = uvicorn.Config(
        gateway.app(),
        host=server.host,
        port=server.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        # whole seconds only; rounding down would turn 0.5 s into no grace
        timeout_graceful_shutdown=math.ceil(server.shutdown_timeout),
        ssl_certfile=tls_files[0] if tls_files else None,
        ssl_keyfile=tls_files[1] if tls_files else None,
    )
    scheme = "https" if tls_files else "http"
    log.info(
        "listening",
        extra={
            "url": f"{scheme}://{server.host}:{server.port}",
            "config": config.source,
            "policy": str(config.policy_path),
            "data_dir": str(config.data_dir),
        },
    )
    uvicorn.Server(uv).run(sockets=sockets)


def _listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address ``host`` names (as asyncio's
    ``create_server`` would bind them), or a :class:`ListenError`."""
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    sockets: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in dict.fromkeys(
            (i[0], i[1], i[2], i[3], i[4]) for i in infos
        ):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ListenError(
            f"cannot listen on {where}: {reason} (fix: --port or server.port"
            + (", or server.host)" if exc.errno != errno.EADDRINUSE else ")")
        ) from None
    return sockets


def _tls_files(config: Config) -> tuple[str, str] | None:
    """The certificate and key files, checked by loading them once."""
    tls = config.server.tls
    if tls is None:
        return None
    cert = (config.base_dir / tls.cert_file).expanduser()
    key = (config.base_dir / tls.key_file).expanduser()
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError included
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise ConfigError(
            f"server.tls: cannot load certificate {cert} with key {key} ({reason})",
            path=config.source,
            fix="point cert_file and key_file at a PEM certificate chain and "
            "its private key, readable by Redline",
        ) from None
    return str(cert), str(key)
