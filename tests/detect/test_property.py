"""Properties that hold for any string: the scanner never raises and every
span lies inside the string, in order and without overlaps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from redline.detect import DETECTORS, Scanner, build_detector, redact
from redline.detect.scanner import PLAIN

scanner = Scanner(
    [build_detector(name) for name in DETECTORS]
    + [build_detector("national_id:fr.nir")]
)

# arbitrary Unicode, and text built from pieces the detectors react to, so
# that the deeper paths (decoded views, offset maps, validators) are reached
PIECES = st.sampled_from(
    [
        "@", "%40", "%2B", "%", "=", "?", "&", "://", ":", ".", "-", " ", "\u3000",
        "\uff10", "\uff20", "\ufb01", "\u2460", "\u0301", "\U0001d7ce", "+44",
        "0", "4111", "1111", "eyJ", "sk-", "AKIA", "Bearer ", "token=", "GB82",
        "ssn ", "マイナンバー", "jane", "example.com", "192.0.2.", "::", "fe80",
        "the ", "please ", "です。",
    ]
)  # fmt: skip
# lone surrogates too: a JSON decoder lets "\ud800" through
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.one_of(
    st.text(),
    st.text(alphabet=ANY_CHAR),
    st.lists(PIECES | st.text(ANY_CHAR, max_size=3)).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_scanner_never_raises_and_spans_stay_inside(text: str) -> None:
    spans = scanner.scan(text)
    position = 0
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert span.start >= position
        position = span.end
    redact(text, spans)


# the scanner answers a string that is one UUID or one ISO date-time at once,
# without running a detector: that holds only if no detector would have
# found anything in it, which the scan below the shortcut checks
PLAIN_VALUES = st.from_regex(PLAIN, fullmatch=True) | st.uuids().map(str)


@settings(max_examples=400, deadline=None)
@given(PLAIN_VALUES)
def test_what_the_scanner_skips_as_plain_no_detector_finds_anything_in(
    text: str,
) -> None:
    assert scanner.scan(text) == []
    assert scanner._scan(text, 0) == []
