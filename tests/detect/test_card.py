"""Card detector: positives and near misses.

Test vectors: the networks' published test card numbers (Visa 4111 1111
1111 1111 and 4012 8888 8888 1881, Mastercard 5555 5555 5555 4444 and
2223 0000 4841 0010, Amex 3782 822463 10005, Discover 6011 1111 1111 1117,
JCB 3530 1113 3330 0000, Diners 3056 9309 0259 04). The near misses are
the Luhn-valid decoys of leak case BH-28 (an epoch in milliseconds, one in
microseconds, UUID groups run together, a Visa test number as the fraction
of a decimal), a bad check digit, and ids and prices.
"""

from __future__ import annotations

import pytest

from redline.detect import CreditCardDetector
from redline.detect.card import issuer, luhn_ok

from ._util import found, scanned, wide

POSITIVES = [
    ("4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("4111-1111-1111-1111", "4111-1111-1111-1111"),
    ("4111111111111111", "4111111111111111"),
    ("Card 4012888888881881 was declined", "4012888888881881"),
    ("mc 5555 5555 5555 4444.", "5555 5555 5555 4444"),
    ("2223000048410010", "2223000048410010"),
    ("amex 3782 822463 10005", "3782 822463 10005"),
    ("6011111111111117", "6011111111111117"),
    ("3530111333300000", "3530111333300000"),
    ("30569309025904", "30569309025904"),
    ("カード番号4111-1111-1111-1111で支払いました", "4111-1111-1111-1111"),
    (wide("4111 1111 1111 1111"), wide("4111 1111 1111 1111")),
    ('"note":"card 4111111111111111 is on file"', "4111111111111111"),
]

NEAR_MISSES = [
    "4111 1111 1111 1112",  # bad check digit
    "4111111111111112",
    "1718035200001",  # BH-28: epoch milliseconds, Luhn-valid, no issuer
    "1718035200123401",  # BH-28: epoch microseconds
    "7c1e9a42-3b5d-4f60-8000-411111111102",  # BH-28: UUID groups
    "0.4012888888881881",  # BH-28: a Visa test number as a fraction
    "sampling=0.4012888888881881",
    "ORD-4111111111111111",  # inside an order id
    "ord_4111111111111111",
    "id4111111111111111",
    "4111111111111111111111",  # longer than any card
    "4111 1111 1111 1111 1111 1111",  # a longer group run
    "3782822463100050",  # Amex prefix with a Visa length
    "0000000000000000",  # Luhn-valid, no network
    "129.99",
    "4917000528860",  # an EAN-13 barcode that passes Luhn
    "4222222222222",  # Visa's old 13-digit test number: no longer issued
    "499-6418961-8713454",  # an order id grouped 3-7-7
    "5d1c0a2b-0000-4000-8000-000000000122",
]


@pytest.mark.parametrize(("text", "number"), POSITIVES)
def test_card_number_is_found(text: str, number: str) -> None:
    assert found(CreditCardDetector(), text) == [number]


@pytest.mark.parametrize(("text", "number"), POSITIVES)
def test_card_number_is_found_through_the_scanner(text: str, number: str) -> None:
    assert scanned(CreditCardDetector(), text) == [number]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_card_look_alike_is_not_reported(text: str) -> None:
    assert found(CreditCardDetector(), text) == []


@pytest.mark.parametrize(
    ("digits", "ok"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True)],
)
def test_luhn_check(digits: str, ok: bool) -> None:
    # 79927398713 is the worked example of the Luhn algorithm's description
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("digits", "network"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
        ("1718035200001", None),
    ],
)
def test_issuer_prefixes(digits: str, network: str | None) -> None:
    assert issuer(digits) == network


def test_reason_names_the_network_not_the_number() -> None:
    (span,) = CreditCardDetector().find("4111 1111 1111 1111")
    assert span.reason == "luhn, visa prefix"
