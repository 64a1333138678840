"""Credentials recognised by where they sit rather than by their shape.

- ``Authorization`` values: ``Bearer <token>`` and ``Basic <base64>``
  (the latter only when it decodes to ``user:password``);
- the user information of a URL, ``scheme://user:password@host``;
- values of query parameters whose names say they are secret (``password``,
  ``token``, ``access_token``, ``api_key``, ``code``, ``X-Amz-Signature``,
  ...), raw or percent-encoded (``%3Ftoken%3D...``);
- the value after a phrase that introduces a secret (``password: ...``,
  ``"client_secret": "..."``, ``API Key provided: ...``), which catches
  pasted secrets that have no known shape.

The span is the secret value only, so the parameter name and the rest of
the URL stay readable. Values that are already redaction markers
(``[CREDENTIAL]``) are skipped, which keeps redaction idempotent.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import re
from typing import Any

from ._span import EntityType, Span
from ._text import fold_width

_AUTH = re.compile(
    r"(?<![A-Za-z0-9])(Bearer|Basic)(?:\s+|%20|\+)([A-Za-z0-9\-._~+/]+=*)",
    re.IGNORECASE,
)
# the scheme does not matter; the parts are bounded so that a long run
# without "@" costs linear time
_USERINFO = re.compile(r"://([^\s/?#@:\[\]]{1,256}:[^\s/?#@]{1,256})@")
# a parameter name ends with a letter or digit, or with "[]"
_NAME = r"([A-Za-z](?:[A-Za-z0-9_.\-]{0,62}[A-Za-z0-9])?(?:\[\])?)"
# a value ends at the next parameter, or at ";" as cookies separate theirs
_PARAM = re.compile(r"(?:(?<=[?&;#\s\"'(,])|^)" + _NAME + r"=([^&#;\s\"'<>]+)")
_ENCODED_PARAM = re.compile(
    r"(?:(?<=%3[Ff])|(?<=%26)|(?<=%23))" + _NAME + r"%3[Dd]"
    r"((?:(?!%26|%23)[^&#\s\"'<>])+)"
)
_PHRASE = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:password|passwd|passphrase|pwd|secret|api[ _\-]?key|access[ _\-]?key"
    r"|private[ _\-]?key"
    r"|(?:access|auth|refresh|id|bearer|session|private|csrf|xsrf)[ _\-]?token"
    r"|session[ _\-]?(?:id|key)|sessionid|sessid)"
    r"(?:[_\-](?:access[_\-])?key)?(?:\s+provided)?"
    r"[\"']?[:=]\s*[\"']?"
    r"([^\s\"'<>,;]+)",
    re.IGNORECASE,
)


def _trigger() -> re.Pattern[str]:
    """What the rules need, in lower case: a secret's name right before "=",
    ":" or "%3d"; an authorization scheme; or user info in a URL."""
    names = (
        "pass", "passwd", "password", "passphrase", "pwd", "token", "secret",
        "key", "code", "auth", "sig", "signature", "otp", "credential",
        "credentials", "provided", "session", "sessionid", "sessid", "sid",
        "session_id", "session_key", "session-id",
    )  # fmt: skip
    endings = [name + closer for name in names for closer in ("", '"', "'", "[]")]
    alternatives = [
        re.escape(separator) + _behind(endings, separator)
        for separator in ("=", ":", "%3d")
    ]
    alternatives += ["bearer", "basic", r"://[^\s/?#@]*@"]
    return re.compile("|".join(alternatives))


def _behind(words: list[str], after: str) -> str:
    """Lookbehinds that hold when one of ``words`` ends where ``after`` does.

    They test one more character at a time, from the right (a trie of the
    reversed words), so a separator that follows no name fails at once.
    """
    trie: dict[str, dict[str, Any]] = {}
    for word in words:
        node = trie
        for char in reversed(word):
            node = node.setdefault(char, {})
        node[""] = {}

    def level(node: dict[str, dict[str, Any]], suffix: str) -> str:
        branches = []
        for char, child in sorted(node.items()):
            if not char:
                continue
            longer = char + suffix
            check = f"(?<={re.escape(longer)})"
            branches.append(check if "" in child else check + level(child, longer))
        return "(?:" + "|".join(branches) + ")"

    return level(trie, after)


_TRIGGER = _trigger()
# the words _PHRASE starts with, for a cheap test before running it
_PHRASE_WORDS = ("pass", "pwd", "secret", "key", "token", "sess")

# parameter names, lower-cased with "_", "-", "." and "[]" removed
_SECRET_NAMES = frozenset(
    {
        "password", "passwd", "pwd", "pass", "token", "accesstoken", "secret",
        "apikey", "key", "code", "auth", "sig", "signature", "otp",
        "session", "sessionid", "sessid", "sid", "connectsid", "phpsessid",
        "sessionkey",
    }
)  # fmt: skip
_SECRET_SUFFIXES = (
    "token", "secret", "password", "passwd", "signature", "apikey", "accesskey",
    "secretkey", "privatekey", "credential", "credentials",
)  # fmt: skip
_EMPTY_VALUES = frozenset({"null", "undefined", "none", "true", "false"})
_MARKER = re.compile(r"(?:\[|%5[Bb])[A-Z_]+(?:\]|%5[Dd])")
_PLAIN_WORD = re.compile(r"[a-z]+|\*+|[xX]+")


class CredentialDetector:
    """Finds authorization values, URL passwords and secret parameters."""

    type: EntityType = EntityType.CREDENTIAL
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        lowered = text.lower()
        spans: list[Span] = []
        if "bearer" in lowered or "basic" in lowered:
            for match in _AUTH.finditer(text):
                span = self._authorization(match)
                if span is not None:
                    spans.append(span)
        if "://" in text:
            for match in _USERINFO.finditer(text):
                start, end = match.span(1)
                spans.append(Span(self.type, start, end, 0.95, "url user info"))
        if "=" in text:
            spans.extend(self._params(_PARAM, text))
        if "%3" in text:
            spans.extend(self._params(_ENCODED_PARAM, text))
        if any(word in lowered for word in _PHRASE_WORDS):
            spans.extend(self._phrases(text, spans))
        spans.sort(key=lambda span: span.start)
        return spans

    def _phrases(self, text: str, found: list[Span]) -> list[Span]:
        taken = sorted((span.start, span.end) for span in found)
        starts = [start for start, _ in taken]
        spans = []
        for match in _PHRASE.finditer(text):
            if _skip_value(match.group(1)):
                continue
            value = match.group(1).rstrip(".)]}")
            if len(value) < 4 or _PLAIN_WORD.fullmatch(value):
                continue
            start, end = match.start(1), match.start(1) + len(value)
            # "password=x&y=1" is a query parameter, found exactly already
            index = bisect.bisect_left(starts, end)
            if index and taken[index - 1][1] > start:
                continue
            reason = "value after a secret's name"
            spans.append(Span(self.type, start, end, 0.7, reason))
        return spans

    def _authorization(self, match: re.Match[str]) -> Span | None:
        scheme, value = match.group(1).lower(), match.group(2)
        start, end = match.span(2)
        if scheme == "basic":
            if not _is_basic_pair(value):
                return None
            return Span(self.type, start, end, 0.95, "basic authorization")
        if len(value) < 8 or _skip_value(value):
            return None
        marked = any(c.isdigit() or c in "._-~+/" for c in value)
        if not marked and not _random_letters(value):
            return None  # "Bearer authentication": a word, not a token
        return Span(self.type, start, end, 0.95, "bearer token")

    def _params(self, pattern: re.Pattern[str], text: str) -> list[Span]:
        spans = []
        for match in pattern.finditer(text):
            name = match.group(1).lower()
            for char in "_-.[]":
                name = name.replace(char, "")
            if name not in _SECRET_NAMES and not name.endswith(_SECRET_SUFFIXES):
                continue
            value = match.group(2)
            if _skip_value(value):
                continue
            start, end = match.span(2)
            spans.append(Span(self.type, start, end, 0.9, "secret parameter"))
        return spans


def _skip_value(value: str) -> bool:
    return value.lower() in _EMPTY_VALUES or _MARKER.fullmatch(value) is not None


def _is_basic_pair(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in text and text.isprintable()


# an opaque token drawn from letters alone: long, and its case changing
# back and forth as no word or CamelCase name does ("XMLHttpRequest" has 2)
_MIN_LETTER_TOKEN = 20
_MIN_CASE_TURNS = 4


def _random_letters(value: str) -> bool:
    """Whether a value of letters only reads as a random token."""
    if len(value) < _MIN_LETTER_TOKEN:
        return False
    turns = sum(a.islower() and b.isupper() for a, b in itertools.pairwise(value))
    return turns >= _MIN_CASE_TURNS
