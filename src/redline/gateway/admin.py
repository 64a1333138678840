"""The admin API under ``/admin``, described by ``/admin/openapi.json``.

A FastAPI application mounted in the gateway, so that the OpenAPI document
comes from the same models that validate requests. Callers send
``Authorization: Bearer <token>``; tokens live in ``keys.db`` as SHA-256
digests, each with a role and perhaps an expiry (an expired token is
refused as a revoked one is):

``viewer``
    reads projects, keys, policy status, the outbox, dead letters and
    finding counts;
``operator``
    also replays dead letters and reloads the policy;
``admin``
    also creates, rotates and revokes ingest keys and admin tokens.

The OpenAPI document declares this as the HTTP bearer security scheme
``bearer``, named by every operation (the document itself needs no token).

Every call, allowed or refused, is written to the audit log with the
token's id (never the token), the route template (never the raw path,
which a caller controls), the method and the status. Answers carry names,
ids and counts; never event values, upstream credentials or digests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..access import ROLES, AdminToken, KeyStore, NotFound, Role, digest
from ..errors import RedlineError
from ._admin_models import (
    AUTH_ERRORS,
    MAX_LABEL,
    DeadLetterOut,
    DestinationOut,
    ErrorOut,
    FindingCount,
    FindingsOut,
    KeyCreate,
    KeyCreated,
    KeyOut,
    KeyRotate,
    OutboxOut,
    PolicyOut,
    ProjectOut,
    PropertyFindingCount,
    ReloadOut,
    ReloadRefusedOut,
    ReplayIn,
    ReplayOut,
    RouteOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
)
from ._reload import ReloadRefused
from .metrics import policy_mode

if TYPE_CHECKING:
    from .app import Gateway

__all__ = ["AdminAuth", "admin_app"]

log = logging.getLogger("redline.admin")

_RANK = {role: i for i, role in enumerate(ROLES)}
_STATE = "redline_admin"


# -- who is calling --------------------------------------------------------


class AdminAuth:
    """Admin tokens by digest, reread whenever the key store changes."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._generation = -1
        self._tokens: dict[str, AdminToken] = {}

    def identify(self, header: str | None) -> tuple[str, AdminToken | None]:
        """("missing" | "malformed" | "unknown" | "revoked" | "expired" | "ok",
        token)."""
        if not header:
            return "missing", None
        scheme, _, given = header.partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given:
            return "malformed", None
        generation = self._store.generation()
        if generation != self._generation:
            self._tokens = {t.digest: t for t in self._store.tokens()}
            self._generation = generation
        # a dictionary lookup by digest: no comparison of secrets at all
        token = self._tokens.get(digest(given))
        if token is None:
            return "unknown", None
        state = token.state(time.time())
        if state != "active":
            return state, token
        return "ok", token


class _Caller:
    def __init__(self, outcome: str, token: AdminToken | None) -> None:
        self.outcome = outcome
        self.token = token


def _caller(request: Request) -> _Caller:
    caller = request.scope.get(_STATE)
    assert isinstance(caller, _Caller)
    return caller


