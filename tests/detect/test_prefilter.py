"""The whole-record pre-filter must never call a string clean where the
full scanner would find something.

For every string, the scanner runs a detector only when the string has the
detector's ``min_digits`` and its trigger is found in the probe; it scans a
decoded view only when :func:`encoded_values` yields one; and the record
redactor replaces a value whole only under a key :func:`secret_key` names.
The pre-filter must name the string, and each detector that finds
something in it, wherever these hold: checked on generated strings (pieces
the detectors react to, and arbitrary Unicode), on edge cases, on every
value of the labelled corpus, and by redacting records both ways (through
the filter and by the plain walk) and comparing the output.
"""

from __future__ import annotations

import unicodedata

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redline.detect import prefilter
from redline.detect._text import nfkc_view
from redline.detect._views import encoded_values
from redline.detect.prefilter import LineFilter
from redline.detect.records import RecordRedactor, secret_key
from redline.detect.scanner import _digits, _plain
from redline.quality import generate
from redline.quality.pipeline import redactor

REDACTOR = redactor()
SCANNER = REDACTOR.scanner
FILTER = LineFilter(SCANNER.detectors, SCANNER.max_length)

PIECES = st.sampled_from(
    [
        # digits, separators, encodings
        "0", "1", "4", "7", "020", "202", "555", "0143", "7946", "4111", "1111",
        "192", "51", "100", "2024", "06", "12", "99999999", "1765231289175",
        " ", "-", ".", "(", ")", "+", "/", ":", "::", ",", "_", "%", "%2B", "%3D",
        "%40", "%2F", "=", "&", "?", "#", "'", "[", "]", "\n", "\t", "\u2028",
        "\u0085", "\u1680", "\u00a0", "\u3000", "\u2011", "\u2212", "\u30fc",
        # letters, words, names
        "a", "f", "x", "A", "Z", "e", "K", "\u212a", "\u0130", "\u0301", "fe80",
        "eyJ", "example", ".com", "@", "\uff20", "tel", "phone=", "Chrome/",
        "sk-", "sk_live_", "AKIA", "ghp_", "xoxb-", "AIza", "SK", "SG.", "npm_",
        "glpat-", "-----BEGIN PRIVATE KEY-----", "Bearer ", "Basic ", "token",
        "password", "Pass", "api_key", "X-Amz-Signature", "secret", "code",
        "session", "sid", "$", "\uff04", "://", "https://", "u:p@", "ssn",
        "GB82", "DE89", "FR76", "マイナンバー", "the ", "please ", "we were ",
        "今日は", "東京の天気を", "教えてください。", "アイウエオカキクケコ", "\u3002",
        # whole positives
        "jane@example.com", "+1 202-555-0143", "020 7946 0123",
        "4111 1111 1111 1111", "4111111111111111", "198.51.100.23", "2001:db8::1",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "AKIAIOSFODNN7EXAMPLE",
        "?token=abc123", "password: Pa55word", "GB82 WEST 1234 5698 7654 32",
        "536-90-4399", "6214 9832 0257", "621498320257", "amFuZUBleGFtcGxlLmNvbQ",
        "\uff10\uff19\uff10\uff0d\uff11\uff12\uff13\uff14\uff0d\uff15\uff16\uff17\uff18",
    ]
)  # fmt: skip
TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(exclude_categories=("Cs",))),
    st.lists(PIECES | st.text(max_size=3), max_size=24).map("".join),
)


def _needed(text: str) -> tuple[set[int], bool]:
    """The detectors that find something in ``text`` when the scanner runs
    them (their digits and trigger let them), and whether the scanner would
    scan a decoded view of it. A detector the filter does not name for a
    string is not run on it: that changes nothing only if it would have
    found nothing there."""
    if len(text) > SCANNER.max_length or _plain(text) is not None:
        return set(), False
    view, _ = nfkc_view(text)
    probe = " " + view.lower()
    digits = _digits(view)
    run = {
        index
        for index, (detector, search, min_digits) in enumerate(SCANNER._gated)
        if digits >= min_digits
        and (search is None or search(probe) is not None)
        and detector.find(view)
    }
    views = "=" in text and any(True for _ in encoded_values(text))
    return run, views


def _check(text: str) -> None:
    """``text`` as a value, as a key and in a list: named wherever needed."""
    run, views = _needed(text)
    for record, index in (({"k": text}, 3), ({text: 1}, 1), ([0, text], 1)):
        line = orjson.dumps(record)
        flagged = FILTER.pieces(line)
        if flagged is None:
            continue  # walked as before: nothing to hold the filter to
        assert line.split(b'"')[index].decode() == text
        if run or views:
            assert index in flagged, f"string not named: {text!r}"
            assert run <= flagged[index], f"detectors not named: {text!r}"
        if isinstance(record, dict) and text in record and secret_key(text):
            assert index in flagged, f"secret key not named: {text!r}"


@settings(max_examples=600, deadline=None)
@given(TEXT)
def test_every_string_the_scanner_would_look_into_is_named(text: str) -> None:
    _check(text)


