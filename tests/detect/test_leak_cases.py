"""The shared leak cases, run through the scanner and ``redact``.

Every string value of every case's event is scanned and redacted on its own,
as the engine's detection net does. Then:

- each ``must_not_contain`` string that literally occurs in some input value
  must be gone from the output (entries that never occur literally, such as
  E.164 forms and hashes, guard the gateway's normalising and hashing, which
  are not the scanner's business);
- each ``must_keep`` entry must hold: ``text:`` substrings survive in the
  values that contain them, ``path:`` string values come out unchanged.

The ``request`` sketches of protocol cases (headers, query strings, gzip and
base64 bodies) need the protocol adapters and are not looked at here; their
decoded events are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redline.detect import default_scanner, redact

CASES_FILE = Path(__file__).parents[1] / "data" / "leak_cases.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text().splitlines() if line]

# (case id, must_not_contain entry) -> why the scanner is not expected to remove it
SKIPPED = {
    ("BH-06", "Jane Tester"): "personal names need the policy (keys) or NER",
    ("BH-20", "Jane Tester"): "personal names need the policy (keys) or NER",
}

scanner = default_scanner()


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


@pytest.fixture(scope="module")
def redacted() -> dict[str, dict[str, tuple[str, str]]]:
    """case id -> path -> (input value, redacted value)."""
    out = {}
    for case in CASES:
        values = {}
        for path, text in _strings(case["event"]):
            values[path] = (text, redact(text, scanner.scan(text)))
        out[case["id"]] = values
    return out


def _literal_leaks() -> list[tuple[str, str]]:
    """(case id, entry) for each must_not_contain entry found in the event."""
    pairs = []
    for case in CASES:
        texts = [text for _, text in _strings(case["event"])]
        for needle in case["must_not_contain"]:
            if (case["id"], needle) not in SKIPPED and any(needle in t for t in texts):
                pairs.append((case["id"], needle))
    return pairs


LEAKS = _literal_leaks()


@pytest.mark.parametrize(
    ("case_id", "needle"), LEAKS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(LEAKS)]
)
def test_leaked_value_is_gone_after_redaction(
    case_id: str, needle: str, redacted: dict[str, dict[str, tuple[str, str]]]
) -> None:
    outputs = [out for _, out in redacted[case_id].values()]
    assert not [out for out in outputs if needle in out]


def test_every_leak_case_with_values_in_its_event_is_checked() -> None:
    # cases whose leaked values live only in the request sketch (headers,
    # encoded bodies) are for the protocol adapters: BH-17's forwarded-for
    # header is the one leak case of that kind
    checked = {case_id for case_id, _ in LEAKS}
    unchecked = {c["id"] for c in CASES if c["kind"] == "leak"} - checked
    assert unchecked == {"BH-17"}


def _keeps() -> list[tuple[str, str]]:
    """(case id, must_keep entry) for each entry about a string value."""
    pairs = []
    for case in CASES:
        values = dict(_strings(case["event"]))
        for entry in case["must_keep"]:
            kind, _, target = entry.partition(":")
            in_text = kind == "text" and any(target in t for t in values.values())
            at_path = kind == "path" and target in values
            if in_text or at_path:
                pairs.append((case["id"], entry))
    return pairs


KEEPS = _keeps()


@pytest.mark.parametrize(
    ("case_id", "entry"), KEEPS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(KEEPS)]
)
def test_value_to_keep_survives_redaction(
    case_id: str, entry: str, redacted: dict[str, dict[str, tuple[str, str]]]
) -> None:
    values = redacted[case_id]
    kind, _, target = entry.partition(":")
    if kind == "text":
        outputs = [out for text, out in values.values() if target in text]
        assert any(target in out for out in outputs)
    else:
        text, out = values[target]
        assert out == text


def test_every_false_positive_case_has_values_to_keep_checked() -> None:
    checked = {case_id for case_id, _ in KEEPS}
    false_positives = {c["id"] for c in CASES if c["kind"] == "false_positive"}
    assert false_positives <= checked


def test_every_skip_names_a_case_and_an_entry_that_exist() -> None:
    for case_id, needle in SKIPPED:
        (case,) = [case for case in CASES if case["id"] == case_id]
        assert needle in case["must_not_contain"]
