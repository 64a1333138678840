"""What a value holds: the gateway's detectors plus two audit heuristics,
and a masked shape of it for reports.

Values in exports repeat a lot (plan names, countries, the same user's
email on every event), so verdicts are cached per distinct value in a
bounded dict. Idempotency ids in the shapes SDKs generate are skipped as the
engine skips them.

Kinds of data found (``Verdict.kinds``) are the detectors' entity types
(``EMAIL``, ``PHONE``, ``CREDIT_CARD``, ``IP_ADDRESS``, ``JWT``, ``API_KEY``,
``CREDENTIAL``, ``UNSCANNABLE``) and two audit-only heuristics:
``USER_AGENT`` (a browser's user-agent string: a quasi-identifier) and
``FREE_TEXT`` (a string of several words: it can hold anything).
"""

from __future__ import annotations

import bisect
import re
from typing import Any, NamedTuple

import numpy as np
import orjson

from ..detect import EntityType, Scanner, Span, default_scanner, redact

USER_AGENT = "USER_AGENT"
FREE_TEXT = "FREE_TEXT"

_CACHE_SIZE = 300_000
_SEEN_SIZE = 500_000
_ONCE_SIZE = 100_000
_ONCE_LENGTH = 256  # longer strings seen once leave only their hash
_PREFILTER_MIN = 16  # fewer strings than this are scanned one by one
_NAME_CACHE_SIZE = 50_000
_CONTAINER_CACHE_SIZE = 50_000
_MAX_DEPTH = 16
_SHAPE_LENGTH = 48
# ids as the SDKs make them (uuid4().hex, UUIDs, mixpanel-browser's base 36)
# hold nothing unless they carry a run of digits long enough for a phone
_SDK_ID = re.compile(
    r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-z]{16}"
)
_DIGIT_RUN = re.compile(r"\d{7}")
_SCAN_INT = 10**12  # integers from here on may be payment cards
_USER_AGENT = re.compile(
    r"^(?:Mozilla|Opera)/\d|\((?:Windows NT|Macintosh|X11|Linux|iPhone|iPad|Android)"
)
# free text: five or more words (tokens with a letter); version strings,
# generalised user agents ("Chrome 120 / Windows") and labels are not
_LETTER = re.compile(r"[^\W\d_]")
_FREE_TEXT_WORDS = 5


class Verdict(NamedTuple):
    """What one value holds. ``whole`` is true when the value is a single
    detected entity and nothing else (an email used as an id)."""

    kinds: tuple[str, ...]
    whole: bool


NOTHING = Verdict((), False)
_AGENT = Verdict((USER_AGENT,), False)
_TEXT = Verdict((FREE_TEXT,), False)


