"""A stand-in for Segment's HTTP tracking API that checks every request.

It takes ``POST /v1/batch`` as analytics-python sends it (protocols.md
§3.2-3.5): JSON, optionally gzipped, HTTP Basic auth with the write key as
user and an empty password, ``{"batch": [...], "sentAt", "writeKey"}``.
Each message needs a known ``type``, ``userId`` or ``anonymousId``, a
``messageId`` under 100 characters, an ISO 8601 ``timestamp``, and what its
type requires (``event`` for track, ``groupId`` for group, ``previousId``
and ``userId`` for alias, objects for ``properties``/``traits``/``context``);
at most 32 KB per message, 500 KB and 2500 messages per request. ``sentAt``
must be fresh (within 30 s). A wrong key answers 401, anything malformed
400 ``{"code", "message"}`` (noted in ``violations``), good requests 200
``{"success": true}``. The stand-in deduplicates nothing.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

from ._vendor import Refused, VendorStandin, Verdict, is_iso

TYPES = ("track", "identify", "page", "screen", "group", "alias")


class SegmentStandin(VendorStandin):
    name = "segment"

    def __init__(self, *, write_key: str | None = "standin-write-key") -> None:
        super().__init__()
        self.write_key = write_key

    def refusal(self, status: int, message: str) -> Any:
        return {"code": "invalid_request", "message": message}

    def check(
        self, method: str, path: str, headers: Mapping[str, str], content: bytes
    ) -> Verdict:
        if method != "POST" or path != "/v1/batch":
            raise Refused(404, f"unexpected {method} {path}")
        if not headers.get("content-type", "").startswith("application/json"):
            raise Refused(400, "Content-Type is not application/json")
        if len(content) > 500_000:
            raise Refused(400, "request over 500 KB")
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("basic "):
            raise Refused(401, "no Basic auth")
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if self.write_key is not None and (user != self.write_key or password):
            raise Refused(401, "wrong write key")
        body = json.loads(content)
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise Refused(400, "body is not {batch}")
        if body.get("writeKey") not in (None, user):
            raise Refused(401, "writeKey in the body differs from the auth")
        if not is_iso(body.get("sentAt"), near=time.time()):
            raise Refused(400, "sentAt missing, not ISO or not fresh")
        if not 0 < len(body["batch"]) <= 2500:
            raise Refused(400, "batch empty or over 2500 messages")
        for message in body["batch"]:
            problem = _message_problem(message)
            if problem:
                raise Refused(400, problem)
        return Verdict(200, {"success": True}, accepted=body["batch"])


def _message_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "message is not an object"
    if len(json.dumps(message)) > 32_000:
        return "message over 32 KB"
    kind = message.get("type")
    if kind not in TYPES:
        return "type missing or unknown"
    if message.get("userId") is None and message.get("anonymousId") is None:
        return "no_user_anon_id"
    for field in ("userId", "anonymousId"):
        if message.get(field) is not None and not isinstance(message[field], str):
            return f"{field} not a string"
    message_id = message.get("messageId")
    if not isinstance(message_id, str) or not 0 < len(message_id) < 100:
        return "messageId missing or too long"
    if not is_iso(message.get("timestamp")):
        return "timestamp missing or not ISO 8601"
    for field in ("properties", "traits", "context", "integrations"):
        if field in message and not isinstance(message[field], dict):
            return f"{field} not an object"
    if kind == "track" and not isinstance(message.get("event"), str):
        return "track without event"
    if kind == "group" and message.get("groupId") is None:
        return "group without groupId"
    if kind == "alias" and (
        message.get("previousId") is None or message.get("userId") is None
    ):
        return "alias without previousId and userId"
    return None
