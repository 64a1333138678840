"""A stand-in for PostHog's capture API that checks every request.

It takes ``POST /batch/`` as posthog-python sends it (protocols.md §2.2):
JSON, optionally gzipped, ``{"api_key", "batch": [...], "sent_at",
"historical_migration"?}``; every event needs ``event``, a ``distinct_id``
(top level or in properties), ``properties`` as an object, an ISO 8601
``timestamp`` with a zone, a UUID ``uuid``, and ``$set``/``$set_once`` as
objects when present. ``sent_at`` must be fresh (within 30 s of arrival):
the gateway must not send a stale one from its outbox. A wrong key answers
401, anything malformed 400 (and is noted in ``violations``); good requests
answer 200 ``{"status": 1}``. The stand-in deduplicates nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ._vendor import Refused, VendorStandin, Verdict, is_iso, is_uuid


class PostHogStandin(VendorStandin):
    name = "posthog"

    def __init__(self, *, api_key: str | None = "phc_standin") -> None:
        super().__init__()
        self.api_key = api_key

    def refusal(self, status: int, message: str) -> Any:
        return {"type": "validation_error", "code": "invalid", "detail": message}

    def check(
        self, method: str, path: str, headers: Mapping[str, str], content: bytes
    ) -> Verdict:
        if method != "POST" or path not in ("/batch", "/batch/"):
            raise Refused(404, f"unexpected {method} {path}")
        if not headers.get("content-type", "").startswith("application/json"):
            raise Refused(400, "Content-Type is not application/json")
        body = json.loads(content)
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise Refused(400, "body is not {api_key, batch}")
        if self.api_key is not None and body.get("api_key") != self.api_key:
            raise Refused(401, "wrong api_key")
        if not is_iso(body.get("sent_at"), near=time.time()):
            raise Refused(400, "sent_at missing, not ISO or not fresh")
        if "historical_migration" in body and not isinstance(
            body["historical_migration"], bool
        ):
            raise Refused(400, "historical_migration not a boolean")
        if not body["batch"]:
            raise Refused(400, "empty batch")
        for event in body["batch"]:
            problem = _event_problem(event, body.get("api_key"))
            if problem:
                raise Refused(400, problem)
        return Verdict(200, {"status": 1}, accepted=body["batch"])


def _event_problem(event: Any, api_key: Any) -> str | None:
    if not isinstance(event, dict):
        return "event is not an object"
    if not isinstance(event.get("event"), str) or not event["event"]:
        return "event name missing"
    properties = event.get("properties")
    if not isinstance(properties, dict):
        return "properties not an object"
    distinct_id = event.get("distinct_id", properties.get("distinct_id"))
    if not isinstance(distinct_id, str | int) or distinct_id == "":
        return "distinct_id missing"
    if not is_iso(event.get("timestamp")):
        return "timestamp missing or not ISO 8601 with a zone"
    if not is_uuid(event.get("uuid")):
        return "uuid missing or not a UUID"
    for op in ("$set", "$set_once"):
        if op in event and not isinstance(event[op], dict):
            return f"{op} not an object"
    if "token" in properties and properties["token"] != api_key:
        return "a token in properties other than the body's api_key"
    return None
