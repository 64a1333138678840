"""The vendors beside Mixpanel the gateway speaks, and where their SDKs send.

Each vendor is one protocol adapter with the same shape: ``decode`` a
request into a :class:`~redline.protocols._vendor.Batch`, ``respond`` to a
request that was read, ``error_response`` to one refused as a whole. The
gateway's ingest path is the same for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import RequestError
from ..protocols import _body, amplitude, posthog, posthog_v1, segment
from ..protocols._vendor import Batch, Response

__all__ = [
    "AMPLITUDE",
    "POSTHOG",
    "POSTHOG_V1",
    "SEGMENT",
    "VENDOR_ROUTES",
    "Vendor",
    "is_amplitude_batch",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    decode: Callable[..., Batch]
    respond: Callable[..., Response]
    error_response: Callable[..., Response]
    # True when the request-level key is a credential (Basic auth) whose
    # being unknown refuses the request as a whole
    key_is_auth: bool = False


POSTHOG = Vendor("posthog", posthog.decode, posthog.respond, posthog.error_response)
# capture v1: the Bearer key is the request's credential
POSTHOG_V1 = Vendor(
    "posthog",
    posthog_v1.decode,
    posthog_v1.respond,
    posthog_v1.error_response,
    True,
)
SEGMENT = Vendor(
    "segment", segment.decode, segment.respond, segment.error_response, True
)
AMPLITUDE = Vendor(
    "amplitude", amplitude.decode, amplitude.respond, amplitude.error_response
)


def _routes() -> list[tuple[str, Vendor, str]]:
    routes: list[tuple[str, Vendor, str]] = []
    for path, endpoint in posthog.CAPTURE_PATHS.items():
        if path == "/batch":
            continue  # shared with Amplitude: the gateway sniffs the body
        routes.append((path, POSTHOG, endpoint))
        routes.append((path + "/", POSTHOG, endpoint))
    routes.append((posthog_v1.PATH, POSTHOG_V1, "analytics_v1"))
    routes.append((posthog_v1.PATH + "/", POSTHOG_V1, "analytics_v1"))
    for path, endpoint in segment.PATHS.items():
        routes.append((path, SEGMENT, endpoint))
        routes.append((path + "/", SEGMENT, endpoint))
    for path in ("/2/httpapi", "/2/httpapi/"):
        routes.append((path, AMPLITUDE, "httpapi"))
    return routes


VENDOR_ROUTES = _routes()


def is_amplitude_batch(body: bytes, headers: Mapping[str, str], *, limit: int) -> bool:
    """True when a ``/batch`` body is Amplitude's (``{"api_key", "events"}``)
    rather than PostHog's (``{"api_key", "batch"}`` or a list). At most
    ``limit`` bytes are inflated; anything unreadable is PostHog's, whose
    adapter then words the error."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        content = _body.decompress(body, lowered, limit=limit)
        value: Any = (
            _body.loads_json(content) if _body.looks_like_json(content) else None
        )
    except RequestError:
        return False
    return isinstance(value, dict) and "events" in value and "batch" not in value
