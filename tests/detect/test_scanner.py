"""The scanner: overlaps, failing closed, redaction, and the public surface."""

from __future__ import annotations

import logging
import re
import time

import pytest

import redline.detect
from redline.detect import (
    DETECTORS,
    MAX_LENGTH,
    EmailDetector,
    EntityType,
    Scanner,
    Span,
    default_scanner,
    redact,
)

from ._util import wide


class Fixed:
    """A detector that reports what it is told to."""

    def __init__(self, *spans: tuple[int, int, float], kind: EntityType) -> None:
        self.type = kind
        self._spans = spans

    def find(self, text: str) -> list[Span]:
        return [Span(self.type, s, e, score, "fixed") for s, e, score in self._spans]


class Broken:
    type = EntityType.PHONE

    def find(self, text: str) -> list[Span]:
        raise ValueError(f"cannot parse {text!r}")  # quotes the value on purpose


def test_public_surface_is_pinned() -> None:
    assert sorted(redline.detect.__all__) == sorted(
        [
            "DEFAULT_DETECTORS",
            "DETECTORS",
            "MAX_LENGTH",
            "ApiKeyDetector",
            "CreditCardDetector",
            "CredentialDetector",
            "Detector",
            "EmailDetector",
            "EntityType",
            "FreeTextDetector",
            "IbanDetector",
            "IpAddressDetector",
            "JpMyNumberDetector",
            "JwtDetector",
            "NationalIdDetector",
            "PhoneDetector",
            "Scanner",
            "Span",
            "UsSsnDetector",
            "build_detector",
            "default_scanner",
            "detector_name_error",
            "redact",
        ]
    )


def test_detectors_are_named_as_the_policy_names_them() -> None:
    assert sorted(DETECTORS) == sorted(
        [
            "email",
            "phone",
            "credit_card",
            "iban",
            "us_ssn",
            "jp_my_number",
            "ip_address",
            "jwt",
            "api_key",
            "credential",
            "free_text",
        ]
    )
    for name, cls in DETECTORS.items():
        detector = cls()
        assert detector.type.value.lower() == name
        assert isinstance(getattr(detector, "trigger", None), re.Pattern)


@pytest.mark.parametrize(
    "text",
    [
        "Chrome",
        "1718035200",
        "0190a5c2-0000-7000-8000-00000000b101",
        "2024-06-10T12:00:00.000Z",
        "https://app.example.com/settings?tab=billing&utm_source=newsletter",
        "phc_TESTprojectKEY00000000000000000000000000000",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36",
        "",
    ],
)
def test_clean_analytics_value_has_no_spans(text: str) -> None:
    assert default_scanner().scan(text) == []


def test_spans_come_sorted_by_start() -> None:
    text = "call +1 202-555-0143 or mail jane@example.com from 192.0.2.1"
    spans = default_scanner().scan(text)
    assert [span.type for span in spans] == [
        EntityType.PHONE,
        EntityType.EMAIL,
        EntityType.IP_ADDRESS,
    ]
    assert [span.start for span in spans] == sorted(span.start for span in spans)


def test_overlap_keeps_the_higher_score() -> None:
    low = Fixed((0, 10, 0.5), kind=EntityType.PHONE)
    high = Fixed((5, 8, 0.9), kind=EntityType.EMAIL)
    (span,) = Scanner([low, high]).scan("x" * 20)
    assert (span.type, span.start, span.end) == (EntityType.EMAIL, 5, 8)


def test_overlap_with_equal_scores_keeps_the_longer() -> None:
    short = Fixed((2, 6, 0.9), kind=EntityType.PHONE)
    long = Fixed((0, 10, 0.9), kind=EntityType.CREDIT_CARD)
    (span,) = Scanner([short, long]).scan("x" * 20)
    assert span.type is EntityType.CREDIT_CARD


def test_spans_that_only_touch_are_both_kept() -> None:
    left = Fixed((0, 5, 0.9), kind=EntityType.EMAIL)
    right = Fixed((5, 9, 0.5), kind=EntityType.PHONE)
    spans = Scanner([left, right]).scan("x" * 20)
    assert [(s.start, s.end) for s in spans] == [(0, 5), (5, 9)]


def test_url_password_wins_over_the_email_look_alike_it_contains() -> None:
    text = "https://jane:hunter2@example.com/"
    assert (
        redact(text, default_scanner().scan(text))
        == "https://[CREDENTIAL]@example.com/"
    )


