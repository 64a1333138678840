"""Forwarding sanitised events to Mixpanel's ingestion API.

A batch from the outbox may mix analytics events, profile updates and group
updates; :class:`MixpanelDestination` sends one request per endpoint
(``/track``, ``/engage``, ``/groups``, ``/import``) and reads each answer the
way Mixpanel documents it (protocols.md §1.5):

* 200 with ``{"status": 1}`` (or ``{"code": 200}`` from ``/import``):
  delivered;
* 429, 408, 5xx, network errors and timeouts: retry, after ``Retry-After``
  when the answer carries one;
* 413: the batch is too large, split it;
* 400 from ``/import`` listing ``failed_records``: those records are
  rejected, the others were imported;
* any other 4xx, or 200 with ``{"status": 0}``: rejected for good.

Failure reasons describe shape only (``"HTTP 400 from /track"``); they never
quote a response body, an event value or a credential.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import httpx
import orjson

from ..config import Upstream
from ..errors import DeliveryError
from ..events import Event, Kind
from ..protocols._vendor import PERSON
from ..protocols.mixpanel import (
    Endpoint,
    UpstreamRequest,
    encode_upstream,
    endpoint_for,
)
from ._partial import PartialDelivery
from ._person import riding

__all__ = [
    "REGION_BASE_URLS",
    "MixpanelDestination",
    "parse_retry_after",
    "with_person_updates",
]

log = logging.getLogger("redline.forwarder")

REGION_BASE_URLS = {
    "us": "https://api.mixpanel.com",
    "eu": "https://api-eu.mixpanel.com",
    "in": "https://api-in.mixpanel.com",
}

# A Retry-After beyond this is treated as this; a broken proxy must not park a
# route for days.
MAX_RETRY_AFTER = 3600.0

_RETRYABLE_4XX = frozenset({408, 429})
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_$.\-\[\] ]{1,64}$")
# words in Mixpanel's failed_records messages -> the shape-only reason we keep
_MESSAGE_SHAPES = (
    (("future", "past", "range", "too old", "older than", "before"), "out of range"),
    (("required", "missing", "empty"), "missing"),
    (("too long", "too large", "too many", "exceed", "at most", "maximum"), "too long"),
    (("reserved", "invalid", "must be", "malformed", "format", "type"), "invalid"),
)


class MixpanelDestination:
    """Sends one project's events to one Mixpanel project.

    The upstream token replaces the client's ingest key in every record.
    ``/import`` uses HTTP Basic auth from ``upstream.import_secret``: a
    ``"user:secret"`` service account (with ``project_id`` in the query), or
    a bare project secret as the username. Without an import secret the
    token itself is the username, which Mixpanel also accepts.

    ``client`` lets the caller share or instrument an ``httpx.AsyncClient``;
    a client passed in is not closed by :meth:`aclose`.
    """

    def __init__(
        self, upstream: Upstream, client: httpx.AsyncClient | None = None
    ) -> None:
        if upstream.token is None:
            raise ValueError(
                f"destination {upstream.destination!r} needs a Mixpanel token"
            )
        spec = upstream.spec
        self.name = upstream.destination
        self.max_batch = spec.max_batch
        self.base_url = (spec.base_url or REGION_BASE_URLS[spec.region]).rstrip("/")
        self._token = upstream.token
        self._import_auth, self._import_query = _import_credentials(upstream)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(spec.timeout_seconds)
        )

    def __repr__(self) -> str:
        return f"MixpanelDestination({self.name!r}, base_url={self.base_url!r})"

    async def send(self, events: Sequence[Event]) -> None:
        # person operations that rode on another vendor's events become
        # profile updates of their own; ``owners`` maps each item sent back
        # to the batch index it came from
        items, owners = with_person_updates(events)
        if owners is None:
            await self._send(events)
            return
        try:
            await self._send(items)
        except PartialDelivery as exc:
            delivered, rejected = _by_owner(owners, exc.delivered, exc.rejected)
            raise PartialDelivery(
                str(exc),
                delivered=delivered,
                rejected=rejected,
                permanent=exc.permanent,
                retry_after=exc.retry_after,
                too_large=exc.too_large,
            ) from None
        except DeliveryError as exc:
            if not exc.rejected:
                raise
            # an event is delivered when every request made of it was
            delivered, rejected = _by_owner(
                owners, set(range(len(items))) - set(exc.rejected), exc.rejected
            )
            raise DeliveryError(
                f"{len(rejected)} of {len(events)} events rejected by Mixpanel",
                permanent=True,
                rejected=rejected,
            ) from None

    async def _send(self, events: Sequence[Event]) -> None:
        groups: dict[Endpoint, list[int]] = {}
        for index, event in enumerate(events):
            groups.setdefault(endpoint_for(event), []).append(index)

        delivered: set[int] = set()
        rejected: dict[int, str] = {}
        for endpoint, indexes in groups.items():
            request, indexes = self._encode(endpoint, events, indexes, rejected)
            if request is None:
                continue
            try:
                await self._post(endpoint, request, len(indexes))
            except DeliveryError as exc:
                if exc.rejected:
                    for position, index in enumerate(indexes):
                        if position in exc.rejected:
                            rejected[index] = exc.rejected[position]
                        else:
                            delivered.add(index)
                elif exc.permanent:
                    rejected.update(dict.fromkeys(indexes, str(exc)))
                elif not delivered and not rejected:
                    raise
                else:
                    # the requests before this one went through; say so, so
                    # they are not sent twice
                    raise PartialDelivery(
                        str(exc),
                        delivered=delivered,
                        rejected=rejected,
                        retry_after=exc.retry_after,
                        too_large=exc.too_large,
                    ) from None
            else:
                delivered.update(indexes)

        if rejected:
            reasons = set(rejected.values())
            if not delivered and len(reasons) == 1:
                # one refusal for the whole batch: say it plainly
                raise DeliveryError(reasons.pop(), permanent=True)
            raise DeliveryError(
                f"{len(rejected)} of {len(events)} events rejected by Mixpanel",
                permanent=True,
                rejected=rejected,
            )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _encode(
        self,
        endpoint: Endpoint,
        events: Sequence[Event],
        indexes: list[int],
        rejected: dict[int, str],
    ) -> tuple[UpstreamRequest | None, list[int]]:
        token = self._token.reveal()
        try:
            request = encode_upstream(endpoint, [events[i] for i in indexes], token)
        except Exception:
            pass
        else:
            return request, indexes
        # find the records that cannot be encoded and send the others
        kept = []
        for index in indexes:
            try:
                encode_upstream(endpoint, [events[index]], token)
            except Exception as exc:
                rejected[index] = (
                    f"cannot encode for /{endpoint} ({type(exc).__name__})"
                )
            else:
                kept.append(index)
        if not kept:
            return None, kept
        try:
            request = encode_upstream(endpoint, [events[i] for i in kept], token)
        except Exception as exc:
            rejected.update(
                dict.fromkeys(
                    kept, f"cannot encode for /{endpoint} ({type(exc).__name__})"
                )
            )
            return None, []
        return request, kept

    async def _post(
        self, endpoint: Endpoint, request: UpstreamRequest, count: int
    ) -> None:
        path = request.path
        query = dict(request.query)
        # only /import is authenticated; the base Auth sends nothing
        auth: httpx.Auth = httpx.Auth()
        if endpoint == "import":
            auth = self._import_auth
            query.update(self._import_query)
        try:
            response = await self._client.post(
                self.base_url + path,
                params=query,
                headers=request.headers,
                content=request.body,
                auth=auth,
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timeout on {path} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"network error on {path} ({type(exc).__name__})"
            ) from None
        _interpret(endpoint, path, response, count)


def _import_credentials(upstream: Upstream) -> tuple[httpx.BasicAuth, dict[str, str]]:
    assert upstream.token is not None
    secret = upstream.import_secret.reveal() if upstream.import_secret else ""
    if ":" in secret:
        user, password = secret.split(":", 1)
        query = {"project_id": upstream.project_id} if upstream.project_id else {}
        if not upstream.project_id:
            log.warning(
                "destination %s: service-account import credentials without "
                "project_id; Mixpanel will refuse /import",
                upstream.destination,
            )
        return httpx.BasicAuth(user, password), query
    if secret:
        return httpx.BasicAuth(secret, ""), {}
    return httpx.BasicAuth(upstream.token.reveal(), ""), {}


def _interpret(
    endpoint: Endpoint, path: str, response: httpx.Response, count: int
) -> None:
    status = response.status_code
    if 200 <= status < 300:
        _check_accepted(endpoint, path, response)
        return
    if status == 413:
        raise DeliveryError(f"HTTP 413 from {path}", too_large=True)
    if status in _RETRYABLE_4XX or status >= 500:
        raise DeliveryError(
            f"HTTP {status} from {path}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if endpoint == "import" and status == 400:
        rejected = _failed_records(_json(response), count)
        if rejected:
            raise DeliveryError(
                f"HTTP 400 from {path}: {len(rejected)} of {count} records rejected",
                permanent=True,
                rejected=rejected,
            )
    if status in (401, 403):
        raise DeliveryError(
            f"HTTP {status} from {path} (check the token and import credentials)",
            permanent=True,
        )
    if 400 <= status < 500:
        raise DeliveryError(f"HTTP {status} from {path}", permanent=True)
    raise DeliveryError(f"unexpected HTTP {status} from {path}")


def _check_accepted(endpoint: Endpoint, path: str, response: httpx.Response) -> None:
    body = _json(response)
    if isinstance(body, dict):
        status = body.get("status")
        if status == 1 or (endpoint == "import" and body.get("code") == 200):
            return
        if status == 0:
            raise DeliveryError(
                f"Mixpanel refused the batch at {path} (status 0)", permanent=True
            )
    elif body == 1 and not isinstance(body, bool):
        return
    elif body == 0 and not isinstance(body, bool):
        raise DeliveryError(
            f"Mixpanel refused the batch at {path} (status 0)", permanent=True
        )
    raise DeliveryError(f"unreadable answer from {path} (HTTP {response.status_code})")


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _failed_records(body: Any, count: int) -> dict[int, str]:
    if not isinstance(body, dict) or not isinstance(body.get("failed_records"), list):
        return {}
    rejected: dict[int, str] = {}
    for item in body["failed_records"]:
        if not isinstance(item, dict):
            continue
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            continue
        if 0 <= index < count:
            rejected[index] = _record_reason(item.get("field"), item.get("message"))
    return rejected


def _record_reason(field: object, message: object) -> str:
    what = "rejected"
    if isinstance(message, str):
        lowered = message.lower()
        for words, shape in _MESSAGE_SHAPES:
            if any(word in lowered for word in words):
                what = shape
                break
    if not isinstance(field, str) or not field:
        return f"record: {what}"
    field = field.removeprefix("properties.")
    if not _FIELD_NAME.match(field):
        # a property name that is not a plain identifier might be data
        field = "(unnamed)"
    return f"field {field}: {what}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or a date.

    Returns None when the header is missing or unreadable; clamps the result
    to ``[0, MAX_RETRY_AFTER]``.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


# the profile operations /engage takes, each in a record of its own
_ENGAGE_OPS = ("$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset")


def with_person_updates(
    events: Sequence[Event],
) -> tuple[Sequence[Event], list[int] | None]:
    """``events`` plus one profile update per person operation that rode on
    an analytics event (PostHog's and Amplitude's ``$set`` and the like),
    since Mixpanel takes those only at ``/engage``, one operation per record.

    Returns the items to send and, for each, the index of the event it came
    from; ``None`` instead of the indexes when no event carried any.
    Operations Mixpanel has no counterpart for (Amplitude's ``$prepend``,
    ``$preInsert``, ``$postInsert``, ``$clearAll``) are left out.
    """
    if not any(
        event.kind is Kind.TRACK and event.envelope.get(PERSON) for event in events
    ):
        return events, None
    items: list[Event] = []
    owners: list[int] = []
    for index, event, person in riding(events):
        items.append(event)
        owners.append(index)
        if person is None:
            continue
        for op in _ENGAGE_OPS:
            value = person.get(op)
            if not value:
                continue
            items.append(
                Event(
                    Kind.PROFILE,
                    "",
                    {op: value},
                    distinct_id=event.distinct_id,
                    time=event.time,
                    ip=event.ip,
                )
            )
            owners.append(index)
    return items, owners


def _by_owner(
    owners: list[int], delivered: Iterable[int], rejected: dict[int, str] | None
) -> tuple[set[int], dict[int, str]]:
    """Item fates as event fates: an event is rejected when any of its items
    was, delivered when all of them were, and failed otherwise."""
    by_owner: dict[int, str] = {}
    for item, reason in (rejected or {}).items():
        by_owner.setdefault(owners[item], reason)
    done = set(delivered)
    pending = {owner for item, owner in enumerate(owners) if item not in done}
    kept = {owner for owner in owners if owner not in pending and owner not in by_owner}
    return kept, by_owner
