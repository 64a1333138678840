"""Forwarding sanitised events to PostHog's capture API.

Events go to ``/batch/`` as posthog-python sends them (protocols.md §2.2),
with the project API key in the body and a ``sent_at`` taken at sending, so
that PostHog's clock-skew correction sees no outbox delay. PostHog Cloud
(``us``, ``eu``) or a self-hosted instance (``base_url``).

Answers (§2.5): 200 delivered; 413 split; 408, 429 and 5xx retried;
401/403 and other 4xx rejected for good. Historical imports
(``historical_migration``) go in batches of their own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..errors import DeliveryError
from ..events import Event
from ..protocols import posthog
from . import _vendor_http
from ._partial import PartialDelivery

__all__ = ["REGION_BASE_URLS", "PostHogDestination"]

REGION_BASE_URLS = {
    "us": "https://us.i.posthog.com",
    "eu": "https://eu.i.posthog.com",
}


class PostHogDestination(_vendor_http.VendorDestination):
    """Sends one project's events to one PostHog project."""

    vendor = "PostHog"
    key_name = "PostHog API key"
    region_urls = REGION_BASE_URLS

    async def send(self, events: Sequence[Event]) -> None:
        # historical imports and live events are separate requests
        groups: dict[bool, list[int]] = {}
        for index, event in enumerate(events):
            historical = event.envelope.get("$historical") is True
            groups.setdefault(historical, []).append(index)
        delivered: set[int] = set()
        rejected: dict[int, str] = {}
        for indexes in groups.values():
            batch = [events[i] for i in indexes]
            try:
                request = posthog.encode_upstream(
                    batch, self._key.reveal(), sent_at=time.time()
                )
            except (ValueError, TypeError) as exc:
                rejected.update(
                    dict.fromkeys(indexes, f"cannot encode ({type(exc).__name__})")
                )
                continue
            try:
                response = await _vendor_http.post(self._client, self.base_url, request)
                _vendor_http.check_status(response, request.path, "PostHog")
            except DeliveryError as exc:
                if exc.permanent:
                    rejected.update(dict.fromkeys(indexes, str(exc)))
                    continue
                if not delivered and not rejected:
                    raise
                raise PartialDelivery(
                    str(exc),
                    delivered=delivered,
                    rejected=rejected,
                    retry_after=exc.retry_after,
                    too_large=exc.too_large,
                ) from None
            delivered.update(indexes)
        if rejected:
            if not delivered and len(set(rejected.values())) == 1:
                raise DeliveryError(next(iter(rejected.values())), permanent=True)
            raise DeliveryError(
                f"{len(rejected)} of {len(events)} events rejected by PostHog",
                permanent=True,
                rejected=rejected,
            )
