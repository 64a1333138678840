"""The vendor-neutral event that adapters produce and the engine sanitises."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a record is, whichever vendor sent it."""

    TRACK = "track"  # an analytics event
    PROFILE = "profile"  # a user-profile update (Mixpanel /engage)
    GROUP = "group"  # a group-profile update (Mixpanel /groups)


@dataclasses.dataclass(slots=True)
class Event:
    """One record on its way through the gateway.

    ``properties`` holds the event's properties for ``TRACK`` records. For
    profile and group updates it holds the operation objects keyed by
    operation (``{"$set": {...}, "$unset": [...]}``); the engine applies the
    profile or group rules inside each operation.

    ``envelope`` keeps the vendor fields that are neither identity nor
    properties (for example Mixpanel's ``$group_key``), so the adapter can
    encode the record back exactly; the engine leaves it alone.
    """

    kind: Kind
    name: str
    properties: dict[str, Any]
    distinct_id: str | None = None
    insert_id: str | None = None
    time: float | int | None = None
    # the client address to geolocate by, after the policy's IP rule;
    # None means "do not geolocate"
    ip: str | None = None
    # True when the client sent it to an authenticated import endpoint
    imported: bool = False
    envelope: dict[str, Any] = dataclasses.field(default_factory=dict)


def to_record(event: Event) -> dict[str, Any]:
    """The outbox form of a sanitised event: plain JSON-able data."""
    return {
        "k": event.kind.value,
        "n": event.name,
        "p": event.properties,
        "d": event.distinct_id,
        "i": event.insert_id,
        "t": event.time,
        "ip": event.ip,
        "imp": event.imported,
        "e": event.envelope,
    }


def from_record(record: dict[str, Any]) -> Event:
    return Event(
        kind=Kind(record["k"]),
        name=record["n"],
        properties=record["p"],
        distinct_id=record["d"],
        insert_id=record["i"],
        time=record["t"],
        ip=record["ip"],
        imported=record["imp"],
        envelope=record["e"],
    )
