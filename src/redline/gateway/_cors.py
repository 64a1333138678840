"""CORS as the browser SDKs need it: the exact origin echoed, credentials
allowed (mixpanel-browser sends with ``withCredentials``), preflights
answered."""

from __future__ import annotations

from collections.abc import Callable, Sequence

_METHODS = "GET, POST, OPTIONS"
_MAX_AGE = "600"


class Cors:
    """``origins`` is ``server.cors_origins``; ``keys_allow``, when given,
    must also accept an origin (some ingest key allows it), since a
    preflight carries no key to check."""

    def __init__(
        self,
        origins: Sequence[str],
        keys_allow: Callable[[str], bool] | None = None,
    ) -> None:
        self._any = "*" in origins
        self._origins = frozenset(_normal(o) for o in origins if o != "*")
        self._keys_allow = keys_allow

    def allows(self, origin: str) -> bool:
        normal = _normal(origin)
        if self._keys_allow is not None and not self._keys_allow(origin):
            return False
        if normal in self._origins:
            return True
        # "null" is what sandboxed frames and local files send; "*" does
        # not extend credentials to them unless they are listed
        return self._any and normal != "null"

    def headers(self, origin: str | None) -> dict[str, str]:
        if not origin or not self.allows(origin):
            return {}
        return {
            "access-control-allow-origin": origin,
            "access-control-allow-credentials": "true",
            "vary": "Origin",
        }

    def preflight(
        self, origin: str | None, requested_headers: str | None
    ) -> dict[str, str]:
        headers = self.headers(origin)
        if not headers:
            return {}
        headers["access-control-allow-methods"] = _METHODS
        headers["access-control-max-age"] = _MAX_AGE
        if requested_headers:
            headers["access-control-allow-headers"] = requested_headers
        return headers


def _normal(origin: str) -> str:
    # scheme and host are case-insensitive (RFC 6454)
    return origin.strip().rstrip("/").lower()
