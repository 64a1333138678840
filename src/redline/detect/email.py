"""Email addresses, also percent-encoded (``%40``) inside URLs.

The detector finds each ``@`` (or ``%40``), reads the local part backwards
and the domain forwards. Local parts are the practical ASCII set (letters,
digits, ``. _ + -``, and ``%2B`` for an encoded plus); quoted local parts and
internationalised local parts are not recognised. Domain labels may be
Unicode (IDN), but the top-level label must be ASCII letters or punycode
(``xn--``): that is what lets an address end where CJK text resumes
(``taro@example.comまで``).
"""

from __future__ import annotations

import re

from ._span import EntityType, Span
from ._text import fold_width

# file extensions that follow "@2x"-style image names and are not TLDs
_FILE_EXTENSIONS = frozenset(
    {
        "avif", "bmp", "css", "eot", "gif", "htm", "html", "ico", "jpeg", "jpg",
        "js", "json", "map", "mjs", "otf", "php", "png", "svg", "tif", "tiff",
        "ts", "ttf", "webp", "woff", "woff2",
    }
)  # fmt: skip
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
_MAX_LOCAL = 64  # RFC 5321 section 4.5.3.1.1
_HEX = frozenset("0123456789abcdefABCDEF")

_AT = re.compile(r"@|%40")
# labels of letters and digits (any script) with inner hyphens; the last
# label is ASCII letters or punycode and must not run on into ASCII text
_DOMAIN = re.compile(
    r"(?:[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?\.)+"
    r"([A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9-])"
)
_RETINA = re.compile(r"\d+(?:\.\d+)?x")


class EmailDetector:
    """Finds email addresses in free text, URLs and percent-encoded values."""

    type: EntityType = EntityType.EMAIL
    trigger: re.Pattern[str] = re.compile(r"@|%40")

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        last_end = 0
        for at in _AT.finditer(text):
            if at.start() < last_end:
                continue
            span = self._around(text, at.start(), at.end(), last_end)
            if span is not None:
                spans.append(span)
                last_end = span.end
        return spans

    def _around(self, text: str, at: int, after: int, floor: int) -> Span | None:
        start = _local_start(text, at, floor)
        if start == at:
            return None
        if text[start] == "." or text[at - 1] == ".":
            # a dot may neither begin nor end a local part; drop leading ones
            while start < at and text[start] == ".":
                start += 1
            if start == at or text[at - 1] == ".":
                return None
        if ".." in text[start:at]:
            return None

        domain = _DOMAIN.match(text, after)
        if domain is None:
            return None
        tld = domain.group(1).lower()
        if tld in _FILE_EXTENSIONS:
            return None
        first_label = text[after : text.index(".", after)]
        if _RETINA.fullmatch(first_label):
            return None

        encoded = after - at == 3
        reason = "address, percent-encoded" if encoded else "address"
        return Span(EntityType.EMAIL, start, domain.end(), 0.9, reason)


def _local_start(text: str, at: int, floor: int) -> int:
    """Where the local part that ends at ``at`` begins (``at`` if empty)."""
    i = at
    limit = max(floor, at - 4 * _MAX_LOCAL)
    while i > limit:
        char = text[i - 1]
        if char in _LOCAL:
            i -= 1
        elif char == "%" and text[i : i + 2] in ("2B", "2b"):
            i -= 1  # an encoded "+" (plus-addressing inside a URL)
        else:
            break
    # "%2Fjane%40..." leaves "2Fjane" after the "%": the two hex digits belong
    # to the escape before the address, not to the address
    if (
        i >= 1
        and text[i - 1] == "%"
        and at - i > 2
        and text[i] in _HEX
        and text[i + 1] in _HEX
    ):
        i += 2
    return i
