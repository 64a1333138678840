"""The destination seam: where sanitised events finally go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..events import Event


class Destination(Protocol):
    """Sends batches of sanitised events of one project to one place.

    ``send`` either returns (every event delivered) or raises
    ``DeliveryError``; a partial rejection lists the rejected batch indexes
    in ``DeliveryError.rejected`` and counts the rest as delivered.
    Destinations must be idempotent by ``Event.insert_id``.

    A destination may also have a ``linger`` attribute (seconds): after a
    batch smaller than ``max_batch`` the forwarder then waits that long
    before it leases the next, so that batches fill up. One that has a
    ``send_records`` method is given the records in their outbox form
    (``to_record`` as JSON bytes) instead of events, and reads them itself;
    those it cannot read it rejects (``DeliveryError.rejected``).
    """

    max_batch: int

    async def send(self, events: Sequence[Event]) -> None: ...

    async def aclose(self) -> None: ...
