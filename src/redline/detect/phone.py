"""Phone numbers, validated against numbering plans with ``phonenumbers``.

``phonenumbers`` is slow (tens of microseconds a call) and lenient about what
it reads as a number, so a cheap pattern picks candidates first and rejects
the shapes that are numbers but not phone numbers:

- tokens: digits glued to letters, underscores or another token
  (``ord_20251127_000187``, ``hosted-eu-20240612-09``, UUID groups);
- dates and times (``2024-06-12``, ``12.06.2024``, ``20:17``);
- versions and addresses (``10.0.19045.1``, ``192.0.2.1``) and decimals
  (``1718035200.123``, ``0.4012888888881881``);
- bare digit runs (``1718035200``, ``418305592``): epoch times and ids look
  exactly like national numbers, so a run without separators counts only
  with a ``+`` or a trunk ``0`` in front (``+12025550143``, ``07911123456``).

Each candidate then goes through ``PhoneNumberMatcher`` at ``VALID``
leniency: with no region when it starts with ``+``, otherwise with each
default region in turn. A national number that starts with a trunk ``0`` and
is grouped like a phone number also counts when it is only *possible* in a
region (lower score): fiction-reserved ranges such as the UK's 07700 900xxx
are not valid allocations, and real new ranges reach users before the
library's metadata.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from ..errors import ConfigError
from ._span import EntityType, Span
from ._text import fold_width

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "JP", "IN", "BR")
# more distinct candidates than this in one string: mask the string rather
# than spend unbounded time on it (each one costs up to a few milliseconds)
MAX_CANDIDATES = 128

# separators seen in written numbers: space, dot, hyphen, parentheses and
# the Unicode dashes (U+2010..2015, minus sign, katakana prolonged mark)
_SEP = "[ .\\-()/\u2010-\u2015\u2212\u30fc]"
_CANDIDATE = re.compile(
    # start: after a percent escape, or not inside a token or a time
    # ("tel:" and "phone:" are fine, "12:" is not)
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![A-Za-z0-9_+\-./])(?<![0-9]:))"
    # not a date (2024-06-12, 12.06.2024)
    r"(?![0-9]{4}[\-./][0-9]{2}[\-./][0-9]{2}(?![0-9]))"
    r"(?![0-9]{1,2}[\-./][0-9]{1,2}[\-./][0-9]{4}(?![0-9]))"
    # an optional "+" (or "%2B"), "(" or "(+", then 7 to 17 digits with at
    # most two separator characters between digits
    r"(?:\+|%2[Bb]|\(\+?)?[0-9](?:" + _SEP + r"{0,2}[0-9]){6,16}"
    # an extension, as US numbers are often written ("x1568", "ext. 12")
    r"(?:[\s.\-/]{0,2}(?:x|ext\.?|#)[\s.\-/]{0,2}[0-9]{1,6})?"
    # end: not inside a token, not a time (:), not a decimal (,5 or .5)
    r"(?![A-Za-z0-9_])(?![\-./:,][A-Za-z0-9_])",
)
# what every candidate that can pass _phone_shaped starts with, searched in
# the lower-cased text: a boundary, then "+" (or "%2b"), a trunk "0" and
# nine or ten more digits, or seven digits with a separator among them
_TRIGGER = re.compile(
    r"[^0-9a-z_+\-./](?=[0-9+(%])(?:(?<=%)[0-9a-f]{2})?"
    r"(?:\(?(?:\+|%2b)\(?[0-9]|\(?0[1-9][0-9]{8,9}(?![0-9a-z_])"
    # (not a date, a decimal, a dotted quad, a version with a one-digit part)
    r"|(?![0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])"
    r"|(?!0[1-9][0-9])[0-9]+\.[0-9]+(?![0-9 .\-()])"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9 .\-()])|[0-9]+\.[0-9]\.)"
    r"\(?(?=[0-9]{1,16}" + _SEP + r")"
    r"[0-9](?:" + _SEP + r"{0,2}[0-9]){6}"
    # or ten digits that can open a North American or Indian number
    r"|[2-9][0-9]{9}(?![0-9a-z_]))"
)
# a date standing on its own inside the candidate ("37-15-0327" inside
# "0737-15-0327" is not one)
_DATE = re.compile(
    r"(?<![0-9])(?:[0-9]{4}[\-./][0-9]{2}[\-./][0-9]{2}"
    r"|[0-9]{1,2}[\-./][0-9]{1,2}[\-./][0-9]{4})(?![0-9])"
)
# a phone's name right before a bare number: "phone=", "Tel: ",
# '"mobile": "' (JSON text), "tel:"
_LABEL = re.compile(
    r"(?:phone|tel|mobile|cell|msisdn|whatsapp|contact)[\w\-]{0,12}"
    r"[\"']?\s*[:=]\s*[\"']?$",
    re.IGNORECASE,
)
_LABEL_REACH = 32
_DIGITS = re.compile(r"[0-9]+")
# US ZIP+4 codes; postal codes after the Japanese postal mark (and its
# circled and boxed forms)
_ZIP4 = re.compile(r"[0-9]{5}-[0-9]{4}")
_POSTAL_MARKS = frozenset({"\u3012", "\u3020", "\u3036"})
_EXTENSION = re.compile(r"[\s.\-/]{0,2}(?:x|ext\.?|#)[\s.\-/]{0,2}[0-9]{1,6}$")
# E.164 allows 15 digits with the country code; a trunk 0 makes 16
_MAX_DIGITS = 16
# a value this short (a form field, a search, an href) that is a bare
# ten-digit run is read as a number typed without separators
_SHORT_LENGTH = 40
_SHORT_TOKENS = 3


class PhoneDetector:
    """Finds phone numbers that are valid in a numbering plan.

    ``regions`` are ISO 3166 codes tried, in order, for numbers written
    without a country code (``"GB"``, not ``"UK"``).
    """

    type: EntityType = EntityType.PHONE
    min_digits: int = 7  # the shortest national number the pattern takes
    trigger: re.Pattern[str] = _TRIGGER

    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS) -> None:
        supported = phonenumbers.SUPPORTED_REGIONS
        for region in regions:
            if region not in supported:
                raise ConfigError(
                    f"unknown phone region {region!r}",
                    fix="use ISO 3166 alpha-2 codes such as GB, US, DE",
                )
        self.regions = tuple(regions)

    def find(self, text: str) -> list[Span]:
        folded = fold_width(text)
        short = _short(text)
        spans: list[Span] = []
        seen: set[str] = set()
        for match in _CANDIDATE.finditer(folded):
            candidate = match.group()
            start = match.start()
            alone = (short and _alone(folded, start, match.end())) or (
                _LABEL.search(folded, max(0, start - _LABEL_REACH), start) is not None
            )
            if not _phone_shaped(candidate, alone):
                continue
            if (
                _ZIP4.fullmatch(candidate)
                or folded[match.start() - 1 : match.start()] in _POSTAL_MARKS
            ):
                continue  # a ZIP+4 code, or a Japanese postal code after its mark
            seen.add(candidate)  # repeats are answered from the cache
            if len(seen) > MAX_CANDIDATES:
                reason = "too many phone candidates"
                return [Span(EntityType.UNSCANNABLE, 0, len(text), 1.0, reason)]
            extension = _EXTENSION.search(candidate)
            for start, end, score, reason in _check(candidate, self.regions):
                if extension is not None and end >= extension.start():
                    end = len(candidate)  # the extension goes with its number
                base = match.start()
                spans.append(Span(self.type, base + start, base + end, score, reason))
        return spans


def _alone(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a whitespace-separated word of its own
    (or follows "tel:"), not part of a URL or an id."""
    before = text[:start]
    if before.lower().endswith(("tel:", "tel%3a")):
        return True
    return (not before or before[-1].isspace()) and (
        end == len(text) or text[end].isspace()
    )


