"""Event times as unix seconds, whatever unit or notation the vendor used."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Unix seconds pass 1e11 only in the year 5138; anything above is taken as
# milliseconds (Mixpanel's newer imports and Amplitude's ``time`` use them).
MS_THRESHOLD = 100_000_000_000


def to_seconds(value: Any) -> float | None:
    """Unix seconds from seconds, milliseconds or an ISO 8601 string.

    Naive ISO times (Amplitude's ``2024-05-01 10:00:00.123456``) are UTC, as
    the vendors document them. Anything unreadable gives ``None`` rather than
    an error: a bad time must not cost the rest of the event.
    """
    kind = type(value)
    if kind is int or kind is float:
        seconds = float(value)
        return seconds / 1000.0 if abs(seconds) >= MS_THRESHOLD else seconds
    if kind is str and value:
        return _parse_text(value)
    return None


def _parse_text(text: str) -> float | None:
    if text[0].isdigit() and text.replace(".", "", 1).isdigit():
        return to_seconds(float(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
