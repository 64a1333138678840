"""Policy files: errors name the file, line and fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from redline import _yaml
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


def _bad_rules(count: int) -> str:
    rules = "".join(f"    p{i}: kepp\n" for i in range(count))
    return f"version: 1\nall_events:\n  properties:\n{rules}"


def test_many_errors_are_all_counted_and_the_message_names_the_first_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(_bad_rules(60), "policy.yaml")

    error = info.value
    assert len(error.errors) == 60
    # file order, the first ConfigError.SHOWN of them, then a count
    parts = str(error).split("; ")
    assert len(parts) == ConfigError.SHOWN + 1
    assert parts[0].startswith("policy.yaml:4:9: all_events.properties.p0:")
    assert parts[49].startswith("policy.yaml:53:10: all_events.properties.p49:")
    assert parts[-1] == "... and 10 more errors"
    assert error.lines()[-1] == "... and 10 more errors"


def test_one_more_error_is_counted_in_the_singular() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(_bad_rules(ConfigError.SHOWN + 1), "policy.yaml")

    assert str(info.value).endswith("; ... and 1 more error")


def test_up_to_the_shown_number_every_error_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(_bad_rules(ConfigError.SHOWN), "policy.yaml")

    assert "more error" not in str(info.value)
    assert len(str(info.value).split("; ")) == ConfigError.SHOWN


def test_sorting_out_many_errors_takes_linear_time() -> None:
    # 12,000 errors at sibling paths, and one about their parent: each was
    # compared with every other (144 million pairs, 7 s); now a set of
    # the paths' prefixes
    count = 12000
    marks: _yaml.Marks = {(): (1, 1), ("rules",): (2, 1)}
    errors = []
    for i in range(count):
        marks[("rules", f"p{i}")] = (3 + i, 3)
        errors.append(
            {"loc": ("rules", f"p{i}"), "type": "int_type", "msg": "x", "ctx": {}}
        )
    errors.append({"loc": ("rules",), "type": "too_short", "msg": "x", "ctx": {}})

    class Invalid:
        def errors(self, **_: object) -> list[dict[str, object]]:
            return errors

    started = time.perf_counter()
    error = _yaml.validation_error(Invalid(), marks, "policy.yaml")
    elapsed = time.perf_counter() - started

    # the parent's error says nothing more than its parts' errors
    assert len(error.errors) == count
    assert elapsed < 1.0, elapsed


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        # the value of b is the mapping it is in: the key b is named
        ("version: 1\nx: &a {b: *a}\n", 2, 8),
        ("version: 1\nx: &a\n  b:\n    c: *a\n", 4, 5),
        # an item of the list it is: the list is named
        ("version: 1\nx: &a [1, *a]\n", 2, 4),
    ],
)
def test_an_alias_to_a_value_that_contains_it_is_named_with_its_line(
    text: str, line: int, column: int
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.yaml")

    error = info.value
    assert (error.path, error.line, error.column) == ("policy.yaml", line, column)
    assert error.reason == "an alias refers to a value that contains it"
    assert error.fix


def test_an_alias_repeated_outside_its_anchor_is_read() -> None:
    text = "version: 1\ndefaults: &d {detect: [email]}\nx: [*d, *d]\n"

    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.yaml")

    # read in full: only the unknown key is wrong
    assert info.value.reason == "unknown key 'x'"


def test_values_nested_too_deeply_are_a_config_error() -> None:
    depth = 3000
    for text in (
        "version: 1\nx: " + "[" * depth + "]" * depth + "\n",
        "version: 1\nx: " + "{a: " * depth + "1" + "}" * depth + "\n",
    ):
        with pytest.raises(ConfigError) as info:
            parse_policy(text, "policy.yaml")

        assert info.value.path == "policy.yaml"
        assert info.value.reason == "values are nested too deeply to read"
        assert info.value.fix


def test_aliases_of_aliases_that_expand_past_the_bound_are_refused() -> None:
    # a few hundred bytes that would expand to ten million values
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 500

    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.yaml")

    assert info.value.path == "policy.yaml"
    assert "values once its aliases are written out" in info.value.reason
    assert info.value.fix