def _short(text: str) -> bool:
    """A short value of its own: the number, "tel:" and the number, or the
    number and a word or two in lower case (a search: "suche ...");
    "PO 4505472520" and "ID ..." are ids."""
    tokens = text.split()
    if len(text) > _SHORT_LENGTH or len(tokens) > _SHORT_TOKENS:
        return False
    words = [t for t in tokens if not any(c.isdigit() for c in t)]
    return all(w.isalpha() and not w.isupper() for w in words)


def _phone_shaped(candidate: str, short: bool) -> bool:
    """Whether the candidate's digit groups can be a written phone number;
    ``short`` says the whole string is a short value (a field, a search)."""
    encoded = candidate[:3] in ("%2B", "%2b")
    body = candidate[3:] if encoded else candidate
    international = encoded or body[0] == "+"
    body = _EXTENSION.sub("", body)
    groups = _DIGITS.findall(body)
    if sum(len(group) for group in groups) > _MAX_DIGITS:
        return False  # longer than any number: an id grouped like one
    if len(groups) == 1:
        digits = groups[0]
        if international:
            return True
        # a bare national number needs its trunk prefix to stand out from
        # epoch times and numeric ids, or a short value of its own with the
        # ten digits of a North American or Indian mobile number (epoch
        # seconds start with 1 until 2033, which neither plan allows)
        if short and len(digits) == 10 and digits[0] in "23456789":
            return True  # (the caller checks the words beside it)
        return digits[0] == "0" and digits[1] != "0" and 10 <= len(digits) <= 11
    if not international and _DATE.search(candidate):
        return False  # (no date starts with "+": "+81-3-1234-5678" is Tokyo)
    separators = set(body) - set("0123456789+")
    if "." in separators:
        dots = body.count(".")
        if dots == 1 and separators == {"."} and not _trunk(groups[0]):
            return False  # a decimal number
        if any(len(group) == 1 for group in groups[1:]):
            return False  # a version string
        octets = separators == {"."} and len(groups) == 4
        if octets and all(len(g) <= 3 and int(g) <= 255 for g in groups):
            return False  # an IPv4 address
    return True


