"""Policy files: errors name the file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline.config import default_policy_path
from redline.errors import ConfigError
from redline.policy import load_policy, parse_policy


def test_shipped_example_policy_loads() -> None:
    policy = load_policy(default_policy_path())

    assert policy.rules_for("checkout").known
    assert not policy.rules_for("never_heard_of").known


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("version: 2\n", 1, 10, "version"),
        (
            "version: 1\nall_events:\n  properties:\n    a: kepp\n",
            4,
            8,
            "all_events.properties.a",
        ),
        ("version: 1\nunknown_section: 1\n", 2, 18, "unknown key 'unknown_section'"),
        (
            "version: 1\nevents:\n  e:\n    properties:\n"
            "      a: {action: url, keep: [x]}\n",
            5,
            30,
            "unknown key 'events.e.properties.a.keep'",
        ),
        (
            "version: 1\ndefaults:\n  detect: [emial]\n",
            3,
            11,
            "unknown detector 'emial'",
        ),
        ("version: 1\nhash: {key_id: k1}\n", 2, 7, "hash.key: required key is missing"),
        ("version: 1\nevents: [\n", 3, 1, "not valid YAML"),
        ("version: 1\nevents: {}\nevents: {}\n", 3, 1, "appears twice"),
    ],
)
def test_errors_point_at_file_line_and_column(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.yaml")

    error = info.value
    assert (error.path, error.line, error.column) == ("policy.yaml", line, column)
    assert fragment in str(error)
    assert str(error).startswith(f"policy.yaml:{line}:{column}: ")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_digest_changes_with_content() -> None:
    a = parse_policy("version: 1\nevents: {e: {properties: {a: keep}}}\n")
    b = parse_policy("version: 1\nevents: {e: {properties: {a: drop}}}\n")

    assert a.digest != b.digest
