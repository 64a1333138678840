"""The shared leak cases, run through the scanner and ``redact``.

Every string value of every case's event is scanned and redacted on its own,
as the engine's detection net does. Then:

- each ``must_not_contain`` string that literally occurs in some input value
  must be gone from the output (entries that never occur literally, such as
  E.164 forms and hashes, guard the gateway's normalising and hashing, which
  are not the scanner's business);
- each ``must_keep`` entry must hold: ``text:`` substrings survive in the
  values that contain them, ``path:`` string values come out unchanged.

The ``request`` sketches (request lines, headers, form bodies) are scanned
line by line too, as raw text: each ``must_not_contain`` string found in a
line, as written or after undoing its percent- or base64-encoding, must be
gone from the redacted line in every such view. That is what the scanner's
decoded views of URL parameters are for; decoding whole bodies (gzip,
``data=`` payloads) is the protocol adapters' work, tested with them.

Last, each case's whole event goes through the record redactor that
``redact-all`` uses (keys, long integers, values under secret names), and
every ``path:`` entry, every ``text:`` entry and every literal
``must_not_contain`` entry is checked on the whole output.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redline.detect import default_scanner, redact
from redline.detect.records import RecordRedactor
from redline.detect.scanner import DEFAULT_DETECTORS

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


def _views(line: str) -> list[str]:
    """A request line as written, percent-decoded, and its base64 ``data=``
    payloads decoded."""
    out = [line, urllib.parse.unquote_plus(line)]
    for match in re.finditer(r"data=([A-Za-z0-9+/_\-%=]+)", line):
        value = urllib.parse.unquote(match.group(1))
        try:
            raw = base64.b64decode(value + "=" * (-len(value) % 4))
            out.append(raw.decode("utf-8"))
        except (binascii.Error, ValueError):
            continue
    return out


def _request_leaks() -> list[tuple[str, str, str]]:
    """(case id, entry, request line) for each entry a request line holds."""
    found = []
    for case in CASES:
        for line in (case["request"] or "").split("\n"):
            views = _views(line)
            for needle in case["must_not_contain"]:
                skipped = (case["id"], needle) in SKIPPED
                if not skipped and any(needle in view for view in views):
                    found.append((case["id"], needle, line))
    return found


REQUEST_LEAKS = _request_leaks()


@pytest.mark.parametrize(
    ("case_id", "needle", "line"),
    REQUEST_LEAKS,
    ids=[f"{c}-request-{i}" for i, (c, _, _) in enumerate(REQUEST_LEAKS)],
)
def test_leaked_value_is_gone_from_the_request_line(
    case_id: str, needle: str, line: str
) -> None:
    out = redact(line, scanner.scan(line))
    assert not [view for view in _views(out) if needle in view]


def test_every_leak_case_is_checked() -> None:
    checked = {case_id for case_id, _ in LEAKS}
    checked |= {case_id for case_id, _, _ in REQUEST_LEAKS}
    leaks = {c["id"] for c in CASES if c["kind"] == "leak"}
    assert leaks <= checked
    # BH-17's forwarded-for header is only in its request
    assert "BH-17" in {case_id for case_id, _, _ in REQUEST_LEAKS}


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


# Whole records: each case's event (for protocol cases, the decoded payload)
# as the detection net of a keep-everything policy reads it: every string
# at any depth, object keys and long integers included, and values filed
# under a secret's name. The default detectors run, not ``free_text``: a
# policy that keeps a comment keeps its words (BH-30), and a policy that
# names ``free_text`` replaces it whole by its own choice.

records = RecordRedactor(DEFAULT_DETECTORS)
_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _at(record: Any, path: str) -> Any:
    """The value at a case's dotted path (``batch[0].properties.$ip``)."""
    for index, key in _PATH_PART.findall(path):
        record = record[int(index)] if index else record[key]
    return record


def _texts(value: Any) -> Iterator[str]:
    """Every string of a record, keys included, and integers as digits."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif type(value) is int:
        yield str(value)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_a_whole_record_keeps_what_the_case_keeps_and_leaks_nothing(
    case: dict[str, Any],
) -> None:
    event = case["event"]
    clean, _ = records.redact(event)
    before, after = list(_texts(event)), list(_texts(clean))
    views = after + [urllib.parse.unquote_plus(text) for text in after]

    present = [
        needle
        for needle in case["must_not_contain"]
        if (case["id"], needle) not in SKIPPED and any(needle in t for t in before)
    ]
    assert [needle for needle in present if any(needle in v for v in views)] == []

    for entry in case["must_keep"]:
        kind, _, target = entry.partition(":")
        if kind == "path":
            assert _at(clean, target) == _at(event, target), entry
        elif any(target in text for text in before):
            assert any(target in text for text in after), entry
