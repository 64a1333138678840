"""Detection over a whole JSON record of any shape (``redact-all``).

Every string at any depth is scanned, object keys included (analytics
keys can hold emails), and so are integers long enough to be card numbers;
each detected span is replaced by its placeholder and nothing else changes.
Nesting deeper than :data:`MAX_DEPTH` is replaced by one ``[UNSCANNABLE]``
marker rather than passed on unread.

A value can be secret only because of the name it is filed under: a
request log's ``{"X-Session-Token": "9f8a..."}``, a form's ``{"password":
"hunter22"}``. A string without whitespace under a key that names a secret
(:func:`secret_key`) is replaced whole by ``[CREDENTIAL]`` when the
detectors find nothing more specific in it. ``token`` and ``api_key`` on
their own are not such names: Mixpanel's project token and PostHog's
project key travel under them and are routing data, not secrets (their
values are still scanned like any other). Nor are names that start with
``$``: the vendors reserve them for what their SDKs set themselves, such as
PostHog's ``$session_id`` and ``$window_id`` (replay ids, UUIDs the SDK
makes up), never a server's session cookie.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable
from typing import Any

import orjson

from ._span import EntityType
from .prefilter import LineFilter
from .scanner import DETECTORS, Scanner, build_detector, redact

MAX_DEPTH = 64
MEMO_SIZE = 32_768  # distinct short strings remembered
MEMO_MAX_LENGTH = 200  # longer strings are scanned each time
# integers from this size on are scanned as digits (cards have 13 to 19)
_SCAN_INT = 10**12
# shorter values under a secret's name are flags and placeholders ("on")
_MIN_SECRET = 6

_SECRET_NAMES = frozenset(
    {
        "password", "passwd", "pwd", "pass", "passphrase", "secret", "session",
        "sessionid", "sessid", "sid", "connectsid", "phpsessid", "jsessionid",
        "auth", "otp", "authorization", "privatetoken", "proxyauthorization",
    }
)  # fmt: skip
_SECRET_SUFFIXES = (
    "token", "secret", "password", "passwd", "passphrase", "apikey", "accesskey",
    "secretkey", "privatekey", "sessionid", "sessionkey", "signature",
    "credential", "credentials",
)  # fmt: skip
# routing ids that vendors file under secret-sounding names
_ROUTING_NAMES = frozenset({"token", "apikey"})


# keys repeat across events (a site sends the same few hundred): their
# verdicts are remembered, up to a bound, as the memo of values is
@functools.lru_cache(maxsize=8192)
def secret_key(key: str) -> bool:
    """Whether a key names a secret (``password``, ``X-Session-Token``,
    ``client_secret``, ``connect.sid``), compared in lower case without
    punctuation; vendor-reserved names (``$session_id``) never do."""
    if key.startswith("$"):
        return False
    name = "".join(c for c in key.lower() if c.isalnum())
    if name in _ROUTING_NAMES:
        return False
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


class RecordRedactor:
    """Redacts every detected span in JSON records; thread-safe enough for
    one thread per instance (its memo is a plain dict)."""

    def __init__(self, detectors: Iterable[str] = tuple(DETECTORS)) -> None:
        self.scanner = Scanner([build_detector(name) for name in detectors])
        self._memo: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._filter: LineFilter | None = None
        self._filter_for: Scanner | None = None

    def redact(self, record: Any) -> tuple[Any, dict[str, int]]:
        """``record`` with every detected span redacted, and the number of
        findings by type. A record in which nothing is found may come back
        as the very object passed in, not a copy."""
        counts: dict[str, int] = {}
        if isinstance(record, dict | list):
            clean = self._by_line(record, counts)
            if clean is not _WALK:
                return clean, counts
        return self._walk(record, counts, 0), counts

    def _line_filter(self) -> LineFilter | None:
        """The pre-filter for the current scanner (callers may swap it)."""
        if self._filter_for is not self.scanner:
            self._filter_for = self.scanner
            built = LineFilter(self.scanner.detectors, self.scanner.max_length)
            self._filter = built if built.available else None
        return self._filter

    def _by_line(self, record: Any, counts: dict[str, int]) -> Any:
        """The record redacted through its JSON text: only the strings (and
        long integers) the pre-filter names are scanned, the way _walk would
        scan them; _WALK when the pre-filter cannot read this record."""
        line_filter = self._line_filter()
        if line_filter is None:
            return _WALK
        try:
            line = orjson.dumps(record, option=_JSON_ONLY)
        except TypeError:  # not JSON data (orjson's error is a TypeError)
            return _WALK
        flagged = line_filter.pieces(line)
        if flagged is None:
            return _WALK
        if not flagged:
            return record
        pieces = line.split(b'"')
        changed = False
        done: set[int] = set()
        for index in sorted(flagged):
            if index in done:
                continue
            piece = pieces[index]
            if not index % 2:  # between strings: long integers
                numbers = self._numbers(piece, counts)
                if numbers is not piece:
                    pieces[index] = numbers
                    changed = True
                continue
            text = piece.decode()
            clean = self._text(text, counts, flagged[index])
            if clean != text:
                pieces[index] = orjson.dumps(clean)[1:-1]
                changed = True
            # a key (a ':' follows) that names a secret, with a string value
            if pieces[index + 1] == b":" and secret_key(text):
                value = pieces[index + 2].decode()
                clean = self._named_secret(value, counts)
                done.add(index + 2)
                if clean != value:
                    pieces[index + 2] = orjson.dumps(clean)[1:-1]
                    changed = True
        if not changed:
            return record
        return orjson.loads(b'"'.join(pieces))

    def _numbers(self, piece: bytes, counts: dict[str, int]) -> bytes:
        """The JSON text between two strings with each integer that _walk
        scans (at least _SCAN_INT) replaced as _walk would; ``piece`` itself
        when nothing changed."""
        parts = []
        position = 0
        for match in _NUMBER.finditer(piece):
            token = match.group()
            if not token.lstrip(b"-").isdigit():
                continue  # a float: _walk leaves those alone
            value = int(token)
            if -_SCAN_INT < value < _SCAN_INT:
                continue
            digits = str(abs(value))
            clean = self._text(digits, counts)
            if clean != digits:
                parts += [piece[position : match.start()], orjson.dumps(clean)]
                position = match.end()
        if not parts:
            return piece
        return b"".join([*parts, piece[position:]])

    def scrub(
        self, text: str, only: Collection[int] | None = None
    ) -> tuple[str, tuple[str, ...]]:
        """``text`` with detected spans replaced, and the types found
        (``only``: see :meth:`Scanner.scan`)."""
        memo = self._memo
        known = memo.get(text)
        if known is not None:
            return known
        spans = self.scanner.scan(text, only)
        if spans:
            result = redact(text, spans), tuple(span.type.value for span in spans)
        else:
            result = text, ()
        if len(text) <= MEMO_MAX_LENGTH:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[text] = result
        return result

    def _walk(self, value: Any, counts: dict[str, int], depth: int) -> Any:
        if isinstance(value, str):
            known = self._memo.get(value)  # the common case, inlined
            if known is None:
                return self._text(value, counts)
            if known[1]:
                _count(counts, known[1])
            return known[0]
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            _count(counts, (EntityType.UNSCANNABLE.value,))
            return f"[{EntityType.UNSCANNABLE.value}]"
        if isinstance(value, dict):
            out = {}
            memo = self._memo
            for key, item in value.items():
                known = memo.get(key)
                if known is not None and not known[1]:
                    clean_key = key  # a key seen before, with nothing in it
                else:
                    clean_key = self._text(key, counts)
                if isinstance(item, str) and secret_key(key):
                    out[clean_key] = self._named_secret(item, counts)
                else:
                    out[clean_key] = self._walk(item, counts, depth + 1)
            return out
        if isinstance(value, list):
            return [self._walk(item, counts, depth + 1) for item in value]
        if type(value) is int and not -_SCAN_INT < value < _SCAN_INT:
            digits = str(abs(value))
            clean = self._text(digits, counts)
            return value if clean == digits else clean
        return value

    def _named_secret(self, value: str, counts: dict[str, int]) -> str:
        clean = self._text(value, counts)
        if clean != value:
            return clean  # something more specific was found (a JWT, a key)
        if len(value) < _MIN_SECRET or any(c.isspace() for c in value):
            return value
        if value.startswith("[") and value.endswith("]"):
            return value  # already a placeholder
        _count(counts, (EntityType.CREDENTIAL.value,))
        return f"[{EntityType.CREDENTIAL.value}]"

    def _text(
        self, text: str, counts: dict[str, int], only: Collection[int] | None = None
    ) -> str:
        if not text:
            return text
        clean, kinds = self.scrub(text, only)
        _count(counts, kinds)
        return clean


# orjson would write these as strings; refusing them keeps the JSON text to
# JSON data (records from orjson.loads), which _walk sees the same way
_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_NUMBER = re.compile(rb"-?[0-9][0-9.eE+\-]*")
_WALK = object()  # _by_line's answer: walk this record instead


def _count(counts: dict[str, int], kinds: Iterable[str]) -> None:
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
