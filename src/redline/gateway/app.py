"""The ASGI gateway: Mixpanel's ingestion API in front of the engine and
the outbox.

A request is decoded by the protocol adapter, each record is mapped from its
public ingest key to a project, sanitised by the engine, and appended to the
outbox for every destination of its project (or, under an ``aggregate``
rule, folded into the aggregator's windows). The client gets its answer, in
Mixpanel's own format, only after the append (and the fold) has committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from ..access import KeyRing, Verdict
from ..config import Config, Project
from ..engine import Engine, Result
from ..errors import OutboxFull, PayloadTooLarge, RequestError, Unauthorized
from ..events import Event, Kind, to_record
from ..outbox import Entry, Outbox, OutboxUnavailable
from ..protocols import mixpanel
from ..protocols._vendor import PERSON
from ._aggregate import Aggregator, Fold
from ._client_ip import ClientAddress
from ._cors import Cors
from ._dedup import RecentIds
from ._ratelimit import RateLimited, RateLimiter
from ._vendors import VENDOR_ROUTES, Vendor, is_amplitude_batch
from .metrics import count_findings

if TYPE_CHECKING:
    from ..auditlog import AuditLog
    from ..engine import Finding
    from ._reload import PolicyReloader
    from .ops import Operations

access_log = logging.getLogger("redline.access")
log = logging.getLogger("redline.gateway")

_ENDPOINTS: tuple[mixpanel.Endpoint, ...] = ("track", "engage", "groups", "import")


@dataclasses.dataclass
class Counters:
    """What the gateway did since start; counts only."""

    requests: Counter[str] = dataclasses.field(default_factory=Counter)
    received: int = 0
    # the same records by the vendor API they came in on
    received_by_vendor: Counter[str] = dataclasses.field(default_factory=Counter)
    accepted: int = 0
    dropped: int = 0
    rejected: int = 0
    # accepted events folded into aggregation windows (a part of accepted)
    aggregated: int = 0
    # records accepted lately that a client sent again: answered as
    # accepted, not queued twice (not a part of accepted)
    repeated: int = 0
    # (action, detector or None) -> count
    findings: Counter[tuple[str, str | None]] = dataclasses.field(
        default_factory=Counter
    )


class Gateway:
    """The state one running gateway shares across requests."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        outbox: Outbox,
        *,
        on_start: Callable[[], Any] | None = None,
        on_stop: Callable[[], Any] | None = None,
        aggregator: Aggregator | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.outbox = outbox
        # folds the events of ``aggregate`` rules; without one (a gateway
        # built by hand) such events are dropped, never sent one by one
        self.aggregator = aggregator
        self.counters = Counters()
        self._client = ClientAddress(
            config.server.client_ip_header, config.server.trusted_proxies
        )
        # ingest keys from the config (server.build adds the key store)
        self.keyring = KeyRing(config)
        self.limits = RateLimiter(config.server.rate_limits)
        self.recent = RecentIds(config.server.dedup_window_records)
        self._cors = Cors(
            config.server.cors_origins,
            lambda origin: self.keyring.origin_allowed_by_some_key(origin),
        )
        self._on_start = on_start
        self._on_stop = on_stop
        # request ids: unique per process start, cheap per request
        self._id_prefix = uuid.uuid4().hex[:8] + "-"
        self._ids = itertools.count(1)
        # metrics, readiness, dashboard (set by server.build)
        self.ops: Operations | None = None
        # swaps ``engine`` when the policy changes (set by server.build)
        self.reloader: PolicyReloader | None = None
        # the admin API, mounted at /admin (set by server.build)
        self.admin: ASGIApp | None = None
        # the tamper-evident audit log (set by server.build when enabled)
        self.audit: AuditLog | None = None
        # findings since the audit log's last summary (set with it)
        self.audit_findings: Counter[Finding] | None = None

    # -- the app ---------------------------------------------------------

    def app(self) -> Starlette:
        routes: list[BaseRoute] = []
        for endpoint in _ENDPOINTS:
            handler = self._ingest_handler(endpoint)
            for path in (f"/{endpoint}", f"/{endpoint}/"):
                routes.append(Route(path, handler, methods=["GET", "POST", "OPTIONS"]))
        for path, vendor, name in VENDOR_ROUTES:
            handler = self._vendor_handler(vendor, name)
            routes.append(Route(path, handler, methods=["GET", "POST", "OPTIONS"]))
        routes.append(Route("/batch", self._batch, methods=["GET", "POST", "OPTIONS"]))
        routes.append(Route("/batch/", self._batch, methods=["GET", "POST", "OPTIONS"]))
        for path in ("/array/{token}/config", "/array/{token}/config.js"):
            routes.append(Route(path, self._posthog_config, methods=["GET"]))
        for path in ("/s", "/s/"):
            routes.append(Route(path, self._record, methods=["POST", "OPTIONS"]))
        for path in ("/flags", "/flags/", "/decide", "/decide/"):
            routes.append(Route(path, self._flags, methods=["GET", "POST", "OPTIONS"]))
        for path in ("/settings", "/settings/"):
            routes.append(Route(path, self._settings, methods=["GET", "OPTIONS"]))
        for path in ("/record", "/record/"):
            routes.append(Route(path, self._record, methods=["POST", "OPTIONS"]))
        routes.append(Route("/healthz", self._healthz, methods=["GET"]))
        if self.admin is not None:
            routes.append(Mount("/admin", app=self.admin))
        if self.ops is None:
            return Starlette(routes=routes, lifespan=self._lifespan)
        routes.extend(self.ops.routes())
        app = Starlette(routes=routes, lifespan=self._lifespan)
        app.add_middleware(self.ops.middleware)
        return app

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self._on_start is not None:
            await _maybe_await(self._on_start())
        log.info(
            "gateway started",
            extra={
                "policy": self.engine.policy.digest[:12],
                "projects": len(self.config.projects),
            },
        )
        try:
            yield
        finally:
            log.info("shutdown: requests finished, stopping forwarders")
            if self._on_stop is not None:
                await _maybe_await(self._on_stop())
            log.info("shutdown: complete")

    # -- ingestion -------------------------------------------------------

    def _ingest_handler(self, endpoint: mixpanel.Endpoint) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            return await self._ingest(endpoint, request)

        return handle

    async def _ingest(self, endpoint: mixpanel.Endpoint, request: Request) -> Response:
        started = time.perf_counter()
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        origin = request.headers.get("origin")
        query = dict(request.query_params)
        if request.method == "OPTIONS":
            return self._preflight(request, origin)
        if request.method == "HEAD":
            # Starlette routes HEAD wherever GET goes, but HEAD must not
            # change anything (RFC 9110 section 9.2.1): a link checker
            # probing a pixel URL would otherwise record the event
            return Response(status_code=405, headers={"allow": "GET, POST, OPTIONS"})

        options = mixpanel.options_or_default(query)
        records = 0
        # False when a record's key does not allow this origin: the answer
        # then carries no CORS headers, so the browser refuses it too
        cors_ok = True
        try:
            peer = request.client.host if request.client else None
            client_ip = self._client.resolve(peer, request.headers)
            self.limits.client(client_ip)
            body = await self._read_body(request)
            decoded = mixpanel.decode(
                endpoint,
                request.method,
                query,
                {k.lower(): v for k, v in request.headers.items()},
                body,
                max_body_bytes=self.config.server.max_body_bytes,
                max_records=self.config.server.max_events_per_request,
            )
            options = decoded.options
            records = len(decoded.events) + len(decoded.failures)
            reply, cors_ok = await self._accept(
                endpoint, decoded, client_ip, request_id, origin
            )
        except OutboxFull as exc:
            log.warning(
                "outbox full, asking clients to retry", extra={"request_id": request_id}
            )
            reply = mixpanel.error_response(
                endpoint,
                options,
                RequestError("busy, retry later", status=503),
                retry_after=exc.retry_after,
            )
        except RequestError as exc:
            self.counters.rejected += 1
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            reply = mixpanel.error_response(
                endpoint, options, exc, retry_after=retry_after
            )
            cors_ok = exc.status != 403
            log.info(
                "request refused",
                extra={"request_id": request_id, "route": endpoint, "reason": str(exc)},
            )
        except OutboxUnavailable as exc:
            _unavailable_log(exc, request_id)
            reply = mixpanel.error_response(
                endpoint, options, _UNAVAILABLE, retry_after=_UNAVAILABLE_RETRY
            )
        except Exception as exc:  # the edge: a bug answers in the vendor's shape
            _failed_log(exc, request_id)
            reply = mixpanel.error_response(endpoint, options, _INTERNAL)

        cors = self._cors.headers(origin) if cors_ok else {}
        headers = {**reply.headers, **cors}
        self.counters.requests[f"{endpoint} {reply.status}"] += 1
        access_log.info(
            "%s /%s %s",
            request.method,
            endpoint,
            reply.status,
            extra={
                "request_id": request_id,
                "method": request.method,
                "route": endpoint,
                "status": reply.status,
                "records": records,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return Response(reply.body, reply.status, headers, reply.media_type)

    def _vendor_handler(
        self, vendor: Vendor, endpoint: str
    ) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            return await self._ingest_vendor(vendor, endpoint, request)

        return handle

    async def _batch(self, request: Request) -> Response:
        # PostHog and Amplitude both call their batch API /batch: the body
        # says which (Amplitude's has "events", PostHog's "batch" or is a list)
        from ._vendors import AMPLITUDE, POSTHOG

        body: bytes | None = b""
        if request.method == "POST":
            try:
                body = await self._read_body(request)
            except RequestError:
                body = None  # too large: answered as PostHog's
        amplitude = body is not None and is_amplitude_batch(
            body, request.headers, limit=self.config.server.max_body_bytes
        )
        vendor = AMPLITUDE if amplitude else POSTHOG
        return await self._ingest_vendor(
            vendor, "batch", request, body=body, preread=True
        )

    async def _ingest_vendor(
        self,
        vendor: Vendor,
        endpoint: str,
        request: Request,
        *,
        body: bytes | None = b"",
        preread: bool = False,
    ) -> Response:
        """One request to a PostHog, Segment or Amplitude endpoint: decode,
        sanitise, commit, and answer in the vendor's own format."""
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        origin = request.headers.get("origin")
        if request.method == "OPTIONS":
            return self._preflight(request, origin)
        if request.method == "HEAD":
            return Response(status_code=405, headers={"allow": "GET, POST, OPTIONS"})
        query = dict(request.query_params)
        # False when a record's key does not allow this origin: the answer
        # then carries no CORS headers, so the browser refuses it too
        cors_ok = True
        try:
            peer = request.client.host if request.client else None
            resolved_ip = self._client.resolve(peer, request.headers)
            self.limits.client(resolved_ip)
            if body is None:
                raise PayloadTooLarge(
                    f"request body over {self.config.server.max_body_bytes} bytes"
                )
            if not preread and request.method == "POST":
                body = await self._read_body(request)
            batch = vendor.decode(
                endpoint,
                request.method,
                query,
                {k.lower(): v for k, v in request.headers.items()},
                body,
                max_body_bytes=self.config.server.max_body_bytes,
                max_records=self.config.server.max_events_per_request,
                received_at=time.time(),
            )
            auth = (
                self.keyring.check(batch.key, origin, time.time())
                if batch.key
                else None
            )
            if auth is not None and auth.project is None and vendor.key_is_auth:
                _refuse(auth.refusal)
            client_ip = resolved_ip if batch.client_ip else None
            accepted, failures, _, cors_ok = await self._admit(
                self.engine,
                batch.events,
                batch.tokens,
                batch.indexes,
                list(batch.failures),
                [None] * len(batch.failures),
                auth,
                client_ip,
                request_id,
                origin,
                person=True,
                vendor=vendor.name,
            )
            reply = vendor.respond(batch, accepted=accepted, failures=failures)
        except OutboxFull as exc:
            log.warning(
                "outbox full, asking clients to retry", extra={"request_id": request_id}
            )
            reply = vendor.error_response(
                RequestError("busy, retry later", status=503),
                retry_after=exc.retry_after,
            )
        except RequestError as exc:
            self.counters.rejected += 1
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            reply = vendor.error_response(exc, retry_after=retry_after)
            cors_ok = exc.status != 403
            log.info(
                "request refused",
                extra={
                    "request_id": request_id,
                    "route": f"{vendor.name}:{endpoint}",
                    "reason": str(exc),
                },
            )
        except OutboxUnavailable as exc:
            _unavailable_log(exc, request_id)
            reply = vendor.error_response(_UNAVAILABLE, retry_after=_UNAVAILABLE_RETRY)
        except Exception as exc:  # the edge: a bug answers in the vendor's shape
            _failed_log(exc, request_id)
            reply = vendor.error_response(_INTERNAL)
        cors = self._cors.headers(origin) if cors_ok else {}
        headers = {**reply.headers, **cors}
        return Response(reply.body, reply.status, headers, reply.media_type)

    async def _posthog_config(self, request: Request) -> Response:
        # posthog-js reads its remote config here; answered locally so that
        # nothing about the page goes to PostHog, with compression on
        from ..protocols import posthog

        token = request.path_params.get("token", "")
        headers = self._cors.headers(request.headers.get("origin"))
        if request.url.path.endswith(".js"):
            script = posthog.config_script(token)
            if script is None:
                return Response(status_code=404, headers=headers)
            return Response(script, 200, headers, "application/javascript")
        body = posthog.config_body(token)
        if body is None:
            return Response(status_code=404, headers=headers)
        return JSONResponse(body, headers=headers)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.server.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _accept(
        self,
        endpoint: mixpanel.Endpoint,
        decoded: mixpanel.Decoded,
        client_ip: str | None,
        request_id: str,
        origin: str | None = None,
    ) -> tuple[mixpanel.Response, bool]:
        """Admit a decoded Mixpanel request; its answer, and False when a
        record's key does not allow ``origin`` (no CORS headers then)."""
        # /import may carry the ingest key as its Basic-auth user instead
        # of inside each record
        auth = (
            self.keyring.check(decoded.auth_user, origin, time.time())
            if decoded.auth_user
            else None
        )
        if endpoint == "import" and auth is not None and auth.project is None:
            _refuse(auth.refusal)
        if not decoded.options.ip:
            client_ip = None
        # read once: a policy reload swaps the engine, and one request runs
        # wholly under one policy
        engine = self.engine
        accepted, failures, failed_ids, cors_ok = await self._admit(
            engine,
            decoded.events,
            decoded.tokens,
            decoded.indexes,
            list(decoded.failures),
            list(decoded.failed_insert_ids),
            auth,
            client_ip,
            request_id,
            origin,
        )
        if endpoint == "import":
            # /import answers list the failed records' ids: an id built
            # from a card or phone number is not echoed
            failed_ids = [engine.safe_insert_id(i) for i in failed_ids]
        reply = mixpanel.respond(
            endpoint,
            decoded.options,
            accepted=accepted,
            failures=failures,
            insert_ids=failed_ids,
        )
        return reply, cors_ok

    async def _admit(
        self,
        engine: Engine,
        events: list[Event],
        tokens: list[str | None],
        indexes: list[int],
        failures: list[tuple[int, str]],
        failed_ids: list[str | None],
        auth: Verdict | None,
        client_ip: str | None,
        request_id: str,
        origin: str | None,
        *,
        person: bool = False,
        vendor: str = "mixpanel",
    ) -> tuple[int, list[tuple[int, str]], list[str | None], bool]:
        """Check each record's ingest key, sanitise the records and commit
        them to the outbox (or the aggregator).

        Returns the number accepted, the failures, ``failed_ids`` (parallel
        to ``failures``, for /import's answer) and whether every key allowed
        ``origin``. ``auth`` is the verdict on a key given for the whole
        request (Basic auth), used for records that name none. With
        ``person``, person operations riding on events (``PERSON`` in the
        envelope) are sanitised by the profile rules.
        """
        keyring = self.keyring
        now = time.time()
        decoded_failures = len(failures)
        entries: list[Entry] = []
        folds: list[Fold] = []
        found: list[Finding] = []
        accepted = 0
        # records folded under overrides (one record may make several folds)
        aggregated = 0
        unknown_keys = 0
        refusals: Counter[str] = Counter()
        recent = self.recent
        # insert ids claimed for this request, given back if it fails
        claimed: list[int] = []
        repeated = 0
        # per-destination overrides: each project's routes grouped by the
        # engine their events go through (None: no overrides, one payload
        # for every route, the hot path)
        plans: dict[str, list[_Plan]] | None = {} if engine.overrides else None

        # a batch names one key as a rule: each distinct key checked once
        seen: dict[str, Verdict] = {}
        verdicts: list[Verdict | None] = []
        for token in tokens:
            if not token:
                verdicts.append(auth)
                continue
            verdict = seen.get(token)
            if verdict is None:
                verdict = seen[token] = keyring.check(token, origin, now)
            verdicts.append(verdict)
        # key id -> records, for the per-key rate limit
        per_key: Counter[str] = Counter()
        for verdict in verdicts:
            if verdict is not None and verdict.key is not None and verdict.project:
                per_key[verdict.key.id] += 1
        for key_id, count in per_key.items():
            # before the engine runs and anything is stored: a refused
            # batch is sent again
            self.limits.key(key_id, count)

        # this runs for every record: counts kept in locals, each project's
        # routes made once per request
        kept = dropped = 0
        routes_of: dict[str, tuple[str, ...]] = {}
        apply = engine.apply
        for index, event, verdict in zip(indexes, events, verdicts, strict=True):
            project = verdict.project if verdict is not None else None
            if verdict is None or project is None:
                refusal = verdict.refusal if verdict is not None else None
                refusals[refusal or "unknown"] += 1
                failures.append((index, _REFUSALS.get(refusal or "unknown", "")))
                failed_ids.append(event.insert_id)
                unknown_keys += 1
                continue
            try:
                if event.ip is None and client_ip is not None:
                    event.ip = client_ip
                # an analytics event without a time is dated on receipt,
                # after the policy (an id derived from the record stays
                # that of the record as sent), so a stay in the outbox does
                # not move it to its delivery time
                undated = event.time is None and event.kind is Kind.TRACK
                result = _apply_person(engine, event) if person else apply(event)
                found.extend(result.findings)
                clean = result.event
                if clean is None:
                    dropped += 1
                else:
                    kept += 1
                    if undated and clean.time is None:
                        clean.time = now
                payload = None
                if plans is not None:
                    plan = plans.get(project.name)
                    if plan is None:
                        plan = plans[project.name] = _plan(engine, project)
                    own_entries, own_folds = _fan_out(
                        engine, plan, event, result, person, now if undated else None
                    )
                elif clean is not None and result.aggregate is None:
                    payload = orjson.dumps(to_record(clean))
            except Exception as exc:  # one record fails, never the request
                # the type only: a foreign exception's message may quote input
                log.warning(
                    "record could not be sanitised; refused",
                    extra={"request_id": request_id, "error": type(exc).__name__},
                )
                failures.append((index, "record: could not be sanitised"))
                failed_ids.append(None)
                continue
            accepted += 1
            if plans is None:
                first = None if clean is None else clean.insert_id
            else:
                first = _first_insert_id(own_entries, own_folds)
            if first is not None:
                key = recent.claim(project.name, first)
                if key is None:
                    # sent again by the client (a beacon's events after a
                    # reload, a retry after a lost answer): accepted once
                    repeated += 1
                    continue
                claimed.append(key)
            if plans is not None:
                entries.extend(own_entries)
                if own_folds:
                    folds.extend(own_folds)
                    aggregated += 1
                continue
            if clean is None:
                continue
            routes = routes_of.get(project.name)
            if routes is None:
                routes = routes_of[project.name] = _routes(project)
            if result.aggregate is not None:
                folds.append(Fold(project.name, routes, clean, result.aggregate))
                continue
            assert clean.insert_id is not None and payload is not None
            for route in routes:
                entries.append(Entry(route, clean.insert_id, payload))

        self.counters.accepted += kept
        self.counters.dropped += dropped
        self.counters.received += len(events) + decoded_failures
        self.counters.received_by_vendor[vendor] += len(events) + decoded_failures
        decisions = count_findings(found)
        if self.audit_findings is not None and decisions:
            self.audit_findings.update(decisions)
        if self.ops is not None:
            self.ops.metrics.observe(events, decisions)
        every_key_unknown = unknown_keys == len(events)
        if events and every_key_unknown and not decoded_failures:
            # every record named a key that may not send: answer as the
            # vendor does for a bad token
            _refuse(refusals.most_common(1)[0][0])
        if repeated:
            self.counters.accepted -= repeated
            self.counters.repeated += repeated
        try:
            if entries:
                await self.outbox.append(entries)
            if folds:
                # after the outbox: a client retrying a failed request sends
                # its events again, and the outbox's are deduplicated there
                records = len(folds) if plans is None else aggregated
                await self._aggregate(folds, records, request_id)
        except BaseException:
            # nothing of this request counts as seen: its retry is new
            recent.release(claimed)
            raise
        by_kind: Counter[tuple[str, str | None]] = Counter()
        for finding, count in decisions.items():
            by_kind[(finding.action, finding.detector)] += count
        self.counters.findings.update(by_kind)
        if by_kind and log.isEnabledFor(logging.DEBUG):
            # counts by action and detector; never names or values
            summary = {f"{a}:{d}" if d else a: n for (a, d), n in by_kind.items()}
            log.debug(
                "sanitised", extra={"request_id": request_id, "decisions": summary}
            )
        return accepted, failures, failed_ids, not refusals["origin"]

    async def _aggregate(
        self, folds: list[Fold], records: int, request_id: str
    ) -> None:
        aggregator = self.aggregator
        if aggregator is None:
            log.warning(
                "aggregated events dropped: this gateway has no aggregator",
                extra={"request_id": request_id, "events": records},
            )
            self.counters.accepted -= records
            self.counters.dropped += records
            return
        await aggregator.add(folds)
        self.counters.aggregated += records

    def _preflight(self, request: Request, origin: str | None) -> Response:
        headers = self._cors.preflight(
            origin, request.headers.get("access-control-request-headers")
        )
        return Response(status_code=204 if headers else 403, headers=headers)

    # -- the other routes an SDK calls ----------------------------------

    async def _flags(self, request: Request) -> Response:
        # feature flags are not proxied: answering "no flags" keeps the
        # SDKs working without sending identifiers to the vendor
        if request.method == "OPTIONS":
            return self._preflight(request, request.headers.get("origin"))
        headers = self._cors.headers(request.headers.get("origin"))
        return JSONResponse({"flags": {}, "featureFlags": {}}, headers=headers)

    async def _settings(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight(request, request.headers.get("origin"))
        headers = self._cors.headers(request.headers.get("origin"))
        return JSONResponse({}, headers=headers)

    async def _record(self, request: Request) -> Response:
        # session replay carries whole pages; it is accepted and discarded
        if request.method == "OPTIONS":
            return self._preflight(request, request.headers.get("origin"))
        async for _ in request.stream():
            pass
        headers = self._cors.headers(request.headers.get("origin"))
        return Response("1", 200, headers, "text/plain")

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


_REFUSALS = {
    "unknown": "unknown or missing token",
    "revoked": "ingest key revoked",
    "expired": "ingest key expired",
    "origin": "ingest key not allowed from this origin",
}


def _refuse(refusal: str | None) -> NoReturn:
    reason = _REFUSALS.get(refusal or "unknown", _REFUSALS["unknown"])
    if refusal == "origin":
        raise RequestError(reason, status=403)
    raise Unauthorized(reason)


def _routes(project: Project) -> tuple[str, ...]:
    return tuple(
        f"{project.name}/{upstream.destination}" for upstream in project.upstreams
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """The routes of one project whose events one engine sanitises."""

    engine: Engine
    routes: tuple[str, ...]
    # the aggregator's window key: the project for the base engine's
    # routes, the first route for an override's, so that the summaries of
    # differently sanitised events never share a window
    window_key: str


def _plan(engine: Engine, project: Project) -> list[_Plan]:
    grouped: dict[int, tuple[Engine, list[str]]] = {}
    for upstream in project.upstreams:
        sub = engine.for_destination(upstream.destination)
        route = f"{project.name}/{upstream.destination}"
        grouped.setdefault(id(sub), (sub, []))[1].append(route)
    return [
        _Plan(sub, tuple(routes), project.name if sub is engine else routes[0])
        for sub, routes in grouped.values()
    ]


def _first_insert_id(own_entries: list[Entry], own_folds: list[Fold]) -> str | None:
    """The idempotency id a record under per-destination overrides is
    remembered by (each destination's engine keeps the client's insert id,
    or derives the same one from the record), None when nothing of it is
    kept."""
    if own_entries:
        return own_entries[0].insert_id
    if own_folds:
        return own_folds[0].event.insert_id
    return None


def _fan_out(
    engine: Engine,
    plan: list[_Plan],
    event: Event,
    result: Result,
    person: bool,
    received: float | None = None,
) -> tuple[list[Entry], list[Fold]]:
    """The outbox entries and folds of one record under per-destination
    overrides: each distinct engine applies the event once (the base
    engine's result is reused), and each route gets its own engine's
    payload. Only the base application counts in findings and metrics."""
    entries: list[Entry] = []
    folds: list[Fold] = []
    for part in plan:
        # apply never changes the event, so it can be applied again
        if part.engine is engine:
            own = result
        elif person:
            own = _apply_person(part.engine, event)
        else:
            own = part.engine.apply(event)
        clean = own.event
        if clean is None:
            continue
        if received is not None and clean.time is None:
            clean.time = received
        if own.aggregate is not None:
            folds.append(Fold(part.window_key, part.routes, clean, own.aggregate))
            continue
        assert clean.insert_id is not None
        payload = orjson.dumps(to_record(clean))
        entries.extend(Entry(route, clean.insert_id, payload) for route in part.routes)
    return entries, folds


def _apply_person(engine: Engine, event: Event) -> Result:
    """Apply the policy to an event that may carry person operations
    (PostHog ``$set``, Amplitude ``user_properties``): the event by its own
    rules, the operations by the profile rules, as if they had come to
    Mixpanel's ``/engage``. A dropped event takes its operations with it."""
    ops = event.envelope.get(PERSON)
    if ops is None:
        return engine.apply(event)
    envelope = {k: v for k, v in event.envelope.items() if k != PERSON}
    result = engine.apply(dataclasses.replace(event, envelope=envelope))
    clean = result.event
    if clean is None or not isinstance(ops, dict):
        return result
    profile = Event(Kind.PROFILE, "$profile", dict(ops), event.distinct_id)
    applied = engine.apply(profile)
    result.findings.extend(applied.findings)
    if applied.event is not None:
        kept = {op: v for op, v in applied.event.properties.items() if v or v == 0}
        if kept:
            clean.envelope = {**clean.envelope, PERSON: kept}
    return result


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


# the outbox cannot store (its writer is gone, the disk refuses): the
# client keeps its events and sends them again
_UNAVAILABLE = RequestError("storage unavailable, retry later", status=503)
_UNAVAILABLE_RETRY = 5
_INTERNAL = RequestError("internal error, retry later", status=500)


def _unavailable_log(exc: OutboxUnavailable, request_id: str) -> None:
    # the outbox's messages name SQLite error classes, never values
    log.error(
        "outbox unavailable, asking clients to retry",
        extra={"request_id": request_id, "error": str(exc)},
    )


def _failed_log(exc: Exception, request_id: str) -> None:
    # the type only: a foreign exception's message may quote input
    log.error(
        "request failed",
        extra={"request_id": request_id, "error": type(exc).__name__},
    )
