"""Operating a gateway: metrics, readiness, access logs and the status the
dashboard and ``redline status`` show.

:class:`Operations` ties them to one :class:`~redline.gateway.app.Gateway`.
A sampler task reads the outbox's per-route figures once a second (one
read query in a worker thread) and keeps ten minutes of event counts for
the charts; nothing here runs per event.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import logging
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..outbox import RouteStats, SqliteOutbox
from ._vendors import VENDOR_ROUTES
from .health import Readiness
from .metrics import GatewayMetrics, policy_mode

if TYPE_CHECKING:
    from ..destinations._base import Destination
    from ..destinations.forwarder import Forwarder
    from .app import Gateway

__all__ = ["Operations", "Sample"]

access_log = logging.getLogger("redline.access")
log = logging.getLogger("redline.ops")

_HISTORY = 600  # samples kept for the charts (ten minutes at 1 s)
_TOP_PROPERTIES = 20
_DEAD_REASONS_PER_ROUTE = 500
_INGEST = frozenset(
    f"/{e}{s}" for e in ("track", "engage", "groups", "import") for s in ("", "/")
)
_MIXPANEL_OTHER = {
    f"/{e}{s}": e for e in ("flags", "decide", "settings", "record") for s in ("", "/")
}
# the other vendors' routes: (vendor, route) for the request metric
_VENDORS = {path: (vendor.name, route) for path, vendor, route in VENDOR_ROUTES}
# PostHog and Amplitude share /batch
_VENDORS.update({p: ("posthog/amplitude", "batch") for p in ("/batch", "/batch/")})
_VENDORS.update({"/s": ("posthog", "record"), "/s/": ("posthog", "record")})
_OWN = {
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
    "/ui": "ui",
    "/ui/": "ui",
    "/ui/login": "ui_login",
    "/ui/api/status": "ui_status",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    routes: Sequence[RouteStats]
    taken_at: float


class _SqliteSampler:
    """Per-route figures read from a SQLite outbox on one reading connection.

    Cheaper than ``read_stats`` when much is waiting: depths are counted on
    the route index, and the oldest record of a route is the first in id
    order, found without reading the others' payloads.
    """

    def __init__(self, path: Path, routes: Sequence[str]) -> None:
        self._path = path
        self._routes = list(routes)
        self._conn: sqlite3.Connection | None = None

    def read(self, now: float) -> list[RouteStats]:
        if self._conn is None:
            conn = sqlite3.connect(
                str(self._path), isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 1000")
            self._conn = conn
        conn = self._conn
        try:
            conn.execute("BEGIN")
            dead = dict(
                conn.execute("SELECT route, COUNT(*) FROM dead_letters GROUP BY route")
            )
            out = []
            for route in sorted(set(self._routes) | set(dead)):
                (depth,) = conn.execute(
                    "SELECT COALESCE(SUM(waiting), 0) FROM outbox WHERE route = ?",
                    (route,),
                ).fetchone()
                age = None
                if depth:
                    row = conn.execute(
                        "SELECT enqueued_at FROM outbox NOT INDEXED WHERE route = ?"
                        " ORDER BY id LIMIT 1",
                        (route,),
                    ).fetchone()
                    age = max(now - row[0], 0.0) if row else None
                out.append(RouteStats(route, depth, age, dead.get(route, 0)))
            conn.execute("COMMIT")
        except sqlite3.Error:
            self.close()
            raise
        return out

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Operations:
    """Metrics, readiness and status of one gateway."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        high_water: int,
        sample_interval: float = 1.0,
    ) -> None:
        self.gateway = gateway
        self.metrics = GatewayMetrics(gateway)
        outbox = gateway.outbox
        self.readiness = Readiness(
            outbox,
            lambda: getattr(gateway.engine, "policy", None),
            high_water,
            depth=self._depth,
        )
        self.metrics.ready = lambda: self.readiness.ready
        self.sample_interval = sample_interval
        self.forwarder: Forwarder | None = None
        self.destination_types: dict[str, str] = {}
        # (t, received, accepted, dropped, forwarded) cumulative
        self.history: collections.deque[tuple[float, int, int, int, int]] = (
            collections.deque(maxlen=_HISTORY)
        )
        self.dead_reasons: dict[str, list[tuple[str, int]]] = {}
        self._dead_seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._sqlite: _SqliteSampler | None = None
        self._sample_error: str | None = None
        self._id_prefix = uuid.uuid4().hex[:8] + "-o"
        self._ids = itertools.count(1)

    # -- wiring

    def attach(
        self, forwarder: Forwarder, destinations: dict[str, Destination]
    ) -> None:
        self.forwarder = forwarder
        self.metrics.forwarder = forwarder
        outbox = self.gateway.outbox
        if isinstance(outbox, SqliteOutbox):
            self._sqlite = _SqliteSampler(outbox.path, list(destinations))
        for project in self.gateway.config.projects.values():
            for upstream in project.upstreams:
                route = f"{project.name}/{upstream.destination}"
                self.destination_types[route] = upstream.spec.type

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sampler(), name="redline-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sqlite is not None:
            await asyncio.to_thread(self._sqlite.close)

    def _depth(self) -> int:
        depth = getattr(self.gateway.outbox, "depth", None)
        if isinstance(depth, int):
            return depth
        sample = self.metrics.sample
        return sum(r.depth for r in sample.routes) if sample is not None else 0

    # -- the sampler

    async def _sampler(self) -> None:
        while True:
            await self.sample_once()
            await asyncio.sleep(self.sample_interval)

    async def sample_once(self) -> None:
        outbox = self.gateway.outbox
        try:
            if self._sqlite is not None:
                routes = await asyncio.to_thread(self._sqlite.read, time.time())
            else:
                routes = await outbox.stats()
            for row in routes:
                if row.dead and self._dead_seen.get(row.route) != row.dead:
                    letters = await outbox.dead_letters(
                        row.route, _DEAD_REASONS_PER_ROUTE
                    )
                    reasons = Counter(letter.reason for letter in letters)
                    self.dead_reasons[row.route] = reasons.most_common(10)
                    self._dead_seen[row.route] = row.dead
                elif not row.dead:
                    self.dead_reasons.pop(row.route, None)
                    self._dead_seen.pop(row.route, None)
        except Exception as exc:
            error = type(exc).__name__
            if error != self._sample_error:
                log.warning("outbox sample failed (%s)", error)
            self._sample_error = error
        else:
            self._sample_error = None
            self.metrics.sample = Sample(routes, time.time())
        counters = self.gateway.counters
        self.history.append(
            (
                time.time(),
                counters.received,
                counters.accepted,
                counters.dropped,
                self._forwarded(),
            )
        )

    def _forwarded(self) -> int:
        if self.forwarder is None:
            return 0
        return sum(row.delivered for row in self.forwarder.stats.values())

    # -- status for the dashboard and the CLI

    async def status(self) -> dict[str, Any]:
        gateway = self.gateway
        counters = gateway.counters
        checks = await self.readiness.checks()
        policy = gateway.engine.policy
        sample = self.metrics.sample
        rows = {r.route: r for r in sample.routes} if sample is not None else {}
        stats = self.forwarder.stats if self.forwarder is not None else {}
        timed = self.metrics.destinations
        destinations = []
        for route in sorted(set(stats) | set(rows)):
            row = rows.get(route)
            counts = stats.get(route)
            sender = timed.get(route)
            destinations.append(
                {
                    "route": route,
                    "type": self.destination_types.get(route, ""),
                    "queue": row.depth if row else 0,
                    "oldest_age_seconds": row.oldest_age_seconds if row else None,
                    "dead_letters": row.dead if row else 0,
                    "delivered": counts.delivered if counts else 0,
                    "retried": counts.retried if counts else 0,
                    "buried": counts.buried if counts else 0,
                    "batches": counts.batches if counts else 0,
                    "failures": sender.failures if sender else 0,
                    "consecutive_failures": (
                        sender.consecutive_failures if sender else 0
                    ),
                    "last_error": counts.last_error if counts else None,
                    "dead_letter_reasons": [
                        {"reason": reason, "count": count}
                        for reason, count in self.dead_reasons.get(route, [])
                    ],
                }
            )
        by_type = [
            {"detector": detector or "none", "action": action, "count": count}
            for (action, detector), count in sorted(
                counters.findings.items(), key=lambda kv: -kv[1]
            )
        ]
        by_property = [
            {
                "event": event,
                "property": prop,
                "action": action,
                "detector": detector,
                "count": count,
            }
            for (event, prop, action, detector), count in (
                self.metrics.findings_by_property.most_common(_TOP_PROPERTIES)
            )
        ]
        received, accepted, dropped = (
            counters.received,
            counters.accepted,
            counters.dropped,
        )
        ages = [r.oldest_age_seconds for r in rows.values() if r.oldest_age_seconds]
        return {
            "version": __version__,
            "generated_at": time.time(),
            "uptime_seconds": time.time() - self.metrics.started_at,
            "ready": all(c.ok for c in checks),
            "checks": [dataclasses.asdict(c) for c in checks],
            "policy": {
                "digest": str(getattr(policy, "digest", "")),
                "mode": policy_mode(policy),
            },
            "totals": {
                "received": received,
                "accepted": accepted,
                "dropped": dropped,
                "invalid": max(0, received - accepted - dropped),
                "forwarded": self._forwarded(),
                "sampled": 0,
                "aggregated": counters.aggregated,
                "findings": sum(counters.findings.values()),
            },
            "series": self._series(),
            "findings": {
                "by_type": by_type,
                "by_property": by_property,
                "names_capped": self.metrics.event_names.overflow > 0
                or self.metrics.properties.overflow > 0,
            },
            "outbox": {
                "depth": self._depth(),
                "capacity": getattr(gateway.outbox, "max_events", None),
                "high_water": self.readiness.high_water,
                "oldest_age_seconds": max(ages, default=None),
            },
            "destinations": destinations,
        }

    def _series(self) -> list[dict[str, float]]:
        out = []
        for before, after in itertools.pairwise(self.history):
            span = max(after[0] - before[0], 1e-3)
            out.append(
                {
                    "t": round(after[0], 3),
                    "in": round((after[1] - before[1]) / span, 2),
                    "kept": round((after[2] - before[2]) / span, 2),
                    "dropped": round((after[3] - before[3]) / span, 2),
                    "out": round((after[4] - before[4]) / span, 2),
                }
            )
        return out

    # -- HTTP

    def routes(self) -> list[Route]:
        from .ui import ui_routes

        return [
            Route("/readyz", self._readyz, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
            *ui_routes(self),
        ]

    async def _readyz(self, request: Request) -> Response:
        checks = await self.readiness.checks()
        ready = all(c.ok for c in checks)
        body = {
            "status": "ready" if ready else "not ready",
            "checks": [dataclasses.asdict(c) for c in checks],
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def _metrics(self, request: Request) -> Response:
        # gauges the sampler keeps are at most a second old; readiness is
        # checked here so that redline_ready is current too
        await self.readiness.checks()
        return Response(
            self.metrics.render(),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return _AccessLog(app, self)

    def request_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):x}"


class _AccessLog:
    """One access line per request the ingest handler does not log itself."""

    def __init__(self, app: ASGIApp, ops: Operations) -> None:
        self.app = app
        self.ops = ops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _INGEST:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        if path in _MIXPANEL_OTHER:
            vendor, route = "mixpanel", _MIXPANEL_OTHER[path]
        elif path in _VENDORS:
            vendor, route = _VENDORS[path]
        elif path.startswith("/array/"):
            vendor, route = "posthog", "config"
        elif path in _OWN:
            vendor, route = "redline", _OWN[path]
        elif path.startswith("/ui/static/"):
            vendor, route = "redline", "ui_static"
        elif path == "/admin" or path.startswith("/admin/"):
            # one label for the whole admin API: its paths carry key ids
            vendor, route = "redline", "admin"
        else:
            vendor, route = "none", "other"
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.ops.metrics.other_requests[(vendor, route, str(status))] += 1
            access_log.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={
                    "request_id": self.ops.request_id(),
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
