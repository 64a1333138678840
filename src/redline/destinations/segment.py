"""Forwarding sanitised events to Segment's HTTP tracking API.

Events go to ``/v1/batch`` as analytics-python sends them (protocols.md
§3.2): JSON with HTTP Basic auth (the write key as user) and the write key
in the body, and a ``sentAt`` taken at sending, so that Segment's clock-skew
correction sees no outbox delay. A batch over Segment's 500 KB request limit
is split before sending.

Answers (§3.4): 2xx delivered; 408, 429 and 5xx retried (after
``Retry-After``); 413 split; 401/403 and other 4xx rejected for good.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from ..errors import DeliveryError
from ..events import Event
from ..protocols import segment
from . import _vendor_http

__all__ = ["MAX_REQUEST_BYTES", "REGION_BASE_URLS", "SegmentDestination"]

REGION_BASE_URLS = {
    "us": "https://api.segment.io",
    "eu": "https://events.eu1.segmentapis.com",
}
# Segment's documented ceilings: 500 KB per request, 32 KB per message
MAX_REQUEST_BYTES = 500_000
MAX_MESSAGE_BYTES = 32_000


class SegmentDestination(_vendor_http.VendorDestination):
    """Sends one project's events to one Segment source."""

    vendor = "Segment"
    key_name = "Segment write key"
    region_urls = REGION_BASE_URLS

    async def send(self, events: Sequence[Event]) -> None:
        key = self._key.reveal()
        rejected: dict[int, str] = {}
        kept: list[int] = []
        for index, event in enumerate(events):
            try:
                size = len(segment.encode_upstream([event], key, sent_at=0).body)
            except (ValueError, TypeError) as exc:
                rejected[index] = (
                    f"cannot encode for Segment ({exc.__class__.__name__})"
                )
                continue
            if size > MAX_MESSAGE_BYTES:
                rejected[index] = "message over Segment's 32 KB limit"
                continue
            kept.append(index)
        if kept:
            request = segment.encode_upstream(
                [events[i] for i in kept], key, sent_at=time.time()
            )
            if len(request.body) > MAX_REQUEST_BYTES and len(kept) > 1:
                raise DeliveryError("batch over Segment's 500 KB limit", too_large=True)
            response = await _vendor_http.post(
                self._client, self.base_url, request, auth=httpx.BasicAuth(key, "")
            )
            try:
                _vendor_http.check_status(response, request.path, "Segment write")
            except DeliveryError as exc:
                if not exc.permanent or not rejected:
                    raise
                rejected.update(dict.fromkeys(kept, str(exc)))
        if rejected:
            if len(rejected) == len(events) and len(set(rejected.values())) == 1:
                raise DeliveryError(next(iter(rejected.values())), permanent=True)
            raise DeliveryError(
                f"{len(rejected)} of {len(events)} events rejected for Segment",
                permanent=True,
                rejected=rejected,
            )
