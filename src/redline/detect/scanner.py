"""Running many detectors over one string, fast, and failing closed.

Most strings in analytics events hold nothing: words, numbers written as
strings, UUIDs, ISO dates, clean URLs. The scanner makes those cheap. Every
detector here carries a ``trigger``: a compiled pattern that is found in
every string in which the detector could find something, and in few others.
The scanner searches each trigger in one *probe* per string, the
width-folded text in lower case with a space in front (so that a trigger can
start with a boundary class and still match at the start of the text), and
runs only the detectors whose trigger is found. Searching the triggers one
by one is faster than one joined pattern: each starts with a literal or a
small class, which lets the regex engine skip ahead. A detector without a
``trigger`` attribute runs on every string. A detector may also say how many
ASCII digits a string needs before it can find anything (``min_digits``: a
card has 13, a phone number 7); the scanner counts the digits of a string
once, in C, and skips those detectors on strings with fewer, which spares
the trigger searches on words, names and most labels.

Before any of that, a string that is one UUID or one ISO 8601 date or
date-time and nothing else (:data:`PLAIN`) is answered at once: no detector
finds anything in such a string (a test holds them to it), and events are
full of them (ids, insert ids, timestamps), most of them distinct, so the
memo of repeated values does not help with them.

Failing closed (STYLE.md, habit 4): a string longer than ``max_length``
characters, and a string on which a detector raises, comes back as one
:attr:`EntityType.UNSCANNABLE` span over the whole string, so a caller that
redacts what the scanner reports never passes on a value nobody looked at.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Iterable

from ..errors import ConfigError
from ._span import Detector, EntityType, Span
from ._text import nfkc_view
from ._views import MAX_DEPTH as MAX_VIEW_DEPTH
from ._views import encoded_values
from .apikey import ApiKeyDetector
from .card import CreditCardDetector
from .credential import CredentialDetector
from .email import EmailDetector
from .freetext import FreeTextDetector
from .iban import IbanDetector
from .ip import IpAddressDetector
from .jwt import JwtDetector
from .mynumber import JpMyNumberDetector
from .national import PREFIX as NATIONAL_ID_PREFIX
from .national import NationalIdDetector
from .phone import PhoneDetector
from .ssn import UsSsnDetector

logger = logging.getLogger("redline.engine")

_Search = Callable[[str], "re.Match[str] | None"]

MAX_LENGTH = 65_536  # characters scanned at most; longer strings fail closed

# one UUID (any version, either case), or one date (19xx or 20xx) with an
# optional time, fraction and zone, as ISO 8601 and SQL write them
PLAIN = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|(?:19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]"
    r"(?:[T ][0-2][0-9]:[0-5][0-9](?::[0-6][0-9](?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+\-][0-2][0-9]:?[0-5][0-9])?)?"
)

TOO_LONG = "too long to scan"
DETECTOR_ERROR = "detector error"

# every detector a policy can name, each built with no arguments; besides
# these, "national_id:<python-stdnum module>" (see build_detector)
DETECTORS: dict[str, type[Detector]] = {
    "email": EmailDetector,
    "phone": PhoneDetector,
    "credit_card": CreditCardDetector,
    "iban": IbanDetector,
    "us_ssn": UsSsnDetector,
    "jp_my_number": JpMyNumberDetector,
    "ip_address": IpAddressDetector,
    "jwt": JwtDetector,
    "api_key": ApiKeyDetector,
    "credential": CredentialDetector,
    "free_text": FreeTextDetector,
}
# what runs when a policy does not say: everything but free_text, which
# takes whole strings and is the policy's choice to make
DEFAULT_DETECTORS: tuple[str, ...] = tuple(
    name for name in DETECTORS if name != "free_text"
)


def build_detector(name: str) -> Detector:
    """The detector a policy names: a key of :data:`DETECTORS`, or
    ``national_id:<module>`` for a ``python-stdnum`` module (``fr.nir``).
    Raises ConfigError (or KeyError for a name that is neither)."""
    if name.startswith(NATIONAL_ID_PREFIX):
        return NationalIdDetector(name[len(NATIONAL_ID_PREFIX) :])
    return DETECTORS[name]()


def detector_name_error(name: str) -> str | None:
    """Why ``name`` is no detector a policy can ask for, or None if it is."""
    if name in DETECTORS:
        return None
    if name.startswith(NATIONAL_ID_PREFIX):
        try:
            NationalIdDetector(name[len(NATIONAL_ID_PREFIX) :])
        except ConfigError as exc:
            return f"{exc.reason}; {exc.fix}" if exc.fix else exc.reason
        return None
    return (
        f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}, "
        "or national_id:<python-stdnum module> such as national_id:fr.nir"
    )


class Scanner:
    """Runs detectors over strings; returns non-overlapping spans by start.

    Where spans of different detectors overlap, the one with the higher
    score is kept, then the longer one. Thread-safe: it holds no state
    between calls.
    """

    def __init__(
        self, detectors: Iterable[Detector], *, max_length: int = MAX_LENGTH
    ) -> None:
        if max_length < 1:
            raise ValueError("max_length must be positive")
        self.detectors = tuple(detectors)
        self.max_length = max_length
        # (detector, its trigger's bound search method or None), bound once
        # because this loop runs for every string of every event
        self._gated: tuple[tuple[Detector, _Search | None, int], ...] = tuple(
            (detector, _search_of(detector), getattr(detector, "min_digits", 0))
            for detector in self.detectors
        )
        self._count_digits = any(gate for _, _, gate in self._gated)

    def scan(self, text: str) -> list[Span]:
        """The entities found in ``text``, sorted by start, not overlapping."""
        if len(text) > self.max_length:
            return [_whole(text, TOO_LONG)]
        if _plain(text) is not None:
            return []
        spans = self._scan(text, 0)
        if spans is None:
            return [_whole(text, DETECTOR_ERROR)]
        return _resolve(spans)

    def _scan(self, text: str, depth: int) -> list[Span] | None:
        """Spans in ``text`` (possibly overlapping), or None when a detector
        failed and the whole string must be masked."""
        view, offsets = nfkc_view(text)
        probe = " " + view.lower()
        digits = _digits(view) if self._count_digits else 0

        spans: list[Span] = []
        for detector, search, min_digits in self._gated:
            if digits < min_digits:
                continue
            if search is not None and search(probe) is None:
                continue
            try:
                found = detector.find(view)
            except Exception as exc:  # any failure masks, never passes the value
                # the exception's message may quote the value: log its type only
                logger.warning(
                    "detector %s raised %s on a string of %d characters; masked",
                    type(detector).__name__,
                    type(exc).__name__,
                    len(text),
                )
                return None
            for span in found:
                if not 0 <= span.start < span.end <= len(view):
                    logger.warning(
                        "detector %s returned a span outside the string; masked",
                        type(detector).__name__,
                    )
                    return None
            if offsets is not None:
                found = [_back(span, offsets) for span in found]
            spans.extend(found)

        if depth < MAX_VIEW_DEPTH and "=" in text:
            for start, end, decoded in encoded_values(text):
                if any(s.start <= start and end <= s.end for s in spans):
                    continue  # the raw text showed a finding over all of it
                found_inner = self._scan(decoded, depth + 1)
                if found_inner is None:
                    return None
                inner = _resolve(found_inner)
                if inner and not _seen(inner, spans, start, end):
                    best = max(inner, key=lambda span: span.score)
                    reason = f"in a decoded parameter: {best.reason}"
                    spans.append(Span(best.type, start, end, best.score, reason))
        return spans


def default_scanner() -> Scanner:
    """A scanner with the :data:`DEFAULT_DETECTORS`, default settings."""
    return Scanner([DETECTORS[name]() for name in DEFAULT_DETECTORS])


def redact(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span replaced by its type in brackets (``[EMAIL]``).

    Spans may come in any order; where they overlap, the union is replaced
    under the label of the span that starts first, so nothing a span
    covers survives.
    """
    ordered = sorted(spans, key=lambda span: (span.start, -span.end))
    if not ordered:
        return text
    parts: list[str] = []
    position = 0
    for span in ordered:
        if not 0 <= span.start <= span.end <= len(text):
            raise ValueError("span lies outside the text")
        if span.end <= position:
            continue  # inside a span already replaced
        if span.start < position:
            position = span.end  # overlaps the previous one: widen it
            continue
        parts.append(text[position : span.start])
        parts.append(f"[{span.type.value}]")
        position = span.end
    parts.append(text[position:])
    return "".join(parts)