# declares the scheme in the OpenAPI document and names it on each operation
# that depends on a role; it refuses nothing (auto_error=False): the caller
# was already identified from the same header, and is judged below
_BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An admin token (`redline admin token create`), sent as "
    "`Authorization: Bearer <token>`. Its role decides which operations it may "
    "call; a missing, unknown, revoked or expired token gets 401, a role too "
    "low 403.",
    auto_error=False,
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _role(needed: Role) -> Callable[[Request, Bearer], AdminToken]:
    def check(request: Request, _: Bearer) -> AdminToken:
        caller = _caller(request)
        if caller.outcome != "ok" or caller.token is None:
            raise HTTPException(
                401,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if _RANK[caller.token.role] < _RANK[needed]:
            raise HTTPException(403, f"this call needs the {needed} role")
        return caller.token

    return check


Viewer = Annotated[AdminToken, Depends(_role("viewer"))]
Operator = Annotated[AdminToken, Depends(_role("operator"))]
Admin = Annotated[AdminToken, Depends(_role("admin"))]


# -- the application -------------------------------------------------------


def admin_app(gateway: Gateway, store: KeyStore) -> ASGIApp:
    """The admin API for ``gateway``, to be mounted at ``/admin``."""
    api = FastAPI(
        title="Redline admin API",
        version=__version__,
        description="Projects, ingest keys, policy, outbox and findings of one "
        "Redline gateway. Send `Authorization: Bearer <token>`; make tokens with "
        "`redline admin token create --role viewer|operator|admin`.",
        # the interactive pages load scripts from a CDN; the document is enough
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=AUTH_ERRORS,
    )
    ring = gateway.keyring

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # where and what, never the input: a caller's mistaken paste of a
        # token or an event value is not echoed into answers and proxies
        detail = [
            {
                "loc": list(e.get("loc", ())),
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, 422)

    def now() -> float:
        return time.time()

    def key_out(key_id: str) -> KeyOut:
        ring.refresh()
        for info in ring.infos():
            if info.id == key_id:
                return KeyOut.model_validate(info.as_dict(now()))
        raise HTTPException(404, "no ingest key with that id")

    @api.get("/projects", response_model=list[ProjectOut], tags=["projects"])
    async def projects(_: Viewer) -> list[ProjectOut]:
        ring.refresh()
        t = now()
        active: dict[str, int] = {}
        for info in ring.infos():
            if info.state(t) == "active":
                active[info.project] = active.get(info.project, 0) + 1
        return [
            ProjectOut(
                name=p.name,
                destinations=[
                    DestinationOut(name=u.destination, type=u.spec.type)
                    for u in p.upstreams
                ],
                active_keys=active.get(p.name, 0),
            )
            for p in gateway.config.projects.values()
        ]

    @api.get("/keys", response_model=list[KeyOut], tags=["keys"])
    async def keys(
        _: Viewer,
        project: Annotated[str | None, Query(max_length=MAX_LABEL)] = None,
    ) -> list[KeyOut]:
        ring.refresh()
        t = now()
        return [
            KeyOut.model_validate(info.as_dict(t))
            for info in ring.infos()
            if project is None or info.project == project
        ]

    @api.post("/keys", response_model=KeyCreated, status_code=201, tags=["keys"])
    async def create_key(body: KeyCreate, token: Admin) -> KeyCreated:
        if body.project not in gateway.config.projects:
            raise HTTPException(404, "no project with that name in the config")
        expires = body.expires_at.timestamp() if body.expires_at else None
        key, secret = await asyncio.to_thread(
            store.create_key,
            body.project,
            label=body.label,
            origins=body.origins,
            expires_at=expires,
            actor=f"token:{token.id}",
        )
        return KeyCreated(key=key_out(key.id), secret=secret.reveal())

    @api.post("/keys/{key_id}/rotate", response_model=KeyCreated, tags=["keys"])
    async def rotate_key(
        key_id: Annotated[str, Path(max_length=64)],
        body: KeyRotate,
        token: Admin,
    ) -> KeyCreated:
        _stored_only(key_id)
        try:
            key, secret = await asyncio.to_thread(
                store.rotate_key,
                key_id,
                grace_seconds=body.grace_seconds,
                actor=f"token:{token.id}",
            )
        except NotFound:
            raise HTTPException(404, "no ingest key with that id") from None
        except RedlineError as exc:
            raise HTTPException(409, str(exc)) from None
        return KeyCreated(key=key_out(key.id), secret=secret.reveal())

    @api.post("/keys/{key_id}/revoke", response_model=KeyOut, tags=["keys"])
    async def revoke_key(
        key_id: Annotated[str, Path(max_length=64)], token: Admin
    ) -> KeyOut:
        _stored_only(key_id)
        try:
            await asyncio.to_thread(store.revoke_key, key_id, actor=f"token:{token.id}")
        except NotFound:
            raise HTTPException(404, "no ingest key with that id") from None
        return key_out(key_id)

    @api.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
    async def tokens(_: Admin) -> list[TokenOut]:
        found = await asyncio.to_thread(store.tokens)
        return [_token_out(t) for t in found]

    @api.post("/tokens", response_model=TokenCreated, status_code=201, tags=["tokens"])
    async def create_token(body: TokenCreate, token: Admin) -> TokenCreated:
        expires = body.expires_at.timestamp() if body.expires_at else None
        if token.expires_at is not None and (
            expires is None or expires > token.expires_at
        ):
            # an expiring token would otherwise outlive itself by proxy
            raise HTTPException(
                403,
                "a token cannot make one that outlives it: give an expires_at "
                "no later than this token's own",
            )
        made, secret = await asyncio.to_thread(
            store.create_token,
            body.role,
            label=body.label,
            expires_at=expires,
            actor=f"token:{token.id}",
        )
        return TokenCreated(token=_token_out(made), secret=secret.reveal())

    @api.post("/tokens/{token_id}/revoke", response_model=TokenOut, tags=["tokens"])
    async def revoke_token(
        token_id: Annotated[str, Path(max_length=64)], token: Admin
    ) -> TokenOut:
        try:
            revoked = await asyncio.to_thread(
                store.revoke_token, token_id, actor=f"token:{token.id}"
            )
        except NotFound:
            raise HTTPException(404, "no admin token with that id") from None
        return _token_out(revoked)

    @api.get("/policy", response_model=PolicyOut, tags=["policy"])
    async def policy(_: Viewer) -> PolicyOut:
        compiled = gateway.engine.policy
        reloader = gateway.reloader
        return PolicyOut(
            digest=compiled.digest,
            mode=policy_mode(compiled),
            path=str(gateway.config.policy_path),
            reloads=reloader.reloads if reloader else 0,
            refused_reloads=reloader.refusals if reloader else 0,
        )

    @api.post(
        "/policy/reload",
        response_model=ReloadOut,
        tags=["policy"],
        responses={
            409: {
                "model": ReloadRefusedOut,
                "description": "the policy file was refused (the policy in "
                "force is kept), or this gateway does not reload its policy",
            }
        },
    )
    async def reload_policy(_: Operator) -> ReloadOut | JSONResponse:
        reloader = gateway.reloader
        if reloader is None:
            return _refused_reload("this gateway does not reload its policy", [], None)
        try:
            swapped = await reloader.attempt("admin API")
        except ReloadRefused as exc:
            return _refused_reload(
                "policy reload refused: the policy in force is kept",
                exc.lines,
                exc.kept,
            )
        # False: the file holds the policy already in force
        return ReloadOut(reloaded=swapped, digest=gateway.engine.policy.digest)

    @api.get("/outbox", response_model=OutboxOut, tags=["outbox"])
    async def outbox(_: Viewer) -> OutboxOut:
        stats = await gateway.outbox.stats()
        return OutboxOut(
            depth=sum(r.depth for r in stats),
            capacity=getattr(gateway.outbox, "max_events", None),
            routes=[
                RouteOut(
                    route=r.route,
                    depth=r.depth,
                    oldest_age_seconds=r.oldest_age_seconds,
                    dead_letters=r.dead,
                )
                for r in stats
            ],
        )

    @api.get("/dead-letters", response_model=list[DeadLetterOut], tags=["outbox"])
    async def dead_letters(
        _: Viewer,
        route: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeadLetterOut]:
        letters = await gateway.outbox.dead_letters(route, limit)
        # the payload and insert id stay in the outbox: shape only here
        return [
            DeadLetterOut(
                id=d.id,
                route=d.route,
                reason=d.reason,
                attempts=d.attempts,
                failed_at=d.failed_at,
            )
            for d in letters
        ]

    @api.post(
        "/dead-letters/replay",
        response_model=ReplayOut,
        tags=["outbox"],
        responses={404: {"model": ErrorOut, "description": "no such route"}},
    )
    async def replay(body: ReplayIn, _: Operator) -> ReplayOut:
        if body.route is not None:
            # a route of the config, or one the outbox still holds records of
            # (a project or destination since removed)
            known = {
                f"{p.name}/{u.destination}"
                for p in gateway.config.projects.values()
                for u in p.upstreams
            }
            if body.route not in known:
                stats = await gateway.outbox.stats()
                if body.route not in {r.route for r in stats}:
                    # not echoed: a name that is no route may be anything
                    raise HTTPException(
                        404,
                        "no route with that name: a route is project/destination "
                        "of the config, as GET /admin/outbox lists them",
                    )
        count = await gateway.outbox.replay(body.route)
        return ReplayOut(replayed=count)

    @api.get("/findings", response_model=FindingsOut, tags=["findings"])
    async def findings(_: Viewer) -> FindingsOut:
        counters = gateway.counters
        ops = gateway.ops
        by_property = []
        if ops is not None:
            # names as the metrics keep them: capped, detected data redacted
            for (
                event,
                prop,
                action,
                detector,
            ), count in ops.metrics.findings_by_property.most_common(100):
                by_property.append(
                    PropertyFindingCount(
                        event=event,
                        property=prop,
                        action=action,
                        detector=detector,
                        count=count,
                    )
                )
        return FindingsOut(
            since=ops.metrics.started_at if ops is not None else 0.0,
            events_received=counters.received,
            events_accepted=counters.accepted,
            events_dropped=counters.dropped,
            by_detector=[
                FindingCount(detector=d or "none", action=a, count=n)
                for (a, d), n in counters.findings.most_common()
            ],
            by_property=by_property,
        )

    return _Audited(api, gateway, AdminAuth(store))


def _refused_reload(detail: str, errors: list[str], kept: str | None) -> JSONResponse:
    body = ReloadRefusedOut(detail=detail, errors=errors, digest=kept)
    return JSONResponse(body.model_dump(), 409)


def _stored_only(key_id: str) -> None:
    if key_id.startswith("cfg_"):
        raise HTTPException(
            409,
            "this key is written in the config file; remove it there and "
            "reload (restart) the gateway",
        )


def _token_out(token: AdminToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        role=token.role,
        label=token.label,
        state=token.state(time.time()),
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


# -- the audit trail -------------------------------------------------------


class _Audited:
    """Identifies the caller before the API runs and writes one audit
    record per call once its status is known."""

    def __init__(self, app: ASGIApp, gateway: Gateway, auth: AdminAuth) -> None:
        self.app = app
        self.gateway = gateway
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        outcome, token = await asyncio.to_thread(self.auth.identify, header)
        scope[_STATE] = _Caller(outcome, token)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # the template of the operation, never the path as sent (the
            # mount that leads here leaves its own route in the scope)
            route = scope.get("route")
            if isinstance(route, APIRoute):
                template = route.path
            elif scope["path"].endswith("/openapi.json"):
                template = "/openapi.json"
            else:
                template = "/(unknown)"
            await self._audit(scope["method"], template, status, outcome, token)

    async def _audit(
        self,
        method: str,
        template: str,
        status: int,
        outcome: str,
        token: AdminToken | None,
    ) -> None:
        allowed = 200 <= status < 400
        fields: dict[str, Any] = {
            "method": method,
            "route": "/admin" + template,
            "status": status,
            "outcome": "allowed" if allowed else "refused",
            "auth": outcome,
            "token_id": token.id if token is not None else None,
            "role": token.role if token is not None else None,
        }
        if not allowed:
            log.warning("admin call refused", extra=fields)
        audit = self.gateway.audit
        if audit is None:
            return
        try:
            await asyncio.to_thread(audit.append, "admin.access", **fields)
        except Exception as exc:  # the answer is already sent
            log.error("admin call not audited (%s)", type(exc).__name__)
