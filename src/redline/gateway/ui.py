"""The dashboard at ``/ui`` and its JSON API at ``/ui/api/status``.

Every asset is served from this package (``static/``); nothing is loaded
from elsewhere. With ``server.ui_token`` set, the page and the API need it:
as ``Authorization: Bearer <token>`` (scripts, ``redline status``) or, in a
browser, through the sign-in form, which sets a cookie holding a keyed
digest of the token (never the token itself). Without a token both are
open; the gateway listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .ops import Operations

__all__ = ["ui_routes"]

log = logging.getLogger("redline.ui")

COOKIE = "redline_ui"
_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",
}
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_LOGIN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Redline: sign in</title>
<link rel="stylesheet" href="/ui/static/app.css"></head>
<body><main class="login"><h1>Redline</h1>
<form method="post" action="/ui/login">
<label>Dashboard token <input type="password" name="token" autofocus></label>
<button type="submit">Sign in</button></form>{note}</main></body></html>
"""


def _asset(name: str) -> bytes:
    return resources.files("redline.gateway").joinpath("static", name).read_bytes()


class _Auth:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None
        # what the cookie carries: a digest bound to this token
        self._cookie = (
            hmac.new(self._token, b"redline-ui-session", hashlib.sha256).hexdigest()
            if self._token
            else None
        )

    @property
    def open(self) -> bool:
        return self._token is None

    def allowed(self, request: Request) -> bool:
        if self._token is None or self._cookie is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self._cookie.encode())

    def check_form(self, token: str) -> bool:
        return self._token is not None and hmac.compare_digest(
            token.encode(), self._token
        )

    def cookie(self) -> str:
        assert self._cookie is not None
        return self._cookie


def ui_routes(ops: Operations) -> list[Route]:
    config = ops.gateway.config
    token = config.ui_token.reveal() if config.ui_token is not None else None
    auth = _Auth(token)
    host = config.server.host
    if token is None and not (host == "localhost" or host.startswith(("127.", "::1"))):
        log.warning(
            "the dashboard (/ui) is open to anyone who can reach %s; "
            "set server.ui_token",
            host,
        )
    secure = config.server.tls is not None
    index = _asset("index.html")
    assets = {name: _asset(name) for name in _STATIC}

    def denied_page(note: str = "") -> Response:
        return HTMLResponse(
            _LOGIN_FORM.format(note=note), 401, headers=_SECURITY_HEADERS
        )

    async def page(request: Request) -> Response:
        if not auth.allowed(request):
            return denied_page()
        return Response(index, headers=_SECURITY_HEADERS, media_type="text/html")

    async def login(request: Request) -> Response:
        if auth.open:
            return RedirectResponse("/ui", 303)
        body = await request.body()
        fields = parse_qs(body[:4096].decode("utf-8", "replace"))
        given = (fields.get("token") or [""])[0]
        if not auth.check_form(given):
            log.warning("dashboard sign-in refused")
            return denied_page('<p class="error">That token is not right.</p>')
        response = RedirectResponse("/ui", 303)
        response.set_cookie(
            COOKIE,
            auth.cookie(),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/ui",
        )
        return response

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("not found", 404, media_type="text/plain")
        # assets hold no data: served without the token, so the sign-in
        # page can be styled
        return Response(
            assets[name],
            media_type=_STATIC[name],
            headers={"x-content-type-options": "nosniff"},
        )

    async def status(request: Request) -> Response:
        if not auth.allowed(request):
            return JSONResponse(
                {"error": "a bearer token is required"},
                401,
                headers={"www-authenticate": "Bearer", "cache-control": "no-store"},
            )
        return JSONResponse(await ops.status(), headers={"cache-control": "no-store"})

    return [
        Route("/ui", page, methods=["GET"]),
        Route("/ui/", page, methods=["GET"]),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/static/{name}", static, methods=["GET"]),
        Route("/ui/api/status", status, methods=["GET"]),
    ]
