"""Forwarding sanitised events to Segment's HTTP tracking API.

Events go to ``/v1/batch`` as analytics-python sends them (protocols.md
§3.2): JSON with HTTP Basic auth (the write key as user) and the write key
in the body, and a ``sentAt`` taken at sending, so that Segment's clock-skew
correction sees no outbox delay. A batch over Segment's 500 KB request limit
is split before sending.

Answers (§3.4): 2xx delivered; 408, 429 and 5xx retried (after
``Retry-After``); 413 split; 401/403 and other 4xx rejected for good.

Person properties that rode on an analytics event (PostHog's ``$set``,
Amplitude's ``user_properties``) have no field on a Segment track call: the
``$set`` values go as the traits of an ``identify`` call for the same user,
in the same batch request as the event, with a message id derived from the
event's, so the two arrive or fail together and a retry is deduplicated.
Segment has no set-once or list operations; those are left out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from ..errors import DeliveryError
from ..events import Event, Kind
from ..protocols import segment
from . import _vendor_http
from ._person import riding

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
        items, owners = _with_identifies(events)
        # by the index of the event: an event fails with any of its messages
        rejected: dict[int, str] = {}
        for index, item in enumerate(items):
            try:
                size = len(segment.encode_upstream([item], key, sent_at=0).body)
            except (ValueError, TypeError) as exc:
                rejected.setdefault(
                    owners[index],
                    f"cannot encode for Segment ({exc.__class__.__name__})",
                )
                continue
            if size > MAX_MESSAGE_BYTES:
                rejected.setdefault(owners[index], "message over Segment's 32 KB limit")
        kept = [i for i in range(len(items)) if owners[i] not in rejected]
        if kept:
            request = segment.encode_upstream(
                [items[i] for i in kept], key, sent_at=time.time()
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
                rejected.update(dict.fromkeys({owners[i] for i in kept}, str(exc)))
        if rejected:
            if len(rejected) == len(events) and len(set(rejected.values())) == 1:
                raise DeliveryError(next(iter(rejected.values())), permanent=True)
            raise DeliveryError(
                f"{len(rejected)} of {len(events)} events rejected for Segment",
                permanent=True,
                rejected=rejected,
            )


def _with_identifies(events: Sequence[Event]) -> tuple[list[Event], list[int]]:
    """``events``, each followed by an identify call carrying the ``$set``
    person properties that rode on it, if any; and for each message the
    index of the event it belongs to."""
    items: list[Event] = []
    owners: list[int] = []
    for index, event, person in riding(events):
        items.append(event)
        owners.append(index)
        traits = None if person is None else person.get("$set")
        if not isinstance(traits, dict) or not traits:
            continue
        items.append(
            Event(
                Kind.PROFILE,
                "",
                {"$set": dict(traits)},
                distinct_id=event.distinct_id,
                insert_id=None
                if event.insert_id is None
                else f"{event.insert_id}-identify",
                time=event.time,
                ip=event.ip,
            )
        )
        owners.append(index)
    return items, owners
