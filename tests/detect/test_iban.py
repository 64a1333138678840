"""IBAN detector: positives and near misses.

Test vectors: the example IBANs the national banks and the ECBS registry
publish (GB82 WEST 1234 5698 7654 32, DE89 3704 0044 0532 0130 00,
FR14 2004 1010 0505 0001 3M02 606, NL91 ABNA 0417 1643 00). Near misses:
a wrong check pair, a wrong length for the country, an unknown country,
and SKUs and ids that open with two letters and two digits.
"""

from __future__ import annotations

import pytest

from redline.detect import EntityType, IbanDetector

from ._util import found, scanned, wide

POSITIVES = [
    ("GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
    ("GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("refund to DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"),
    ("iban=DE89370400440532013000&x=1", "DE89370400440532013000"),
    ("FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("nl91abna0417164300", "nl91abna0417164300"),
    ("GB82 WEST 1234 5698 7654 32 EUR", "GB82 WEST 1234 5698 7654 32"),
    ("口座GB82WEST12345698765432へ", "GB82WEST12345698765432"),
    (wide("DE89370400440532013000"), wide("DE89370400440532013000")),
]

NEAR_MISSES = [
    "GB83 WEST 1234 5698 7654 32",  # check digits off by one
    "DE89 3704 0044 0532 0130 0",  # one digit short for Germany
    "XX82WEST12345698765432",  # no such country
    "SKU12-ABCD-9999-0000-1111",
    "AB12CD34EF56GH78IJ90",
    "ord_DE89370400440532013000",  # inside a token
    "v1.2.3 build DE12 ABCD",
]


@pytest.mark.parametrize(("text", "iban"), POSITIVES)
def test_iban_is_found(text: str, iban: str) -> None:
    assert found(IbanDetector(), text) == [iban]
    assert scanned(IbanDetector(), text) == [iban]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_miss_is_not_an_iban(text: str) -> None:
    assert found(IbanDetector(), text) == []


def test_a_flood_of_candidates_masks_the_string_rather_than_run_on() -> None:
    text = "GB82 " * 2000
    (span,) = IbanDetector().find(text)
    assert span.type is EntityType.UNSCANNABLE
    assert (span.start, span.end) == (0, len(text))
