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


# a card's security code and expiry date beside it are card data: their
# values are reported, their labels kept; without a card nearby they are not
CARD_EXTRAS = [
    (
        "card 4111 1111 1111 1111 exp 12/29 cvv 123",
        ["4111 1111 1111 1111", "12/29", "123"],
    ),
    (
        "CVC: 9921, number 5555-5555-5555-4444, Expiry date: 04/2031",
        ["9921", "5555-5555-5555-4444", "04/2031"],
    ),
    (
        '{"cvv": "123", "card": "4111111111111111", "exp": "1/27"}',
        ["123", "4111111111111111", "1/27"],
    ),
    (
        "4012888888881881 valid thru 09-30, security code 456",
        ["4012888888881881", "09-30", "456"],
    ),
    (
        wide("cvv:123 card 4111 1111 1111 1111"),
        [wide("123"), wide("4111 1111 1111 1111")],
    ),
    (
        '{"cvv" : "123", "card": "4111111111111111", "expiry_date":"2029-12"}',
        ["123", "4111111111111111", "2029-12"],
    ),
    (
        "4111111111111111 EXP:1229 cvv_code 321",
        ["4111111111111111", "1229", "321"],
    ),
    ('{"cardCvv":"999","cardNumber":"4111111111111111"}', ["999", "4111111111111111"]),
    (
        "sec code 123 for 4111111111111111, expires on 12/29",
        ["123", "4111111111111111", "12/29"],
    ),
    (
        "card=4111111111111111&cvv=123&exp=12%2F29",
        ["4111111111111111", "123", "12%2F29"],
    ),
    # unlabelled, right after the card, as card dumps write them
    ("4111111111111111|12/29|123", ["4111111111111111", "12/29", "123"]),
    ("4111 1111 1111 1111 12/29 123", ["4111 1111 1111 1111", "12/29", "123"]),
    ("5555555555554444, 03/2031", ["5555555555554444", "03/2031"]),
]
# a grouped card followed by more digits is still the card
CARD_THEN_DIGITS = [
    ("pay 5555 5555 5555 4444 123 ok", "5555 5555 5555 4444"),
]
NOT_CARD_EXTRAS = [
    "order 1234 cvv 123, no card here",
    "exp 12/29 and cvv 123 without a number",
    "4111 1111 1111 1111" + " " * 100 + "cvv 123",  # too far from the card
    "card 4111 1111 1111 1111, experience 12/29",  # not an expiry label
    "4111111111111111 for 3 items",
    "discard cvv 123 4 tries",  # 'cvv' inside a word, no card
]


def test_many_cards_and_labels_in_one_long_string() -> None:
    # every card and every code of a long string full of both is reported
    # (each stretch of text searched once, however many cards are near it)
    text = "4111111111111111 cvv 123 x " * 2000
    values = found(CreditCardDetector(), text)
    assert values.count("4111111111111111") == 2000
    assert values.count("123") == 2000


@pytest.mark.parametrize(("text", "expected"), CARD_EXTRAS)
def test_security_code_and_expiry_beside_a_card(text: str, expected: list[str]) -> None:
    spans = sorted(CreditCardDetector().find(text), key=lambda s: s.start)
    values = [text[s.start : s.end] for s in spans]
    assert values == expected
    assert scanned(CreditCardDetector(), text) == values


@pytest.mark.parametrize(("text", "number"), CARD_THEN_DIGITS)
def test_grouped_card_followed_by_digits(text: str, number: str) -> None:
    assert found(CreditCardDetector(), text) == [number]


@pytest.mark.parametrize("text", NOT_CARD_EXTRAS)
def test_labels_without_a_card_nearby_are_left(text: str) -> None:
    values = found(CreditCardDetector(), text)
    # the card itself, where there is one, and nothing else
    assert all(value.replace(" ", "") == "4111111111111111" for value in values)
