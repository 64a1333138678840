"""Scrubbing URL-valued properties.

Page URLs and referrers are where reset tokens, emails and session ids leak
most often. A scrubbed URL keeps scheme, host, port and the route shape; it
loses the userinfo and the fragment, keeps only the query parameters the
policy names, and has path segments that carry detected values, long numbers
or opaque tokens replaced by typed placeholders.

URLs are read the way browsers read them (the WHATWG URL standard), not only
the way :func:`urllib.parse.urlsplit` does: for the special schemes a
backslash is a slash and any run of slashes after the scheme starts the
authority, so ``https:/\\\\user:pw@host/`` loses its userinfo too. URLs without
an authority and a path (``javascript:``, ``data:``, ``mailto:``) keep their
scheme only: their body is free-form content.
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

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# schemes whose URLs browsers parse with an authority (WHATWG "special",
# but file:, whose host is usually empty)
_SPECIAL = frozenset({"http", "https", "ws", "wss", "ftp"})
# schemes whose URLs carry content rather than a location
_OPAQUE_SCHEMES = frozenset(
    {"javascript", "vbscript", "data", "blob", "mailto", "tel", "sms", "about"}
)
# browsers remove tabs and newlines anywhere in a URL, and trim C0 controls
# and spaces at both ends
_KNOWN_SCHEMES = _SPECIAL | _OPAQUE_SCHEMES
_TAB_NEWLINE = str.maketrans({"\t": None, "\n": None, "\r": None})
_C0_SPACE = "".join(chr(c) for c in range(0x21))


def looks_like_url(value: str) -> bool:
    """True when ``value`` could be read as a URL: it has a path, query or
    fragment delimiter, or a scheme browsers know. Plain words (``$direct``,
    ``Note: 12``) are not."""
    scheme = _SCHEME.match(value.lstrip(_C0_SPACE))
    return (
        (scheme is not None and scheme.group()[:-1].lower() in _KNOWN_SCHEMES)
        or "/" in value
        or "\\" in value
        or "?" in value
        or "#" in value
    )


def scrub_url(
    value: str, keep_params: re.Pattern[str], redact: Redactor
) -> tuple[str, list[str]]:
    """The scrubbed URL and the kinds of what was removed (``"userinfo"``,
    ``"fragment"``, ``"query"``, ``"opaque"`` and detector types).

    Raises ``ValueError`` for a URL that cannot be parsed (an unclosed IPv6
    host, a host that changes under NFKC normalisation); the message of that
    error may quote the URL, so callers must not pass it on.
    """
    found: list[str] = []
    parts = urlsplit(_normalise(value))

    if parts.scheme and not parts.netloc and not parts.path.startswith("/"):
        # javascript:, data:, mailto:, about:; the body is content
        if parts.path or parts.query or parts.fragment:
            found.append("opaque")
        return f"{parts.scheme}:", found

    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
        found.append("userinfo")
    if netloc:
        clean_host, kinds = redact(unquote(netloc))
        if kinds:
            found.extend(kinds)
            netloc = quote(clean_host, safe=_SAFE)

    segments = []
    for raw in parts.path.split("/"):
        segment, kinds = _scrub_segment(unquote(raw), redact)
        found.extend(kinds)
        segments.append(raw if not kinds else quote(segment, safe=_SAFE))
    path = "/".join(segments)

    kept = []
    dropped = False
    for name, param in parse_qsl(parts.query, keep_blank_values=True):
        if keep_params.fullmatch(name) and not redact(name)[1]:
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


def _normalise(value: str) -> str:
    text = value.translate(_TAB_NEWLINE).strip(_C0_SPACE)
    scheme = _SCHEME.match(text)
    if scheme is not None:
        if scheme.group()[:-1].lower() not in _SPECIAL:
            return text
        head, rest = scheme.group(), text[scheme.end() :]
    elif text[:2].replace("\\", "/") == "//":
        head, rest = "", text
    else:
        return text
    # up to the query or fragment, a backslash is a slash; any run of
    # slashes after the scheme starts the authority
    end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    if end < 0:
        end = len(rest)
    before = rest[:end].replace("\\", "/").lstrip("/")
    return f"{head}//{before}{rest[end:]}"


def _scrub_segment(segment: str, redact: Redactor) -> tuple[str, tuple[str, ...]]:
    if not segment:
        return segment, ()
    clean, kinds = redact(segment)
    found = list(kinds)

    def token(match: re.Match[str]) -> str:
        run = match.group()
        if not _HAS_LETTER_AND_DIGIT.match(run):
            return run
        found.append("TOKEN")
        return "[TOKEN]"

    # tokens before numbers: a session id's digit runs are part of it
    clean = _OPAQUE.sub(token, clean)
    if _LONG_NUMBER.search(clean):
        clean = _LONG_NUMBER.sub("[NUMBER]", clean)
        found.append("NUMBER")
    return clean, tuple(found)
