"""The scanner's shortcut must never cost a finding.

The scanner runs a detector only when the detector's ``trigger`` is found in
the probe (folded, lower-cased text). A trigger that is narrower than its
detector would let values through, so each detector is run, with and without
the scanner, over strings built at random from the pieces its patterns care
about: digit runs, separators, prefixes, names, letters and CJK text.
"""

from __future__ import annotations

import random
import zlib

import pytest

from redline.detect import DETECTORS, Detector, Scanner

from ._util import wide

PIECES = [
    # digits and separators
    "0", "1", "4", "7", "020", "202", "555", "0143", "7946", "0123", "4111",
    "1111", "192", "51", "100", "23", "2024", "06", "12", "99999999",
    " ", " ", "-", ".", "(", ")", "+", "/", ":", "::", ",", "_", "%", "%2B",
    "%3D", "%40", "%2F", "=", "&", "?", "#", "\"", "'", "[", "]", "\n",
    # letters and words
    "a", "f", "x", "A", "Z", "fe80", "db8", "ffff", "eyJ", "eyJhbGciOiJub25lIn0",
    "example", ".com", "@", "tel", "v", "Chrome/", "T", "Z",
    # prefixes and names
    "sk-", "sk_live_", "AKIA", "ghp_", "xoxb-", "AIza", "SK", "SG.", "npm_",
    "glpat-", "-----BEGIN PRIVATE KEY-----", "Bearer ", "Basic ", "dXNlcjpwYXNz",
    "token", "password", "Password", "api_key", "X-Amz-Signature", "secret",
    "code", "://", "https://", "u:p@",
    # whole positives, to be cut into and surrounded by the pieces above
    "jane@example.com", "+1 202-555-0143", "020 7946 0123", "4111 1111 1111 1111",
    "4111111111111111", "198.51.100.23", "2001:db8::1",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "AKIAIOSFODNN7EXAMPLE",
    "sk_live_A1b2C3d4E5f6G7h8J9k0", "?token=abc123", "password: Pa55word",
    "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89", "SSN ",
    "536-90-4399", "536904399", "6214 9832 0257", "621498320257", "マイナンバー",
    "my ", "the ", "please help me with ", "we were in ", "今日は", "東京の天気を",
    "教えてください。",
    # other scripts and widths
    "連絡", "で", "アイウエオカキクケコ", "\u3400\u3401\u3402", "\u3002",
    wide("0"), wide("7"), wide("@"), wide("-"), "\u3000",
]  # fmt: skip


def _strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_trigger_is_found_wherever_the_detector_finds_something(name: str) -> None:
    detector: Detector = DETECTORS[name]()
    scanner = Scanner([detector])
    hits = 0
    for text in _strings(seed=zlib.crc32(name.encode()), count=4000):
        if detector.find(text):
            hits += 1
            assert scanner.scan(text), f"{name} trigger misses {text!r}"
    assert hits > 20  # the strings do exercise the detector
