"""Phone detector: positives and near misses.

Test vectors: numbers reserved for fiction where the plan has such a range
(NANP 555-0100..0199; Ofcom's drama ranges 020 7946 0xxx and 07700 900xxx),
otherwise number shapes from each plan's documented national format. The
near misses are the false positives of a plain libphonenumber scan listed in
leak case BH-35 (/work/shared/examples/leak_cases.jsonl), plus timestamps,
UUIDs, versions, order ids and prices from real analytics payloads.
"""

from __future__ import annotations

import pytest

from redline.detect import EntityType, PhoneDetector
from redline.detect import phone as phone_module
from redline.errors import ConfigError

from ._util import found, scanned, wide

POSITIVES = [
    ("+1 202-555-0143", "+1 202-555-0143"),
    ("+1-202-555-0143", "+1-202-555-0143"),
    ("+12025550143", "+12025550143"),
    ("escalate to 202-555-0143 if rollback fails", "202-555-0143"),
    ("call (202) 555-0143.", "(202) 555-0143"),
    ("tel:+12025550143", "+12025550143"),
    ("phone:202-555-0143", "202-555-0143"),
    ("(253)700-0354x1568", "(253)700-0354x1568"),  # with an extension
    ("090895/93636", "090895/93636"),  # German, area code and slash
    ("04/72/33/04/24", "04/72/33/04/24"),  # French pairs, slashes
    ("+81-3-1234-5678", "+81-3-1234-5678"),  # its middle reads as a date
    ("0737-15-0327", "0737-15-0327"),  # so does this one's end
    ('{"customer": {"phone": "6278881172"}}', "6278881172"),  # labelled, bare
    ("Phone: 4063286240 (after 6pm)", "4063286240"),
    ("(11) 91234-5678", "(11) 91234-5678"),  # Brazil, a mobile
    ("+91 98765 43210", "+91 98765 43210"),  # India
    ("01.23.45.67.89", "01.23.45.67.89"),  # France, dotted pairs
    ("0581.3394440", "0581.3394440"),  # a trunk 0: no decimal starts so
    ("424-930-7593-ext.-16104", "424-930-7593-ext.-16104"),
    ("6278881172", "6278881172"),  # a short value, ten digits, NANP
    ("tel:9876543210", "9876543210"),  # an Indian mobile, bare
    ("phone=%2B12025550143&x=1", "%2B12025550143"),
    ("ring me on 020 7946 0123, please", "020 7946 0123"),
    ("+44 20 7946 0123", "+44 20 7946 0123"),
    ("+44 (0)20 7946 0123", "+44 (0)20 7946 0123"),
    ("mobile 07700 900123 after 6pm", "07700 900123"),  # drama range: possible
    ("02079460123", "02079460123"),  # bare, with the trunk prefix
    (wide("020 7946 0123"), wide("020 7946 0123")),  # full-width digits
    ("电话" + wide(":020-7946-0123") + "。", wide("020-7946-0123")),
    ("+49 30 123456", "+49 30 123456"),
    ("01.23.45.67.89", "01.23.45.67.89"),
    ("03-1234-5678", "03-1234-5678"),
    ("+91 98765 43210", "+91 98765 43210"),
    ("(11) 91234-5678", "(11) 91234-5678"),
]

NEAR_MISSES = [
    # BH-35: what PhoneNumberMatcher(region=US/GB) reports on its own
    "hosted-eu-20240612-09",
    "2024-06-12 20:17",
    "2024-06-12",
    "Wed Jun 12 20:17:00 UTC 2024",
    "418305592",
    # timestamps and dates
    "2024-06-10T12:00:00.000Z",
    "12.06.2024",
    "1718035200",  # epoch seconds
    "1718035200001",  # epoch milliseconds
    "1718035200.123",
    "12:00-13:00",
    # identifiers
    "0190a5c2-0000-7000-8000-00000000b101",
    "00000000-0000-4000-8000-000000000122",
    "ord_20251127_000187",
    "ORD-2024-000123",
    "T-2024-0612-0042",
    "ajs-next-1718035200000-00000000-0000-4000-8000-000000000106",
    "0123456789abcdef0123456789abcdef",
    # versions, addresses, numbers
    "10.0.19045.1",
    "Chrome/120.0.6099.109",
    "192.168.100.200",
    "0.4012888888881881",
    "$1,299.99",
    "12 345 678,90 EUR",
    "1 299 999",
    "555-0143",  # no area code: not a valid number anywhere
    "499-6418961-8713454",  # a marketplace order id: 17 digits
    "your order 4063286240 has shipped today",  # bare digits in text
    "order=4063286240",  # bare digits under another name
    "1718035200",  # epoch seconds, a short value of its own
    "\u3012169-8181",  # a Japanese postal code after its mark
    "16981-3046",  # a ZIP+4 code
]


@pytest.mark.parametrize(("text", "number"), POSITIVES)
def test_phone_number_is_found(text: str, number: str) -> None:
    assert found(PhoneDetector(), text) == [number]


@pytest.mark.parametrize(("text", "number"), POSITIVES)
def test_phone_number_is_found_through_the_scanner(text: str, number: str) -> None:
    assert scanned(PhoneDetector(), text) == [number]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_number_that_is_not_a_phone_is_not_reported(text: str) -> None:
    assert found(PhoneDetector(), text) == []


def test_both_numbers_in_free_text_are_found() -> None:
    text = "Please ring me back on 020 7946 0123, or on my mobile 07700 900123."
    assert found(PhoneDetector(), text) == ["020 7946 0123", "07700 900123"]


def test_valid_number_scores_higher_than_a_merely_possible_one() -> None:
    valid, possible = PhoneDetector(regions=("GB",)).find(
        "020 7946 0123 or 07700 900123"
    )
    assert valid.score > possible.score
    assert valid.reason == "numbering plan GB"
    assert possible.reason == "possible number GB"


def test_regions_decide_national_numbers() -> None:
    # a US-formatted number is not valid in the UK plan
    assert found(PhoneDetector(regions=("GB",)), "202-555-0143") == []
    assert found(PhoneDetector(regions=("US",)), "202-555-0143") == ["202-555-0143"]


def test_unknown_region_is_a_config_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match="unknown phone region 'UK'") as info:
        PhoneDetector(regions=("UK",))
    assert info.value.fix is not None and "GB" in info.value.fix


def test_too_many_distinct_candidates_mask_the_whole_string() -> None:
    count = phone_module.MAX_CANDIDATES + 1
    text = ", ".join(f"020 7946 {i:04d}" for i in range(count))
    (span,) = PhoneDetector().find(text)
    assert span.type is EntityType.UNSCANNABLE
    assert (span.start, span.end) == (0, len(text))


def test_repeated_number_is_found_every_time_without_masking() -> None:
    text = ", ".join(["020 7946 0123"] * (phone_module.MAX_CANDIDATES + 1))
    spans = PhoneDetector().find(text)
    assert len(spans) == phone_module.MAX_CANDIDATES + 1
    assert {span.type for span in spans} == {EntityType.PHONE}
