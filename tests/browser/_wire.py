"""What the browser sent, read from the gateway's recorded requests
independently of the gateway's own decoders (so that a decoder bug cannot
hide itself)."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from typing import Any
from urllib.parse import parse_qsl

from ._site import Seen

# posthog-js's capture routes: /e/ before its remote config loads, the
# config's analytics endpoint after
POSTHOG_CAPTURE = ("/e", "/i/v0/e")


def mixpanel_sent(seen: list[Seen], endpoint: str) -> list[dict[str, Any]]:
    """The records mixpanel-browser sent to ``endpoint`` (``track``,
    ``engage``): ``data=`` in a form body (XHR) or a text/plain body
    (sendBeacon), JSON or base64 JSON, one record or an array."""
    records: list[dict[str, Any]] = []
    for request in seen:
        if request.method != "POST" or request.path.strip("/") != endpoint:
            continue
        data = dict(parse_qsl(request.body.decode("ascii")))["data"]
        if not data.lstrip().startswith(("{", "[")):
            try:
                data = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise AssertionError(
                    f"{request.path}: data is neither JSON nor base64"
                ) from None
        value = json.loads(data)
        records.extend(value if isinstance(value, list) else [value])
    return records


def is_posthog_capture(request: Seen) -> bool:
    return request.method == "POST" and request.path.rstrip("/") in POSTHOG_CAPTURE


def posthog_sent(seen: list[Seen]) -> list[dict[str, Any]]:
    """The events posthog-js sent: gzip by its magic bytes (it labels it
    text/plain), form ``data=`` with base64, or plain JSON; an envelope
    with ``batch``, an array, or one event."""
    events: list[dict[str, Any]] = []
    for request in seen:
        if not is_posthog_capture(request):
            continue
        content = request.body
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        elif content.startswith(b"data="):
            data = dict(parse_qsl(content.decode("ascii")))["data"]
            content = base64.b64decode(data)
        value = json.loads(content)
        if isinstance(value, dict) and "batch" in value:
            value = value["batch"]
        events.extend(value if isinstance(value, list) else [value])
    return events