# positives at the edges of what each pattern takes: the fewest words of
# free text, the fewest kana, a key named only by a suffix, one letter before
# a routing name, a 13-digit card, full-width and odd-space forms
EDGES = [
    "Please tell me how to do this now",
    "\u3042\u3044\u3046\u3048\u304a\u304b\u304d\u304f\u3051\u3053\u3055\u3057",
    "\u30a2\u30a4\u30a6\u30a8\u30aa\u30ab\u30ad\u30af\u30b1\u30b3\u30b5\u30b7\u3002",
    "x_token",
    "X-Session-Token",
    "client_secret",
    "pass",
    "s.i.d",
    "x-t-o-k-e-n",
    "Ktoken",
    "S\u0130d",
    "\uff58_token",
    "x_api\u212aey",
    "xapikey",
    "30569309025904",
    "3056 9309 0259 04",
    "+44 20 7946 0958",
    "(020) 7946 0958",
    "020\u20117946\u20110958",
    "\uff10\uff12\uff10\u30fc\uff17\uff19\uff14\uff16",
    "ssn\u2028536904399",
    "see\u2028jane@example.com",
    "tel=2025550143",
    "q=jane%2540example.com",
    "u=amFuZUBleGFtcGxlLmNvbQ",
    "q=Please+tell+me+how+to+do+this+now",
    "SS# 536904399",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_are_named(text: str) -> None:
    assert SCANNER.scan(text) or secret_key(text)  # each is a positive
    _check(text)
    _both_ways({text: text, "k": [text, {"v": text}]})


@pytest.mark.parametrize(
    "record",
    [
        {"n": 30569309025904},
        {"n": [1, 30569309025904]},
        {"n": -30569309025904},
        {"n": [-4111111111111111, 1765231289175, 4111111111111111.0]},
    ],
)
def test_long_integers_are_named_and_redacted_as_the_walk_does(record: dict) -> None:
    flagged = FILTER.pieces(orjson.dumps(record))
    assert flagged and all(index % 2 == 0 for index in flagged)
    _both_ways(record)


def _values(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *_values(item))]
    if isinstance(value, list):
        return [s for item in value for s in _values(item)]
    return []


@pytest.mark.parametrize("locales", [None, ["ja_JP"]])
def test_every_value_of_the_labelled_corpus_is_named_where_needed(
    locales: list[str] | None,
) -> None:
    kwargs = {"locales": locales} if locales else {}
    items = list(generate(600, seed=11, **kwargs))
    strings = {s for item in items for s in _values(item.event)}
    assert len(strings) > 3000
    for text in strings:
        _check(text)


def _both_ways(record: object) -> None:
    walked = RecordRedactor()
    walked._line_filter = lambda: None  # type: ignore[method-assign]
    filtered = RecordRedactor()
    expected, expected_counts = walked.redact(record)
    got, counts = filtered.redact(record)
    assert orjson.dumps(got) == orjson.dumps(expected)
    assert counts == expected_counts


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | TEXT
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from(
        [4111111111111111, -5555555555554444, 30569309025904, 1765231289175]
    ),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(TEXT | PIECES, children, max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT | PIECES, JSON, max_size=6))
def test_records_come_out_as_the_walk_makes_them(record: dict) -> None:
    _both_ways(record)


def test_labelled_events_come_out_as_the_walk_makes_them() -> None:
    for item in generate(400, seed=12):
        _both_ways(item.event)
    for item in generate(200, seed=13, locales=["ja_JP"]):
        _both_ways(item.event)


def test_a_clean_record_passes_untouched_and_a_dirty_one_is_redacted() -> None:
    clean = {"event": "Page Viewed", "properties": {"$browser": "Firefox"}}
    assert FILTER.pieces(orjson.dumps(clean)) == {}
    assert RecordRedactor().redact(clean) == (clean, {})
    dirty = {"event": "Signup", "properties": {"email": "jane@example.com"}}
    out, counts = RecordRedactor().redact(dirty)
    assert out["properties"]["email"] == "[EMAIL]"
    assert counts == {"EMAIL": 1}


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "record",
    [
        {"quote": 'a "quoted" word'},  # an escape: a backslash in the line
        {"deep": _nested(70)},  # the redactor caps nesting
        {"wide": "\uff02"},  # full-width quote: folding would make a '"'
    ],
)
def test_lines_the_filter_cannot_read_are_walked(record: dict) -> None:
    assert FILTER.pieces(orjson.dumps(record)) is None
    _both_ways(record)


class _Unpatterned:
    """A detector the pre-filter has no pattern for (as the optional NER
    backend, which needs packages the test set-up does not install)."""

    name = "unpatterned"


def test_a_detector_without_a_pattern_turns_the_filter_off() -> None:
    detectors = [*SCANNER.detectors, _Unpatterned()]
    built = LineFilter(detectors, SCANNER.max_length)  # type: ignore[list-item]
    assert not built.available


def test_the_whitespace_and_case_tables_match_unicode() -> None:
    # whitespace NFKC leaves non-ASCII: the probe makes these spaces
    odd = {
        code
        for code in range(0x80, 0x110000)
        if chr(code).isspace() and unicodedata.normalize("NFKC", chr(code)) == chr(code)
    }
    assert odd == set(prefilter._SPACES)
    # the only characters whose lower case holds an ASCII character
    lowered = {
        code
        for code in range(0x80, 0x110000)
        if any(char.isascii() for char in chr(code).lower())
    }
    assert lowered == {0x130, 0x212A}
    assert unicodedata.normalize("NFKC", "\u212a") == "K"
