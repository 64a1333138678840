"""Japanese Individual Number detector: positives and near misses.

Test vectors: 6214 9832 0257, the example in python-stdnum's documentation
of ``jp.in_``, and numbers with the check digit computed by the formula of
the Ministry's ordinance; near misses have a wrong check digit, or are
solid 12-digit runs inside other text without a label.
"""

from __future__ import annotations

import pytest

from redline.detect import JpMyNumberDetector

from ._util import found, scanned, wide

POSITIVES = [
    ("6214 9832 0257", "6214 9832 0257"),
    ("6214-9832-0257", "6214-9832-0257"),
    ("621498320257", "621498320257"),  # the whole value
    ("マイナンバーは621498320257です", "621498320257"),
    ("個人番号\uff1a6214-9832-0257", "6214-9832-0257"),
    ("my number 621498320257", "621498320257"),
    ("検索 621498320257", "621498320257"),  # a short value (a search)
    ("お客様の情報は621498320257です、更新をお願いします。", "621498320257"),
    (wide("6214 9832 0257"), wide("6214 9832 0257")),
]

NEAR_MISSES = [
    "6214 9832 0258",  # wrong check digit
    "621498320258",
    "your order 621498320257 has shipped today",  # in text, no label
    "6214 9832 0257 1111",  # a longer group run (a card, an account)
    "1621498320257",
    "2024-06-12 12:00",
]


@pytest.mark.parametrize(("text", "number"), POSITIVES)
def test_my_number_is_found(text: str, number: str) -> None:
    assert found(JpMyNumberDetector(), text) == [number]
    assert scanned(JpMyNumberDetector(), text) == [number]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_miss_is_not_a_my_number(text: str) -> None:
    assert found(JpMyNumberDetector(), text) == []
