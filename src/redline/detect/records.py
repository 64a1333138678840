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
from collections.abc import Iterable
from typing import Any

from ._span import EntityType
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

    def redact(self, record: Any) -> tuple[Any, dict[str, int]]:
        """``record`` with every detected span redacted, and the number of
        findings by type."""
        counts: dict[str, int] = {}
        return self._walk(record, counts, 0), counts

    def scrub(self, text: str) -> tuple[str, tuple[str, ...]]:
        """``text`` with detected spans replaced, and the types found."""
        memo = self._memo
        known = memo.get(text)
        if known is not None:
            return known
        spans = self.scanner.scan(text)
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

    def _text(self, text: str, counts: dict[str, int]) -> str:
        if not text:
            return text
        clean, kinds = self.scrub(text)
        _count(counts, kinds)
        return clean


def _count(counts: dict[str, int], kinds: Iterable[str]) -> None:
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
