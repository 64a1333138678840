"""Person operations riding on analytics events, for the destinations that
send them apart from the event (Mixpanel's ``/engage``, Segment's
``identify``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..events import Event, Kind
from ..protocols._vendor import PERSON


def riding(
    events: Sequence[Event],
) -> Iterator[tuple[int, Event, dict[str, Any] | None]]:
    """Each event with its index and the person operations it carries
    (``{"$set": {...}, ...}``), or None when it carries none or names no
    person to apply them to."""
    for index, event in enumerate(events):
        person = event.envelope.get(PERSON)
        if (
            event.kind is not Kind.TRACK
            or not isinstance(person, dict)
            or event.distinct_id is None
        ):
            person = None
        yield index, event, person
