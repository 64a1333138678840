"""Sending one encoded request to a vendor and reading the answer's status,
shared by the PostHog, Segment and Amplitude destinations.

Failure reasons describe shape only (``"HTTP 400 from /batch/"``); they never
quote a response body, an event value or a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import orjson

from ..config import Upstream
from ..errors import DeliveryError
from ..protocols._vendor import UpstreamRequest
from .mixpanel import parse_retry_after

_RETRYABLE_4XX = frozenset({408, 429})


class VendorDestination:
    """What the PostHog, Segment and Amplitude destinations share: the
    upstream key, the base URL (``base_url``, else the region's), the batch
    size and an HTTP client (one passed in is not closed by :meth:`aclose`).
    """

    vendor: ClassVar[str] = "vendor"
    key_name: ClassVar[str] = "key"
    region_urls: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self, upstream: Upstream, client: httpx.AsyncClient | None = None
    ) -> None:
        if upstream.token is None:
            raise ValueError(
                f"destination {upstream.destination!r} needs its {self.key_name}"
            )
        spec = upstream.spec
        self.name = upstream.destination
        self.max_batch = spec.max_batch
        self.base_url = (spec.base_url or self.region_urls[spec.region]).rstrip("/")
        self._key = upstream.token
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(spec.timeout_seconds)
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


async def post(
    client: httpx.AsyncClient,
    base_url: str,
    request: UpstreamRequest,
    *,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """POST ``request``; network failures and timeouts are retryable."""
    path = request.path
    try:
        return await client.post(
            base_url + path,
            params=request.query,
            headers=request.headers,
            content=request.body,
            auth=auth if auth is not None else httpx.Auth(),
        )
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timeout on {path} ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"network error on {path} ({type(exc).__name__})") from None


def check_status(response: httpx.Response, path: str, vendor: str) -> None:
    """Raise the :class:`DeliveryError` a non-2xx status means: 413 too
    large (split), 408/429/5xx retry (after ``Retry-After``), 401/403 and
    other 4xx rejected for good."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 413:
        raise DeliveryError(f"HTTP 413 from {path}", too_large=True)
    if status in _RETRYABLE_4XX or status >= 500:
        raise DeliveryError(
            f"HTTP {status} from {path}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if status in (401, 403):
        raise DeliveryError(
            f"HTTP {status} from {path} (check the {vendor} key)", permanent=True
        )
    if 400 <= status < 500:
        raise DeliveryError(f"HTTP {status} from {path}", permanent=True)
    raise DeliveryError(f"unexpected HTTP {status} from {path}")


def json_body(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
