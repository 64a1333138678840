"""Scrubbing URL-valued properties.

Page URLs and referrers are where reset tokens, emails and session ids leak
most often. A scrubbed URL keeps scheme, host, port and the route shape; it
loses the userinfo and the fragment, keeps only the query parameters the
policy names, and has path segments that carry detected values, long numbers
or opaque tokens replaced by typed placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# a function that redacts detected spans in a string and says what it found
Redactor = Callable[[str], tuple[str, tuple[str, ...]]]

_LONG_NUMBER = re.compile(r"\d{9,}")
_OPAQUE = re.compile(r"[A-Za-z0-9_\-.~+=]{32,}")
_HAS_LETTER_AND_DIGIT = re.compile(r"(?=.*[A-Za-z])(?=.*\d)")
# placeholders are left readable in paths and query values
_SAFE = "/[]:@!$&'()*+,;="


def looks_like_url(value: str) -> bool:
    return "://" in value[:16] or value.startswith("/")


def scrub_url(
    value: str, keep_params: re.Pattern[str], redact: Redactor
) -> tuple[str, list[str]]:
    """The scrubbed URL and the kinds of what was removed (``"userinfo"``,
    ``"fragment"``, ``"query"`` and detector types)."""
    found: list[str] = []
    parts = urlsplit(value)

    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
        found.append("userinfo")

    segments = []
    for raw in parts.path.split("/"):
        segment, kinds = _scrub_segment(unquote(raw), redact)
        found.extend(kinds)
        segments.append(raw if not kinds else quote(segment, safe=_SAFE))
    path = "/".join(segments)

    kept = []
    dropped = False
    for name, param in parse_qsl(parts.query, keep_blank_values=True):
        if keep_params.fullmatch(name):
            clean, kinds = redact(param)
            found.extend(kinds)
            kept.append((name, clean))
        else:
            dropped = True
    if dropped:
        found.append("query")
    query = urlencode(kept, safe="[]") if kept else ""

    if parts.fragment:
        found.append("fragment")
    return urlunsplit((parts.scheme, netloc, path, query, "")), found


def _scrub_segment(segment: str, redact: Redactor) -> tuple[str, tuple[str, ...]]:
    if not segment:
        return segment, ()
    clean, kinds = redact(segment)
    if kinds:
        return clean, kinds
    if _LONG_NUMBER.search(segment):
        return _LONG_NUMBER.sub("[NUMBER]", segment), ("NUMBER",)
    if _OPAQUE.fullmatch(segment) and _HAS_LETTER_AND_DIGIT.match(segment):
        return "[TOKEN]", ("TOKEN",)
    return segment, ()
