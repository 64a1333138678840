"""The audit's verdicts: the batch prefilter agrees with scanning one by one,
and masked shapes never show the value."""

from __future__ import annotations

import random

from redline.audit._classify import Classifier, _digit_counts

from .exports import write_exports

# pieces the detectors' triggers care about, to be glued together at random
PIECES = [
    *"0147 -.()+/:_%=&?#@[]\n",
    "020",
    "555",
    "0143",
    "7946",
    "4111",
    "1111",
    "192",
    "51",
    "100",
    "2024",
    "99999999",
    "::",
    "%2B",
    "%40",
    "fe80",
    "db8",
    "eyJ",
    "eyJhbGciOiJub25lIn0",
    "example",
    ".com",
    "tel",
    "Chrome/",
    "sk-",
    "sk_live_",
    "AKIA",
    "ghp_",
    "xoxb-",
    "AIza",
    "SG.",
    "npm_",
    "glpat-",
    "Bearer ",
    "Basic ",
    "token",
    "password",
    "secret",
    "https://",
    "u:p@",
    "jane@example.com",
    "+1 202-555-0143",
    "020 7946 0123",
    "4111 1111 1111 1111",
    "198.51.100.23",
    "2001:db8::1",
    "AKIAIOSFODNN7EXAMPLE",
    "sk_live_A1b2C3d4E5f6G7h8J9k0",
    "?token=abc123",
    # a base64url email and an escaped one in URL parameters: the scanner
    # decodes these, no trigger sees them raw
    "?u=amFuZUBleGFtcGxlLmNvbQ",
    "&e=jane%2Edoe%40example%2Ecom",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "078-05-1120",
    "SSN ",
    "social security",
    "1234 5678 9012",
    "password: Pa55word",
    "words of text ",
    "Mozilla/5.0 (",
]


def _strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = [rng.choice(PIECES) for _ in range(rng.randrange(1, 8))]
        out.append("".join(parts))
    return out


def test_batch_verdicts_equal_one_by_one_verdicts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    truth = write_exports(tmp_path, count=300, people=40, formats=["mixpanel"])
    values = sorted(truth["mixpanel"].planted) + _strings(5, 6000)
    values += ["x" * 70_000, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"]
    values += ["please call me tomorrow about the order", "plain", ""]
    single = Classifier()
    expected = [single.value(v) for v in values]
    for size in (1, 17, 500, len(values)):
        batch = Classifier()
        got = []
        for start in range(0, len(values), size):
            got += batch.values(values[start : start + size])
        assert got == expected, size
    assert sum(1 for v in expected if v.kinds) > 1000


def test_shapes_mask_what_was_found() -> None:
    shape = Classifier().shape
    assert shape("jane.doe@example.com") == "j***@e***.com"
    assert shape("+81 90-1234-5678") == "+81 **-****-5678"
    assert shape("4111 1111 1111 1111") == "**** **** **** 1111"
    assert shape("Plan 42") == "Aaaa 99"
    assert "jane" not in shape("mail jane.doe@example.com now")


def test_digit_counts_of_a_batch_match_counting_one_by_one() -> None:
    rng = random.Random(3)
    for _ in range(500):
        texts = [
            "".join(rng.choice("ab12 -9/") for _ in range(rng.randrange(0, 6)))
            for _ in range(rng.randrange(1, 9))
        ]
        expected = [sum(char.isdigit() for char in text) for text in texts]
        assert _digit_counts(texts) == expected, texts