class Classifier:
    """Verdicts, redacted names and masked shapes, with caches."""

    def __init__(self, scanner: Scanner | None = None) -> None:
        self.scanner = scanner or default_scanner()
        self._values: dict[Any, Verdict] = {}
        self._once: dict[str, Verdict] = {}  # short strings seen once
        self._seen: set[int] = set()  # hashes of long strings seen once
        self._names: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._containers: dict[str, Verdict] = {}  # lists and objects, by JSON
        triggers = [
            (getattr(d, "trigger", None), getattr(d, "min_digits", 0))
            for d in self.scanner.detectors
        ]
        self._ungated = any(not isinstance(t, re.Pattern) for t, _ in triggers)
        # (digits a string needs, trigger) for the prefilter
        self._triggers = [
            (digits, t) for t, digits in triggers if isinstance(t, re.Pattern)
        ]

    def values(self, values: list[Any]) -> list[Verdict]:
        """The verdicts on many values at once (distinct values of one
        property). Uncached ASCII strings are prefiltered together: every
        detector's trigger is searched once over all their probes joined,
        and only the strings a trigger hits are scanned one by one. The
        joined search can only find more than the separate ones (a match
        never needs what lies beyond a probe), so nothing is missed.
        Strings with ``=`` skip the prefilter: the scanner also reads the
        decoded values of URL parameters in them (``?u=<base64url>``), which
        no trigger sees in the raw text."""
        verdicts: list[Verdict | None] = []
        batch: list[int] = []
        get = self._values.get
        limit = self.scanner.max_length
        for value in values:
            if type(value) is str:
                verdict = get(value)
                if verdict is None:
                    if value.isascii() and len(value) <= limit and "=" not in value:
                        batch.append(len(verdicts))
                    else:
                        verdict = self.value(value)
            else:
                verdict = self.value(value)
            verdicts.append(verdict)
        if len(batch) < _PREFILTER_MIN or self._ungated:
            for index in batch:
                verdicts[index] = self.value(values[index])
        elif batch:
            texts = [values[index] for index in batch]
            for index, hit in zip(batch, self._prefilter(texts), strict=True):
                text = values[index]
                if hit:
                    verdicts[index] = self.value(text)
                elif ("(" in text or "/" in text) and _USER_AGENT.search(text):
                    verdicts[index] = _AGENT
                elif _is_free_text(text):
                    verdicts[index] = _TEXT
                else:
                    verdicts[index] = NOTHING
        return verdicts  # type: ignore[return-value]

    def _prefilter(self, texts: list[str]) -> list[bool]:
        """Which of ``texts`` (ASCII, without ``=``) any detector's trigger
        finds in.

        As the scanner does, a trigger is searched only in strings with as
        many ASCII digits as its detector needs (``min_digits``): the
        strings are joined most digits first, so those that have enough
        for a trigger are a prefix of the joined text, and the search stops
        at its end (after the newline that closes the last probe)."""
        counts = _digit_counts(texts)
        order = sorted(range(len(texts)), key=counts.__getitem__, reverse=True)
        ranked = [texts[index] for index in order]
        least = [-counts[index] for index in order]  # ascending, for bisect
        starts: list[int] = []
        position = 0
        for text in ranked:
            starts.append(position)
            position += len(text) + 2  # the probe's space and the newline
        joined = " " + "\n ".join(ranked).lower()
        hit = [False] * len(texts)
        for digits, pattern in self._triggers:
            # the strings with at least ``digits`` digits come first
            enough = bisect.bisect_right(least, -digits)
            if enough == 0:
                continue
            stop = starts[enough] if enough < len(starts) else len(joined)
            for match in pattern.finditer(joined, 0, stop):
                index = bisect.bisect_right(starts, match.start()) - 1
                hit[order[index]] = True
                # the match may reach into the next probes: flag them too
                end = bisect.bisect_right(starts, match.end())
                for other in range(index + 1, min(end, len(hit))):
                    hit[order[other]] = True
        return hit

    def value(self, value: Any) -> Verdict:
        """The verdict on a property value of any JSON type.

        A string's verdict goes into the cache the second time the string
        is seen, so values seen once (insert ids, timestamps) do not push
        out the ones that repeat (distinct ids, plans, countries). Until
        then a short string's verdict waits in a smaller memo, so it is
        scanned once; a long one leaves only its hash, and is scanned
        again when it comes back."""
        if isinstance(value, str):
            cached = self._values.get(value)
            if cached is not None:
                return cached
            if len(value) <= _ONCE_LENGTH:
                cached = self._once.pop(value, None)
                if cached is not None:
                    return self._remember(value, cached)
                cached = self._text(value)
                if len(self._once) >= _ONCE_SIZE:
                    self._once.clear()
                self._once[value] = cached
                return cached
            cached = self._text(value)
            digest = hash(value)
            if digest in self._seen:
                self._remember(value, cached)
            else:
                if len(self._seen) >= _SEEN_SIZE:
                    self._seen.clear()
                self._seen.add(digest)
            return cached
        if value is None or isinstance(value, bool | float):
            return NOTHING
        if isinstance(value, int):
            if -_SCAN_INT < value < _SCAN_INT:
                return NOTHING
            return self.value(str(value))
        key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        cached = self._containers.get(key)
        if cached is None:
            kinds: set[str] = set()
            self._walk(value, kinds, 0)
            cached = Verdict(tuple(sorted(kinds)), False)
            if len(self._containers) >= _CONTAINER_CACHE_SIZE:
                self._containers.clear()
            self._containers[key] = cached
        return cached

    def name(self, name: str) -> tuple[str, tuple[str, ...]]:
        """An event or property name as reports may show it (detected spans
        replaced by ``[EMAIL]`` ...), and the kinds found in it."""
        cached = self._names.get(name)
        if cached is None:
            spans = self.scanner.scan(name)
            cached = (redact(name, spans), tuple(sorted({s.type.value for s in spans})))
            if len(self._names) >= _NAME_CACHE_SIZE:
                self._names.clear()
            self._names[name] = cached
        return cached

    def shape(self, value: Any) -> str:
        """A masked shape of ``value`` that never shows it: detected entities
        in their own masked form (``a***@e***.com``, ``+81 ** **** 5678``),
        other letters as ``a``/``A`` and digits as ``9``."""
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, float):
            return "number"
        if isinstance(value, int):
            return _digits(str(value))
        if isinstance(value, list):
            return f"list of {len(value)}"
        if isinstance(value, dict):
            return f"object of {len(value)} keys"
        if not isinstance(value, str):
            return type(value).__name__
        return _shape_text(value, self.scanner.scan(value))

    def _text(self, text: str) -> Verdict:
        if len(text) <= 36 and _SDK_ID.fullmatch(text) and not _DIGIT_RUN.search(text):
            return NOTHING
        spans = self.scanner.scan(text)
        if not spans:  # the common case, kept cheap
            if ("(" in text or "/" in text) and _USER_AGENT.search(text):
                return _AGENT
            return _TEXT if _is_free_text(text) else NOTHING
        kinds = {span.type.value for span in spans}
        whole = len(spans) == 1 and _covers(spans[0], text)
        if not whole and _is_free_text(text):
            kinds.add(FREE_TEXT)
        return Verdict(tuple(sorted(kinds)), whole)

    def _walk(self, value: Any, kinds: set[str], depth: int) -> None:
        if depth > _MAX_DEPTH:
            kinds.add(EntityType.UNSCANNABLE.value)
            return
        if isinstance(value, dict):
            for key, item in value.items():
                kinds.update(self.name(str(key))[1])
                self._walk(item, kinds, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self._walk(item, kinds, depth + 1)
        else:
            kinds.update(self.value(value).kinds)

    def _remember(self, key: Any, verdict: Verdict) -> Verdict:
        if len(self._values) >= _CACHE_SIZE:
            self._values.clear()
        self._values[key] = verdict
        return verdict


def _digit_counts(texts: list[str]) -> list[int]:
    """How many ASCII digits each of ``texts`` (ASCII) holds, counted over
    all of them at once with numpy."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    data = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    counts = np.zeros(len(texts), dtype=np.int64)
    filled = lengths > 0
    if data.size:
        digits = (data - 0x30) < 10  # below "0" wraps around to large values
        starts = (np.cumsum(lengths) - lengths)[filled]
        # each segment runs to the next non-empty text's start
        counts[filled] = np.add.reduceat(digits, starts, dtype=np.int64)
    result: list[int] = counts.tolist()
    return result


def _covers(span: Span, text: str) -> bool:
    stripped = text.strip()
    start = text.index(stripped) if stripped else 0
    return span.start <= start and span.end >= start + len(stripped)


def _is_free_text(text: str) -> bool:
    # most values hold no spaces at all: decide those without a regex
    if text.count(" ") < _FREE_TEXT_WORDS - 1 or text.startswith(
        ("http://", "https://")
    ):
        return False
    words = 0
    for token in text[:400].split():
        if _LETTER.search(token):
            words += 1
            if words >= _FREE_TEXT_WORDS:
                return True
    return False


def _shape_text(text: str, spans: list[Span]) -> str:
    if not text:
        return '""'
    parts: list[str] = []
    position = 0
    for span in spans:
        parts.append(_generic(text[position : span.start]))
        parts.append(_masked(span.type, text[span.start : span.end]))
        position = span.end
    parts.append(_generic(text[position:]))
    shape = "".join(parts)
    if len(shape) > _SHAPE_LENGTH:
        shape = shape[: _SHAPE_LENGTH - 1] + "…"
    if len(text) > _SHAPE_LENGTH:
        shape += f" ({len(text)} chars)"
    return shape


def _generic(text: str) -> str:
    out = []
    for char in text[: _SHAPE_LENGTH + 1]:
        if char.isdigit():
            out.append("9")
        elif char.isalpha():
            out.append("A" if char.isupper() else "a")
        elif char.isspace():
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _digits(text: str) -> str:
    return "".join("9" if c.isdigit() else c for c in text)


def _masked(kind: EntityType, value: str) -> str:
    if kind is EntityType.EMAIL and "@" in value:
        local, domain = value.rsplit("@", 1)
        host, _, tld = domain.rpartition(".")
        tld = tld if len(tld) <= 6 and tld.isalpha() else "***"
        return f"{local[:1]}***@{host[:1]}***.{tld}"
    if kind is EntityType.PHONE:
        return _masked_number(value, keep_country=True)
    if kind is EntityType.CREDIT_CARD:
        return _masked_number(value, keep_country=False)
    if kind is EntityType.IP_ADDRESS:
        return "<IPv6>" if ":" in value else "<IPv4>"
    if kind is EntityType.API_KEY:
        prefix = re.match(r"[A-Za-z]{1,8}[-_]", value)
        return f"{prefix.group() if prefix else ''}*** ({len(value)} chars)"
    if kind is EntityType.JWT:
        return "eyJ***.***.***"
    return f"[{kind.value}]"


def _masked_number(value: str, *, keep_country: bool) -> str:
    """Digits starred except the last four (and a leading country code),
    separators kept: ``+81 90 1234 5678`` gives ``+81 ** **** 5678``."""
    total = sum(c.isdigit() for c in value)
    keep_head = 0
    if keep_country and value.startswith("+"):
        head = re.match(r"\+(\d{1,3})(?=\D)", value)
        keep_head = len(head.group(1)) if head else min(2, total)
    out, seen = [], 0
    for char in value:
        if char.isdigit():
            seen += 1
            keep = seen <= keep_head or seen > total - 4
            out.append(char if keep else "*")
        else:
            out.append(char)
    return "".join(out)
