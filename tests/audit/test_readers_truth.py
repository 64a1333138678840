"""The sample exports' ground truth is what the gateway's scanner sees in them.

Reports are checked against ``Truth``; these tests check ``Truth`` itself, by
scanning every string of every record the readers return with the default
scanner and counting findings per (event, property, type) and per type.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redline.audit.readers import plan, read
from redline.audit.records import FORMATS, AuditRecord
from redline.detect import default_scanner

from .exports import Count, Truth, write_big_mixpanel, write_exports

# types the generator plants that no detector covers (checked separately)
UNDETECTED = {"FREE_TEXT"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Truth]:
    return write_exports(tmp_path_factory.mktemp("truth"), count=600, people=80)


def _records(truth: Truth) -> list[AuditRecord]:
    items = [item for chunk in plan([str(truth.root)]) for item in read(chunk)]
    return [item for item in items if isinstance(item, AuditRecord)]


def _counts(mapping: dict[Any, Count]) -> dict[Any, tuple[int, int]]:
    return {key: (c.events, c.people) for key, c in mapping.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_truth_matches_what_the_scanner_finds(
    datasets: dict[str, Truth], fmt: str
) -> None:
    truth = datasets[fmt]
    scanner = default_scanner()
    by_property: dict[tuple[str, str, str], Count] = {}
    by_type: dict[str, Count] = {}

    for record in _records(truth):
        kinds: set[str] = set()
        for key, value in record.properties.items():
            found = {
                span.type.value
                for text in _strings(value)
                for span in scanner.scan(text)
            }
            for kind in found:
                by_property.setdefault((record.event, key, kind), Count()).add(
                    record.distinct_id
                )
            kinds |= found
        for kind in kinds:
            by_type.setdefault(kind, Count()).add(record.distinct_id)

    expected = {k: v for k, v in truth.by_property.items() if k[2] not in UNDETECTED}
    assert _counts(by_property) == _counts(expected)
    detected = {k: v for k, v in truth.by_type.items() if k not in UNDETECTED}
    assert _counts(by_type) == _counts(detected)
    assert set(truth.by_type) == detected.keys() | UNDETECTED


def test_every_planted_type_is_present_with_several_people(
    datasets: dict[str, Truth],
) -> None:
    truth = datasets["mixpanel"]

    for kind in (
        "EMAIL",
        "PHONE",
        "CREDIT_CARD",
        "IBAN",
        "IP_ADDRESS",
        "JWT",
        "US_SSN",
        "JP_MY_NUMBER",
    ):
        assert truth.by_type[kind].people >= 5, kind
    assert truth.by_type["API_KEY"].events >= 5
    assert truth.affected.people <= truth.people


def test_free_text_holds_nothing_and_ids_are_found_whole(
    datasets: dict[str, Truth],
) -> None:
    scanner = default_scanner()
    records = _records(datasets["jsonl"])

    texts = [r.properties["comment"] for r in records if "comment" in r.properties]
    assert texts
    assert all(len(t.split()) >= 5 and not scanner.scan(t) for t in texts)
    for key, kind in (
        ("iban", "IBAN"),
        ("ssn", "US_SSN"),
        ("my_number", "JP_MY_NUMBER"),
    ):
        values = [r.properties[key] for r in records if key in r.properties]
        assert values, key
        for value in values:
            spans = scanner.scan(value)
            assert [(s.type.value, s.start, s.end) for s in spans] == [
                (kind, 0, len(value))
            ]
    ibans = [r.properties["iban"] for r in records if "iban" in r.properties]
    assert all(_iban_valid(i) for i in ibans)


def _iban_valid(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first = write_exports(tmp_path / "a", formats=["segment", "csv"], count=50)
    second = write_exports(tmp_path / "b", formats=["segment", "csv"], count=50)

    for fmt in ("segment", "csv"):
        for one, two in zip(first[fmt].files, second[fmt].files, strict=True):
            assert one.read_bytes() == two.read_bytes()


def test_the_big_writer_reaches_its_size_with_the_events_it_counts(
    tmp_path: Path,
) -> None:
    export = write_big_mixpanel(tmp_path, 2 << 20, files=2, pool=300)

    items = [item for chunk in plan([str(tmp_path)]) for item in read(chunk)]

    assert export.raw_bytes >= 2 << 20
    assert len(export.files) == 2
    records = [i for i in items if isinstance(i, AuditRecord)]
    assert len(records) == export.events
    assert len(items) - len(records) == export.malformed == 2
    emails = sum(1 for r in records if "email" in r.properties)
    assert emails == export.by_type["EMAIL"]
