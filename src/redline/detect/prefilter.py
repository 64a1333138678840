"""One pass over a whole serialised record: which of its strings need a scan.

Most events carry nothing, yet :class:`~redline.detect.records.RecordRedactor`
used to walk every string of each in Python and put every new one through
the scanner. This pre-filter runs one compiled set of patterns
(Hyperscan, in C) over the record's JSON text in the scanner's probe form
(width-folded, lower case) and names the strings in which some detector's
trigger, a decoded URL parameter or a secret's key name could be found.
An event in which nothing is named passes untouched; otherwise only the
named strings are scanned.

The patterns stand for what the scanner runs on each string: each
detector's trigger (or a narrower shape taken from the detector itself,
such as the API key shapes and the IBAN registry's country codes) with its
look-arounds dropped or turned into a consumed character, the decoded views
of :mod:`._views` (an ``=`` followed by a ``%`` or ``+``, ten characters
of digits, sixteen of base64), and the key names
:func:`~redline.detect.records.secret_key` calls secret (their letters in
order, anything but letters and digits between). Where a pattern is wider
than what it stands for, it costs a scan, never a finding. Each string
comes back with the detectors whose patterns matched in it, and the scanner
runs only those (:meth:`~redline.detect.scanner.Scanner.scan`'s ``only``).
``tests/detect/test_prefilter.py`` holds all of it to the full scanner on
generated strings and records and on the labelled corpus.

Positions: the body of every pattern lies inside one string (no class lets
a ``"`` in, and a line holding a backslash, hence an escaped quote, is not
filtered at all) or, for long integers, in the text between two strings;
a tail then takes the match on to the string's closing quote (or to the
next quote, or the line's end, after an integer). So every match ends on a
quote, each string is reported once per pattern however many times the
body matches in it, and the quotes before that end number the string.

Lines the pre-filter cannot read return None (the caller walks the record
as before): a backslash, a quote that width folding would create, a line
longer than the scanner reads, nesting the redactor caps, or a detector
with no pattern here (NER, national ids).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from ._span import Detector
from ._text import nfkc_char
from .apikey import _SHAPES as API_KEY_SHAPES
from .apikey import ApiKeyDetector
from .card import CreditCardDetector
from .credential import TRIGGER_NAMES, CredentialDetector
from .email import EmailDetector
from .freetext import MIN_CJK, MIN_WORDS, FreeTextDetector
from .iban import IbanDetector, _country_codes
from .ip import IpAddressDetector
from .jwt import JwtDetector
from .mynumber import JpMyNumberDetector
from .phone import PhoneDetector
from .ssn import UsSsnDetector

try:  # the pre-filter is an optimisation: without Hyperscan, records are walked
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan installs with redline
    hyperscan = None  # type: ignore[assignment]

# (body, tail): the tail takes a match on to the end of its string (its
# closing quote), so that each string is reported once whatever the body
_Patterns = tuple[tuple[str, str], ...]
TO_END = '[^"]*"'
AFTER_KEY = '"'  # a key's letters, then its closing quote
INTEGER = '[^"]*(?:"|$)'  # the text between strings ends at a quote, or the line's end


def _then(excluded: str) -> str:
    """A tail for a body followed by one character not in ``excluded``
    (a consumed look-ahead); the closing quote itself is such a character."""
    return f'(?:[^{excluded}"][^"]*)?"'


# The probe is matched byte by byte (UTF-8), which Hyperscan does fastest:
# an ASCII class that excludes a character still takes every byte of a
# non-ASCII one, and the few non-ASCII characters a pattern names are
# spelled as their byte sequences. Whitespace that width folding leaves
# non-ASCII is made a space in the probe first (_SPACES), so that ASCII
# whitespace is all there is to count words by.
_SPACE = "\\x09-\\x0d\\x1c-\\x20"
_TOKEN = f'[^{_SPACE}"]'  # a byte of a word: not whitespace, not a quote
# kana and CJK ideographs, U+3040..9FFF and more: three bytes, E3..E9 first
_CJK = "[\\xe3-\\xe9][\\x80-\\xbf][\\x80-\\xbf]"
# the separators of phone.py's _SEP: ASCII ones, U+2010..2015, U+2212, U+30FC
_PHONE_SEP = "(?:[ .\\-()/]|\\xe2\\x80[\\x90-\\x95]|\\xe2\\x88\\x92|\\xe3\\x83\\xbc)"
# whitespace (str.isspace) that NFKC leaves as it is, other than ASCII's
# (a test holds this to str.isspace and unicodedata)
_SPACES = {0x85: " ", 0x1680: " ", 0x2028: " ", 0x2029: " "}
# what a normalised line must not hold for its ASCII bytes alone to be
# lowered: odd whitespace, and the one character whose lower case holds an
# ASCII letter (the Kelvin sign has one too, but NFKC makes it a K first;
# a test holds this); str's "in" finds one character fastest
_ODD_CHARS = (*map(chr, _SPACES), "\u0130")


def _api_key() -> _Patterns:
    shapes = []
    for _, pattern in API_KEY_SHAPES:
        # lower-cased like the probe; open-ended repeats need only their
        # minimum to be present
        shapes.append(pattern.lower().replace(",}", "}"))
    return (("|".join(shapes), TO_END), ("-----begin ", TO_END))


def _credential() -> _Patterns:
    # (a name closed by '"' cannot stand inside a string of the line)
    named = "(?:" + "|".join(TRIGGER_NAMES) + ")(?:'|\\[\\])?(?:=|:|%3d)"
    return (
        (named, TO_END),
        ("bearer|basic", TO_END),
        (f'://[^{_SPACE}/?#@"]*@', TO_END),
    )


def _phone() -> _Patterns:
    # a boundary (or a percent escape), then what phone.py's trigger wants
    start = "(?:[^0-9a-z_+\\-./%]|%[0-9a-f]{2})"
    # seven digits, the first run of them (1 to 16 long) ended by a separator
    grouped = "|".join(
        f"[0-9]{{{run}}}{_PHONE_SEP}{{1,2}}[0-9]"
        + (f"(?:{_PHONE_SEP}{{0,2}}[0-9]){{{6 - run}}}" if run < 6 else "")
        for run in range(1, 7)
    )
    return (
        (start + "\\(?(?:\\+|%2b)\\(?[0-9]", TO_END),
        (start + f"\\(?(?:[0-9]{{7,16}}{_PHONE_SEP}|{grouped})", TO_END),
        (start + "\\(?0[1-9][0-9]{8,9}", _then("0-9a-z_")),
        (start + "[2-9][0-9]{9}", _then("0-9a-z_")),
    )


_BY_TYPE: dict[type, _Patterns] = {
    EmailDetector: (("@|%40", TO_END),),
    JwtDetector: (("eyj", TO_END),),
    ApiKeyDetector: _api_key(),
    CredentialDetector: _credential(),
    CreditCardDetector: (
        ("[^0-9a-z_.,\\-/][2-6](?:[ \\-]?[0-9]){12}", TO_END),
        ("[:,\\[]-?[2-6][0-9]{12}", INTEGER),  # a JSON integer, scanned as digits
    ),
    PhoneDetector: _phone(),
    IbanDetector: (
        (f"[^a-z0-9_](?:{_country_codes()})[0-9]{{2}} ?[a-z0-9]{{4}}", TO_END),
    ),
    UsSsnDetector: (
        ('[ "\\-][0-9]{2}[ \\-][0-9]{4}|ss[n#]|social[^"]{0,4}security', TO_END),
    ),
    IpAddressDetector: (
        ("\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]|::|:[0-9a-f]{1,4}:[0-9a-f]{1,4}:", TO_END),
    ),
    JpMyNumberDetector: (
        ("[^0-9][0-9]{4}[ \\-]?[0-9]{4}[ \\-]?[0-9]{4}", _then("0-9")),
    ),
    FreeTextDetector: (
        (f"{_TOKEN}+(?:[{_SPACE}]+{_TOKEN}+){{{MIN_WORDS - 1}}}", TO_END),
        (f'{_CJK}(?:[^"]*{_CJK}){{{MIN_CJK - 1}}}', TO_END),
    ),
}

# what the scanner decodes and scans again, whatever its detectors:
# a parameter value with a percent escape or a plus, ten digits (in any
# script) under a phone's name, sixteen characters of base64
_VIEWS: _Patterns = (
    ('=[^"]*[%+]', TO_END),
    ("=[0-9\\x80-\\xff]{10}", TO_END),
    ("=[a-z0-9_\\-+/]{16}", TO_END),
)


def _letters(name: str) -> str:
    """``name`` with anything but ASCII letters and digits allowed between
    its letters and after it, as secret_key compares names."""
    between = '[^a-z0-9"]*'
    return between.join(name) + between


def _secret_keys() -> _Patterns:
    """A string (a key, or a value: wider than needed) whose letters end in
    a secret's name; ``token`` and ``apikey`` (routing ids on their own)
    only with something before them."""
    from .records import _ROUTING_NAMES, _SECRET_NAMES, _SECRET_SUFFIXES

    names = sorted(set(_SECRET_NAMES) | set(_SECRET_SUFFIXES))
    plain = [name for name in names if name not in _ROUTING_NAMES]
    routing = sorted(_ROUTING_NAMES)
    return (
        ("(?:" + "|".join(_letters(n) for n in plain) + ")", AFTER_KEY),
        ('[^"](?:' + "|".join(_letters(n) for n in routing) + ")", AFTER_KEY),
    )


@functools.lru_cache(maxsize=16)
def _compiled(patterns: _Patterns) -> bytes:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[(body + tail).encode() for body, tail in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[0] * len(patterns),
    )
    return bytes(hyperscan.dumpb(database))


_NON_ASCII = re.compile("[^\x00-\x7f]+")


def _probe(line: bytes) -> bytes | None:
    """The scanner's probe form of a non-ASCII line: each character folded
    with NFKC, lower case, odd whitespace made a space (None if folding
    made a quote)."""
    text = line.decode("utf-8")  # orjson writes valid UTF-8
    if unicodedata.is_normalized("NFKC", text):
        if not any(char in text for char in _ODD_CHARS):
            # lower case changes no ASCII character here, and no other
            # character into one: lowering the ASCII bytes is enough
            return line.lower()
        view = text
    else:
        view = _NON_ASCII.sub(_fold_run, text)
        if view.count('"') != text.count('"'):
            return None  # width folding made a quote
    view = view.lower()
    if any(chr(code) in view for code in _SPACES):
        view = view.translate(_SPACES)
    return view.encode("utf-8")


def _fold_run(match: re.Match[str]) -> str:
    run = match.group()
    if unicodedata.is_normalized("NFKC", run):
        return run  # then no character of it changes on its own either
    return "".join(nfkc_char(char) for char in run)


MAX_BRACKETS = 64  # the redactor's depth cap; more brackets are walked


class LineFilter:
    """The strings of a record's JSON text that may hold a finding.

    Built for the detectors of one scanner; ``available`` is False when
    Hyperscan is missing or a detector has no pattern here. One instance
    per thread (it holds Hyperscan scratch space).
    """

    def __init__(self, detectors: Iterable[Detector], max_length: int) -> None:
        self.max_length = max_length
        self.available = False
        patterns: list[tuple[str, str]] = [*_VIEWS, *_secret_keys()]
        # for each pattern, the index of the detector it stands for (-1: a
        # decoded view or a secret's key name, which are no detector's)
        self._owner = [-1] * len(patterns)
        for index, detector in enumerate(detectors):
            found = _BY_TYPE.get(type(detector))
            if found is None:
                return
            patterns.extend(found)
            self._owner += [index] * len(found)
        if hyperscan is None:
            return
        # compiled once per process and pattern set; each filter loads its
        # own copy, so that each has its own scratch space
        self._db = hyperscan.loadb(_compiled(tuple(patterns)), hyperscan.HS_MODE_BLOCK)
        self._db.scratch = hyperscan.Scratch(self._db)
        self._hits: list[tuple[int, int]] = []
        self.available = True

    def pieces(self, line: bytes) -> dict[int, set[int]] | None:
        """The pieces of ``line.split(b'"')`` that need a look, by index (odd
        ones are strings, even ones the text between them, where integers
        are), each with the indexes of the detectors whose triggers may be
        found in it. None when this line is not for the pre-filter."""
        if not self.available or b"\\" in line or len(line) > self.max_length:
            return None
        if line.count(b"{") + line.count(b"[") >= MAX_BRACKETS:
            return None
        probe = line.lower() if line.isascii() else _probe(line)
        if probe is None:
            return None
        hits = self._hits
        hits.clear()
        self._db.scan(probe, match_event_handler=self._hit)
        # each match ends on the quote that closes its string (or opens the
        # next one, for integers): the quotes before it number the piece
        found: dict[int, set[int]] = {}
        owner = self._owner
        for pattern, end in hits:
            index = probe.count(b'"', 0, end - 1)
            detectors = found.get(index)
            if detectors is None:
                detectors = found[index] = set()
            if owner[pattern] >= 0:
                detectors.add(owner[pattern])
        return found

    def _hit(
        self, pattern: int, start: int, end: int, flags: int, context: object
    ) -> None:
        self._hits.append((pattern, end))