def test_jwt_in_a_bearer_header_is_redacted_once() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz"
    text = f"Authorization: Bearer {token}"
    assert redact(text, default_scanner().scan(text)) == "Authorization: Bearer [JWT]"


def test_detector_error_masks_the_whole_string_and_logs_no_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = "jane@example.com"
    with caplog.at_level(logging.WARNING, logger="redline.engine"):
        spans = Scanner([EmailDetector(), Broken()]).scan(text)
    assert spans == [Span(EntityType.UNSCANNABLE, 0, len(text), 1.0, "detector error")]
    assert "Broken" in caplog.text and "ValueError" in caplog.text
    assert "jane" not in caplog.text


def test_span_outside_the_string_counts_as_a_detector_error() -> None:
    (span,) = Scanner([Fixed((3, 99, 0.9), kind=EntityType.EMAIL)]).scan("short")
    assert (span.type, span.reason) == (EntityType.UNSCANNABLE, "detector error")


def test_string_over_the_limit_is_masked_whole_without_scanning() -> None:
    scanner = Scanner([Broken()], max_length=10)
    assert scanner.scan("x" * 10) == [
        Span(EntityType.UNSCANNABLE, 0, 10, 1.0, "detector error")
    ]
    (span,) = scanner.scan("x" * 11)
    assert (span.start, span.end, span.reason) == (0, 11, "too long to scan")
    assert redact("x" * 11, [span]) == "[UNSCANNABLE]"


def test_default_limit_is_64_kib_of_characters() -> None:
    text = "a" * (64 * 1024 + 1)
    (span,) = default_scanner().scan(text)
    assert span.type is EntityType.UNSCANNABLE


def test_detector_without_a_trigger_runs_on_every_string() -> None:
    always = Fixed((0, 1, 0.9), kind=EntityType.EMAIL)
    assert len(Scanner([always]).scan("no trigger here")) == 1


def test_redact_replaces_each_span_with_its_type() -> None:
    text = "mail jane@example.com or call +1 202-555-0143"
    assert redact(text, default_scanner().scan(text)) == "mail [EMAIL] or call [PHONE]"


def test_redact_without_spans_returns_the_text() -> None:
    assert redact("nothing here", []) == "nothing here"


def test_redact_covers_the_union_of_overlapping_spans() -> None:
    spans = [
        Span(EntityType.PHONE, 6, 12, 0.9, "x"),
        Span(EntityType.EMAIL, 2, 8, 0.9, "x"),
    ]
    assert redact("0123456789abcdef", spans) == "01[EMAIL]cdef"


def test_redact_refuses_spans_outside_the_text() -> None:
    with pytest.raises(ValueError, match="outside"):
        redact("abc", [Span(EntityType.EMAIL, 1, 9, 0.9, "x")])


def test_redacting_twice_changes_nothing_more() -> None:
    scanner = default_scanner()
    text = (
        "jane@example.com 4111 1111 1111 1111 https://u:p4ss@example.com "
        "?token=abc123 Bearer tok_1234567890 198.51.100.23 +44 20 7946 0123"
    )
    once = redact(text, scanner.scan(text))
    assert scanner.scan(once) == []
    assert redact(once, scanner.scan(once)) == once


def test_full_width_text_is_scanned_and_offsets_stay_on_the_original() -> None:
    text = "連絡は" + wide("jane@example.com") + "まで"
    assert redact(text, default_scanner().scan(text)) == "連絡は[EMAIL]まで"


@pytest.mark.parametrize(
    "piece",
    [
        "eyJ",
        "192.0.2.1 ",
        "a@",
        "%40",
        "::",
        "1 ",
        "sk-",
        "?token=",
        "Bearer ",
        "password=ab12 ",
        "a" * 500 + "://",
        "::ffff:192.0.2.1 ",
    ],
)
def test_adversarial_string_at_the_limit_is_scanned_in_bounded_time(
    piece: str,
) -> None:
    # each of these made one detector quadratic at some point; a linear
    # scan of 64 KiB takes milliseconds, the bound only catches a regression
    text = (piece * (MAX_LENGTH // len(piece) + 1))[:MAX_LENGTH]
    started = time.perf_counter()
    spans = default_scanner().scan(text)
    assert time.perf_counter() - started < 2.0
    assert all(0 <= span.start < span.end <= len(text) for span in spans)