# the cache holds recent candidates (phone numbers) in memory, as the
# request being scanned does; it never leaves the process
@functools.lru_cache(maxsize=4096)
def _check(
    candidate: str, regions: tuple[str, ...]
) -> tuple[tuple[int, int, float, str], ...]:
    """Numbers inside ``candidate``: (start, end, score, reason) each."""
    text, offsets = _for_library(candidate)

    if text.startswith("+"):
        found = _match(text, None, Leniency.VALID)
        return tuple(
            (offsets[s], offsets[e - 1] + 1, 0.9, "numbering plan, international")
            for s, e in found
        )

    for region in regions:
        found = _match(text, region, Leniency.VALID)
        if found:
            return tuple(
                (offsets[s], offsets[e - 1] + 1, 0.9, f"numbering plan {region}")
                for s, e in found
            )

    digits = "".join(_DIGITS.findall(text))
    grouped = len(_DIGITS.findall(text)) > 1
    if grouped and digits[0] == "0" and digits[1] != "0":
        for region in regions:
            found = _match(text, region, Leniency.POSSIBLE)
            if found:
                return tuple(
                    (offsets[s], offsets[e - 1] + 1, 0.6, f"possible number {region}")
                    for s, e in found
                )
    return ()


def _trunk(group: str) -> bool:
    """Whether a digit group opens with a trunk prefix ("0" then a
    non-zero digit, three digits or more): no decimal number starts so."""
    return len(group) >= 3 and group[0] == "0" and group[1] != "0"


def _for_library(candidate: str) -> tuple[str, list[int]]:
    """The candidate with ``%2B`` read as ``+`` and slashes as spaces (the
    library takes slash-separated digits for dates), and each character's
    offset."""
    candidate = candidate.replace("/", " ")
    if candidate[:3] in ("%2B", "%2b"):
        return "+" + candidate[3:], [0, *range(3, len(candidate))]
    return candidate, list(range(len(candidate)))


def _match(text: str, region: str | None, leniency: int) -> list[tuple[int, int]]:
    matcher = PhoneNumberMatcher(text, region, leniency=leniency)
    return [(m.start, m.end) for m in matcher]
