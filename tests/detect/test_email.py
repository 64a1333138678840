"""Email detector: positives and near misses.

Test vectors: addresses under the RFC 2606 / RFC 6761 reserved names
(example.com, .org, .net, .test), the IDN form of "bücher" from RFC 3492's
punycode examples, and look-alikes seen in analytics data (retina image
names, npm package specs, @-mentions).
"""

from __future__ import annotations

import pytest

from redline.detect import EmailDetector, EntityType

from ._util import found, scanned, wide

POSITIVES = [
    # (text, the address as it must be reported)
    ("jane.doe@example.com", "jane.doe@example.com"),
    ("Jane.Doe+news@Mail.Example.CO.UK", "Jane.Doe+news@Mail.Example.CO.UK"),
    ("ops@eu.west.sub.example.org", "ops@eu.west.sub.example.org"),
    ("contact: a_b-c@example.net.", "a_b-c@example.net"),
    ("mailto:jane@example.com?subject=hi", "jane@example.com"),
    ("?e=jane.doe@example.com&h=1c2ad484", "jane.doe@example.com"),
    ("email=jane.doe%40example.com&x=1", "jane.doe%40example.com"),
    ("email=jane.doe%40EXAMPLE.com", "jane.doe%40EXAMPLE.com"),
    ("next=%2Fjane%40example.com", "jane%40example.com"),
    ("to=jane%2Bnews%40example.com", "jane%2Bnews%40example.com"),
    ("連絡はtaro.test@example.comまで。", "taro.test@example.com"),
    ("x@bücher.example", "x@bücher.example"),
    ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
    (wide("JANE@EXAMPLE.COM"), wide("JANE@EXAMPLE.COM")),
    ('attr__value="jane.doe@example.com"nth-child', "jane.doe@example.com"),
]

NEAR_MISSES = [
    "user@localhost",  # no dot-TLD
    "root@server",
    "foo@2x.png",  # retina image names
    "icon@3x.webp",
    "logo@1.5x.jpg",
    "bundle@main.js",
    "@scope/pkg@1.2.3",  # npm package spec
    "https://medium.com/@jane.doe",  # a mention, no local part
    "jane.@example.com",  # local part ends with a dot
    "jane..doe@example.com",
    "jane@example.c",  # one-letter TLD
    "user@192.0.2.1",  # address literal without brackets
    "50%40 off",
    "plain text without at signs",
]


@pytest.mark.parametrize(("text", "address"), POSITIVES)
def test_email_is_found(text: str, address: str) -> None:
    assert found(EmailDetector(), text) == [address]


@pytest.mark.parametrize(("text", "address"), POSITIVES)
def test_email_is_found_through_the_scanner(text: str, address: str) -> None:
    assert scanned(EmailDetector(), text) == [address]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_email_look_alike_is_not_reported(text: str) -> None:
    assert found(EmailDetector(), text) == []


def test_every_address_in_a_list_is_found() -> None:
    text = "cc: a@example.com, b@example.org; c@example.net"
    assert found(EmailDetector(), text) == [
        "a@example.com",
        "b@example.org",
        "c@example.net",
    ]


def test_percent_encoded_address_says_so_and_never_quotes_it() -> None:
    (span,) = EmailDetector().find("e=jane%40example.com")
    assert span.type is EntityType.EMAIL
    assert "encoded" in span.reason
    assert "jane" not in span.reason
