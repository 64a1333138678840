"""Decoded views of URL query parameters, for a second look.

A value can hide from every pattern behind an encoding a URL gives it:
``e=jane%2Edoe%40example%2Ecom`` (each character escaped), a double
escape (``%2540``), or base64url (``ctx=eyJlbWFpbCI6...`` without a JWT's
dots, ``u=amFuZUBleGFtcGxlLmNvbQ``). The scanner hands each such value,
decoded, back to the detectors; a finding in the decoded text stands for
the whole original value, because offsets inside an encoding do not map
back to characters of the original.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import urllib.parse
from collections.abc import Iterator

# name=value after "?", "&", ";" or "#" (or at the very start, for a bare
# query string); the value ends where the next parameter or the URL does.
# Starting with the separator lets the regex engine skip ahead.
_PARAM = re.compile(r"[?&;#]([^=&#\s?]{1,128})=([^&#\s\"'<>]{2,})")
_FIRST = re.compile(r"([^=&#\s?]{1,128})=([^&#\s\"'<>]{2,})")
# parameter names under which a bare number is a phone number
_PHONE_NAME = re.compile(r"phone|tel|mobile|cell|msisdn|whatsapp|sms|contact", re.I)
_BASE64 = re.compile(r"[A-Za-z0-9_\-+/]{16,}={0,2}")
# shorter decoded texts hold nothing a detector could report
_MIN_DECODED = 6
MAX_DEPTH = 2  # a value encoded twice (%2540) is read; deeper is not


def encoded_values(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, decoded text) for each parameter value in ``text`` that
    decodes, by percent-decoding or base64url, to something else; and each
    bare ten-digit value under a phone's name (``tel=``), as it is."""
    if "=" not in text:
        return
    first = _FIRST.match(text)
    matches = _PARAM.finditer(text)
    for match in itertools.chain((first,) if first else (), matches):
        name, value = match.group(1), match.group(2)
        start, end = match.span(2)
        if "%" in value or "+" in value:
            decoded = urllib.parse.unquote_plus(value)
            if decoded != value and len(decoded) >= _MIN_DECODED:
                yield start, end, decoded
                value = decoded
        if value.isdigit() and len(value) == 10 and _PHONE_NAME.search(name):
            # a bare number under a phone's name is a short value of its
            # own, read as a form field is (phone=2025550143)
            yield start, end, value
            continue
        if len(value) >= 16 and _BASE64.fullmatch(value):
            plain = _base64_text(value)
            if plain is not None:
                yield start, end, plain


def _base64_text(value: str) -> str | None:
    """``value`` decoded as base64 (either alphabet, padding optional), if
    that gives printable UTF-8 text; hex digests and random ids do not."""
    if value.isdigit() or all(c in "0123456789abcdefABCDEF" for c in value):
        return None
    body = value.rstrip("=").replace("+", "-").replace("/", "_")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if len(text) < _MIN_DECODED:
        return None
    if not text.isprintable() and not all(
        c.isprintable() or c in "\n\r\t" for c in text
    ):
        return None
    return text
