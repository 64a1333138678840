"""What the scanner reads besides the string itself: its NFKC form, mapped
back to the original offsets, and the decoded values of URL parameters."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from redline.detect import EntityType, default_scanner, redact
from redline.detect._text import nfkc_view

from ._util import wide

scanner = default_scanner()


def _redacted(text: str) -> str:
    return redact(text, scanner.scan(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # full-width digits and punctuation (one character each in NFKC)
        ("電話" + wide(":090-1234-5678") + "まで", "電話" + wide(":") + "[PHONE]まで"),
        (wide("jane@example.com") + " に送って", "[EMAIL] に送って"),
        # characters whose NFKC form is longer or shorter: the ligature
        # before the address and the circled digit after it stay as written
        ("ﬁle from jane@example.com ① ok", "ﬁle from [EMAIL] ① ok"),
        ("㈱サンプル 4111 1111 1111 1111", "㈱サンプル [CREDIT_CARD]"),
    ],
)
def test_spans_found_in_the_normalised_view_replace_the_original(
    text: str, expected: str
) -> None:
    assert _redacted(text) == expected


def test_view_offsets_point_at_the_characters_they_came_from() -> None:
    text = "a\ufb01b\u2460c"  # a, the fi ligature, b, circled one, c
    view, offsets = nfkc_view(text)
    assert view == "afib1c"
    assert offsets == [0, 1, 1, 2, 3, 4]
    assert nfkc_view("plain ascii") == ("plain ascii", None)
    assert nfkc_view("東京") == ("東京", None)  # already NFKC


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (urllib.parse.quote("jane.doe@example.com", safe="").replace(".", "%2E"),
         EntityType.EMAIL),
        ("jane%2540example.com", EntityType.EMAIL),  # encoded twice
        (_b64url("jane@example.com"), EntityType.EMAIL),
        (_b64url('{"card":"4111 1111 1111 1111"}'), EntityType.CREDIT_CARD),
        (_b64url("+44 20 7946 0958"), EntityType.PHONE),
    ],
)  # fmt: skip
def test_a_hit_in_a_decoded_parameter_redacts_the_whole_value(
    value: str, kind: EntityType
) -> None:
    url = f"https://app.example.com/signup?ctx={value}&utm_source=mail"
    spans = scanner.scan(url)
    assert [span.type for span in spans] == [kind]
    assert redact(url, spans) == (
        f"https://app.example.com/signup?ctx=[{kind.value}]&utm_source=mail"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/?utm_source=news%20letter&q=blue%20shirts",
        "https://app.example.com/?state=" + _b64url("just some state here"),
        "https://app.example.com/?h=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "https://app.example.com/?id=0190a5c2-0000-7000-8000-00000000b101",
    ],
)
def test_decoded_parameters_without_findings_stay(url: str) -> None:
    assert scanner.scan(url) == []


def test_exact_spans_stand_when_the_raw_text_showed_them_already() -> None:
    url = "https://s3.example.com/?scope=AKIAIOSFODNN7EXAMPLE%2F20240610"
    assert _redacted(url) == "https://s3.example.com/?scope=[API_KEY]%2F20240610"


def test_a_bare_number_under_a_phone_name_is_read_as_a_phone() -> None:
    url = "https://app.example.com/callback?phone=2025550143&utm_source=sms"
    assert _redacted(url) == (
        "https://app.example.com/callback?phone=[PHONE]&utm_source=sms"
    )
    # under any other name, ten digits are an id
    assert scanner.scan("https://app.example.com/p?n=2025550143") == []
    assert scanner.scan("https://app.example.com/p?id=621498320257") == []
