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

import httpx

from ..config import Upstream
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


class PostHogDestination:
    """Sends one project's events to one PostHog project."""

    def __init__(
        self, upstream: Upstream, client: httpx.AsyncClient | None = None
    ) -> None:
        if upstream.token is None:
            raise ValueError(
                f"destination {upstream.destination!r} needs a PostHog API key"
            )
        spec = upstream.spec
        self.name = upstream.destination
        self.max_batch = spec.max_batch
        self.base_url = (spec.base_url or REGION_BASE_URLS[spec.region]).rstrip("/")
        self._key = upstream.token
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(spec.timeout_seconds)
        )

    def __repr__(self) -> str:
        return f"PostHogDestination({self.name!r}, base_url={self.base_url!r})"

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

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
