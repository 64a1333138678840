"""Forwarding sanitised events to Amplitude's HTTP V2 API.

Events go to ``/2/httpapi`` as amplitude-analytics sends them (protocols.md
§4.2), with the API key in the body. Answers (§4.4) are read from the
body's ``code`` as the SDK does: 2xx delivered; 400 listing events by index
(``events_with_invalid_fields``, ``events_with_missing_fields``,
``events_with_invalid_id_lengths``, ``silenced_events``) rejects those and
counts the others delivered; a 400 without such lists (a bad key, a
missing field) rejects the batch; 413 split; 408, 429 and 5xx retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ..errors import DeliveryError
from ..events import Event
from ..protocols import amplitude
from . import _vendor_http

__all__ = ["REGION_BASE_URLS", "AmplitudeDestination"]

REGION_BASE_URLS = {
    "us": "https://api2.amplitude.com",
    "eu": "https://api.eu.amplitude.com",
}
_INDEX_LISTS = (
    "events_with_invalid_fields",
    "events_with_missing_fields",
    "events_with_invalid_id_lengths",
)


class AmplitudeDestination(_vendor_http.VendorDestination):
    """Sends one project's events to one Amplitude project."""

    vendor = "Amplitude"
    key_name = "Amplitude API key"
    region_urls = REGION_BASE_URLS

    async def send(self, events: Sequence[Event]) -> None:
        try:
            request = amplitude.encode_upstream(events, self._key.reveal())
        except (ValueError, TypeError) as exc:
            raise DeliveryError(
                f"cannot encode for Amplitude ({type(exc).__name__})", permanent=True
            ) from None
        response = await _vendor_http.post(self._client, self.base_url, request)
        body = _vendor_http.json_body(response)
        status = response.status_code
        code = body.get("code") if isinstance(body, dict) else None
        if isinstance(code, int) and not isinstance(code, bool):
            status = code
        if status == 400 and isinstance(body, dict):
            rejected = _rejected(body, len(events))
            if rejected:
                raise DeliveryError(
                    f"HTTP 400 from {request.path}: {len(rejected)} of "
                    f"{len(events)} events rejected",
                    permanent=True,
                    rejected=rejected,
                )
        if 200 <= status < 300:
            return
        _vendor_http.check_status(
            httpx.Response(status, headers=response.headers), request.path, "Amplitude"
        )


def _rejected(body: dict[str, Any], count: int) -> dict[int, str]:
    rejected: dict[int, str] = {}
    for name in _INDEX_LISTS:
        lists = body.get(name)
        if not isinstance(lists, dict):
            continue
        for field, indexes in lists.items():
            reason = f"{name.removeprefix('events_with_')}: {_field(field)}"
            for index in indexes if isinstance(indexes, list) else []:
                if isinstance(index, int) and 0 <= index < count:
                    rejected.setdefault(index, reason)
    silenced = body.get("silenced_events")
    for index in silenced if isinstance(silenced, list) else []:
        if isinstance(index, int) and 0 <= index < count:
            rejected.setdefault(index, "silenced by Amplitude")
    return rejected


def _field(name: Any) -> str:
    # a field name from the vendor is shown only when it is a plain one
    if isinstance(name, str) and name.replace("_", "").isalnum() and len(name) < 40:
        return name
    return "(unnamed)"
