"""US Social Security number detector: positives and near misses.

Test vectors: numbers in the issued ranges written as the SSA prints them;
the SSA's never-issued ranges (area 000, 666 and 900-999, group 00, serial
0000) and the advertising numbers 078-05-1120 and 219-09-9999 must not be
reported, nor dates, phone numbers and order ids of the same shape.
"""

from __future__ import annotations

import pytest

from redline.detect import UsSsnDetector

from ._util import found, scanned, wide

POSITIVES = [
    ("536-90-4399", "536-90-4399"),
    ("ssn 536 90 4399", "536 90 4399"),
    ("applicant 123-45-6789 verified", "123-45-6789"),
    ("SSN: 536904399", "536904399"),
    ("social security number 536904399", "536904399"),
    (wide("536-90-4399"), wide("536-90-4399")),
]

NEAR_MISSES = [
    "000-12-3456",  # area 000
    "666-12-3456",  # area 666
    "912-34-5678",  # area 9xx (ITINs and unassigned)
    "123-00-4567",  # group 00
    "123-45-0000",  # serial 0000
    "078-05-1120",  # the Woolworth wallet card
    "219-09-9999",  # the SSA's advertising number
    "536904399",  # nine digits without a label: an id
    "order 536904399",
    "2024-06-12",
    "555-123-4567",
    "123-4567890-1234567",
    "v536-90-4399",
    "536-90-4399-12",
]


@pytest.mark.parametrize(("text", "ssn"), POSITIVES)
def test_ssn_is_found(text: str, ssn: str) -> None:
    assert found(UsSsnDetector(), text) == [ssn]
    assert scanned(UsSsnDetector(), text) == [ssn]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_miss_is_not_an_ssn(text: str) -> None:
    assert found(UsSsnDetector(), text) == []
