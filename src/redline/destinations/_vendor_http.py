"""Sending one encoded request to a vendor and reading the answer's status,
shared by the PostHog, Segment and Amplitude destinations.

Failure reasons describe shape only (``"HTTP 400 from /batch/"``); they never
quote a response body, an event value or a credential.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from ..errors import DeliveryError
from ..protocols._vendor import UpstreamRequest
from .mixpanel import parse_retry_after

_RETRYABLE_4XX = frozenset({408, 429})


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
