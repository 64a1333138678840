"""IP addresses: IPv4 and IPv6, validated with :mod:`ipaddress`.

IPv6 is found compressed (``2001:db8::1``), IPv4-mapped
(``::ffff:192.0.2.1``), with a zone id (``fe80::1%eth0``, or ``%25eth0`` as
RFC 6874 writes it in URLs) and inside brackets with a port
(``[2001:db8::1]:443``); the span is the address (and zone), not the
brackets or the port.

Dotted quads inside longer dotted runs (``1.2.83.0.1``), after a letter
(``v1.2.3.4``) or after a product name and slash (``Chrome/120.0.0.0``) are
versions, not addresses. The unspecified and loopback addresses identify
nobody and are not reported; neither are compressed forms without a decimal
digit (``Cafe::Bad``), which are words around a scope operator.
"""

from __future__ import annotations

import bisect
import ipaddress
import re

from ._span import EntityType, Span
from ._text import fold_width

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# dotted quads; their surroundings are checked in code, which lets the
# pattern start with a digit class that the regex engine skips ahead to
_V4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_OCTETS = re.compile(_OCTET + r"(?:\." + _OCTET + r"){3}")
_V6 = re.compile(
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![A-Za-z0-9_:.]))"
    r"(?:[0-9A-Fa-f]{1,4}:|:)[0-9A-Fa-f:.]*"
    r"(?:%(?:25)?[A-Za-z0-9_.~\-]+)?"
)
# in the lower-cased probe: three dots after digits, "::", or three groups
_TRIGGER = re.compile(
    r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|::|:[0-9a-f]{1,4}:[0-9a-f]{1,4}:"
)
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_HEX = frozenset("0123456789abcdefABCDEF")


class IpAddressDetector:
    """Finds IPv4 and IPv6 addresses that :mod:`ipaddress` accepts."""

    type: EntityType = EntityType.IP_ADDRESS
    min_digits: int = 1  # IPv6 addresses are reported only with a digit in them
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        v6 = self._v6(text) if ":" in text else []
        if "." not in text:
            return v6
        v4 = self._v4(text)
        if v6:
            # an IPv4-mapped IPv6 address was reported whole already
            starts = [span.start for span in v6]  # in order, not overlapping
            kept = []
            for span in v4:
                index = bisect.bisect_right(starts, span.start)
                if not index or v6[index - 1].end <= span.start:
                    kept.append(span)
            return sorted(v6 + kept, key=lambda span: span.start)
        return v4

    def _v4(self, text: str) -> list[Span]:
        spans = []
        for match in _V4.finditer(text):
            start, end = match.span()
            if not _bounded_v4(text, start, end) or not _OCTETS.fullmatch(match[0]):
                continue
            address = ipaddress.IPv4Address(match.group())
            span = _span(address, start, end, "ipv4")
            if span is not None:
                spans.append(span)
        return spans

    def _v6(self, text: str) -> list[Span]:
        spans = []
        for match in _V6.finditer(text):
            candidate = match.group()
            end = match.end()
            if end < len(text) and text[end] in _ALNUM:
                continue  # ran into a word: "Foo::Bar", not an address
            address, length = _parse_v6(candidate)
            if address is None:
                continue
            span = _span(address, match.start(), match.start() + length, "ipv6")
            if span is not None:
                spans.append(span)
        return spans


def _bounded_v4(text: str, start: int, end: int) -> bool:
    """Whether a dotted quad stands alone rather than inside a longer run."""
    before = text[start - 1] if start else ""
    # "%3D192.0.2.1" (after a percent escape) is fine; "v1.2.3.4" is not
    escaped = start >= 3 and text[start - 3] == "%" and before in _HEX
    if before and (before in _ALNUM or before == ".") and not escaped:
        return False
    if before == "/" and start >= 2 and text[start - 2] in _ALNUM:
        return False  # "Chrome/120.0.0.0": a version after a product name
    if before == ":" and text[max(0, start - 3) : start - 1].lower() == "rv":
        return False  # "rv:1.9.2.20": Gecko's revision in a user agent
    after = text[end : end + 2]
    if after[:1] and after[0] in _ALNUM:
        return False
    return not (after[:1] == "." and after[1:2].isdigit())


def _parse_v6(candidate: str) -> tuple[ipaddress.IPv6Address | None, int]:
    """The address at the start of ``candidate`` and its length in characters."""
    text = candidate
    # a trailing full stop or colon ends a sentence or a "host:port" list
    while text and text[-1] in ".:" and not text.endswith("::"):
        text = text[:-1]
    percent = text.find("%")
    bare = text if percent == -1 else text[:percent]
    if bare.count(":") < 2 or not any(c.isdigit() for c in bare):
        # "dead::beef", "A::B": hex words with colons, not addresses
        return None, 0
    try:
        address = ipaddress.IPv6Address(bare)
    except ValueError:
        return None, 0
    if percent == -1 or not (address.is_link_local or address.is_multicast):
        # only scoped addresses carry a zone; anything else after "%" is a
        # percent escape that follows the address in a URL
        return address, len(bare)
    zone = text[percent + 1 :]
    if zone.startswith("25"):
        zone = zone[2:]  # RFC 6874: "%" is written "%25" inside a URL
    if not zone:
        return address, len(bare)
    return address, len(text)


def _span(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    start: int,
    end: int,
    family: str,
) -> Span | None:
    if address.is_unspecified or address.is_loopback:
        return None
    if address.is_global:
        return Span(EntityType.IP_ADDRESS, start, end, 0.9, family)
    return Span(EntityType.IP_ADDRESS, start, end, 0.8, f"{family}, not global")