def _seen(inner: list[Span], spans: list[Span], start: int, end: int) -> bool:
    """Whether the raw text already showed every kind of thing the decoded
    value holds, as often (``%2F`` around a key the raw scan found): then
    the exact spans stand and the value is not masked whole."""
    raw = sorted(s.type for s in spans if start <= s.start and s.end <= end)
    return raw == sorted(s.type for s in inner)


def _back(span: Span, offsets: list[int]) -> Span:
    """A span of the normalised view as a span of the original string."""
    start, end = offsets[span.start], offsets[span.end - 1] + 1
    return Span(span.type, start, end, span.score, span.reason)


def _whole(text: str, reason: str) -> Span:
    return Span(EntityType.UNSCANNABLE, 0, len(text), 1.0, reason)


_plain = PLAIN.fullmatch
_DIGIT_BYTES = b"0123456789"


def _digits(text: str) -> int:
    """How many ASCII digits ``text`` holds (bytes.translate runs in C)."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw) - len(raw.translate(None, _DIGIT_BYTES))


def _search_of(detector: Detector) -> _Search | None:
    trigger = getattr(detector, "trigger", None)
    return trigger.search if isinstance(trigger, re.Pattern) else None


def _resolve(spans: list[Span]) -> list[Span]:
    """Keep the best of overlapping spans: higher score, then longer."""
    if len(spans) < 2:
        return spans
    ranked = sorted(spans, key=lambda s: (-s.score, s.start - s.end, s.start))
    starts: list[int] = []
    kept: list[Span] = []
    for span in ranked:
        index = bisect.bisect_left(starts, span.start)
        if index > 0 and kept[index - 1].end > span.start:
            continue
        if index < len(kept) and kept[index].start < span.end:
            continue
        starts.insert(index, span.start)
        kept.insert(index, span)
    return kept
