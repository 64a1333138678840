"""Detection over a whole JSON record of any shape (``redact-all``).

Every string at any depth is scanned, object keys included (analytics
keys can hold emails), and so are integers long enough to be card numbers;
each detected span is replaced by its placeholder and nothing else changes.
Nesting deeper than :data:`MAX_DEPTH` is replaced by one ``[UNSCANNABLE]``
marker rather than passed on unread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._span import EntityType

MAX_DEPTH = 64
# integers from this size on are scanned as digits (cards have 13 to 19)
_SCAN_INT = 10**12

# text -> (redacted text, the types found), as Engine.scrub_text answers
Scrub = Callable[[str], tuple[str, tuple[str, ...]]]


def redact_record(record: Any, scrub: Scrub, counts: dict[str, int]) -> Any:
    """``record`` with every detected span redacted; ``counts`` gains one
    per finding, by type."""
    return _walk(record, scrub, counts, 0)


def _walk(value: Any, scrub: Scrub, counts: dict[str, int], depth: int) -> Any:
    if isinstance(value, str):
        return _text(value, scrub, counts)
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        kind = EntityType.UNSCANNABLE.value
        counts[kind] = counts.get(kind, 0) + 1
        return f"[{kind}]"
    if isinstance(value, dict):
        return {
            _text(key, scrub, counts): _walk(item, scrub, counts, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item, scrub, counts, depth + 1) for item in value]
    if type(value) is int and not -_SCAN_INT < value < _SCAN_INT:
        digits = str(abs(value))
        clean = _text(digits, scrub, counts)
        return value if clean == digits else clean
    return value


def _text(text: str, scrub: Scrub, counts: dict[str, int]) -> str:
    if not text:
        return text
    clean, kinds = scrub(text)
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return clean
