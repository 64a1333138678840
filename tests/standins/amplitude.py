"""A stand-in for Amplitude's HTTP V2 API that checks every request.

It takes ``POST /2/httpapi`` as amplitude-analytics sends it (protocols.md
§4.2-4.5): JSON ``{"api_key", "events": [...], "options"?}`` under 1 MB and
2000 events. Each event needs ``event_type``; ``user_id`` or ``device_id``
of at least 5 characters (``options.min_id_length``); ``time`` as integer
milliseconds; ``insert_id`` a string; ``event_properties`` and
``user_properties`` objects; ``ip`` a string. A wrong key answers 400
``Invalid API key: ...``; bad events answer 400 listing them by index in
``events_with_invalid_fields`` / ``events_with_missing_fields`` (and nothing
of the batch is ingested); good uploads answer 200 ``{"code": 200,
"events_ingested", ...}``. The stand-in deduplicates nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ._vendor import Refused, VendorStandin, Verdict


class AmplitudeStandin(VendorStandin):
    name = "amplitude"

    def __init__(self, *, api_key: str | None = "standin-amplitude-key") -> None:
        super().__init__()
        self.api_key = api_key

    def refusal(self, status: int, message: str) -> Any:
        return {"code": status, "error": message}

    def check(
        self, method: str, path: str, headers: Mapping[str, str], content: bytes
    ) -> Verdict:
        if method != "POST" or path != "/2/httpapi":
            raise Refused(404, f"unexpected {method} {path}")
        if not headers.get("content-type", "").startswith("application/json"):
            raise Refused(400, "Content-Type is not application/json")
        if len(content) > 1_000_000:
            raise Refused(413, "payload over 1 MB")
        body = json.loads(content)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise Refused(400, "body is not {api_key, events}")
        if self.api_key is not None and body.get("api_key") != self.api_key:
            raise Refused(400, "Invalid API key: the key is not known")
        events = body["events"]
        if not 0 < len(events) <= 2000:
            raise Refused(413 if events else 400, "events empty or over 2000")
        options = body.get("options") or {}
        min_length = options.get("min_id_length", 5)
        invalid: dict[str, list[int]] = {}
        missing: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            problem = _event_problem(event, min_length)
            if problem is not None:
                target = missing if problem[1] == "missing" else invalid
                target.setdefault(problem[0], []).append(index)
        if invalid or missing:
            answer: dict[str, Any] = {"code": 400, "error": "invalid events"}
            if invalid:
                answer["events_with_invalid_fields"] = invalid
            if missing:
                answer["events_with_missing_fields"] = missing
            return Verdict(400, answer, violations=[json.dumps(answer)])
        return Verdict(
            200,
            {
                "code": 200,
                "events_ingested": len(events),
                "payload_size_bytes": len(content),
                "server_upload_time": int(time.time() * 1000),
            },
            accepted=events,
        )


def _event_problem(event: Any, min_length: int) -> tuple[str, str] | None:
    if not isinstance(event, dict):
        return ("event", "invalid")
    if not isinstance(event.get("event_type"), str) or not event["event_type"]:
        return ("event_type", "missing")
    ids = [event.get(f) for f in ("user_id", "device_id") if event.get(f) is not None]
    if not ids:
        return ("user_id", "missing")
    for value in ids:
        if not isinstance(value, str) or len(value) < min_length:
            return ("user_id", "invalid")
    if "time" in event and (
        not isinstance(event["time"], int) or isinstance(event["time"], bool)
    ):
        return ("time", "invalid")
    if "insert_id" in event and not isinstance(event["insert_id"], str):
        return ("insert_id", "invalid")
    for field in ("event_properties", "user_properties", "groups"):
        if field in event and not isinstance(event[field], dict):
            return (field, "invalid")
    if "ip" in event and not isinstance(event["ip"], str):
        return ("ip", "invalid")
    return None
