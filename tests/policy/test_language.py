"""The policy language: what parses, what compiles, and the errors that
point at file, line and column."""

from __future__ import annotations

import datetime

import pytest

from redline.config import default_policy_path
from redline.errors import ConfigError
from redline.policy import Action, Mode, load_policy, parse_policy


def test_shipped_policy_is_enforced_and_uses_no_new_actions() -> None:
    policy = load_policy(default_policy_path())

    assert policy.mode is Mode.ENFORCE and not policy.reports
    assert policy.uses <= {
        Action.KEEP,
        Action.DROP,
        Action.HASH,
        Action.URL,
        Action.REDACT,
    }


def test_every_action_compiles_with_its_options() -> None:
    policy = parse_policy(
        """
version: 1
events:
  e:
    properties:
      m: {action: mask, keep_first: 2, keep_last: 3}
      t: {action: truncate, max_length: 40}
      u: user_agent
      b: {action: bucket, edges: [0, 10, 100.5]}
      n: {action: enum, values: [a, 1, true], other: other}
      k: {type: integer, on_mismatch: keep_as_string}
      o: {properties: {city: keep}, items: drop}
"""
    )

    rules = policy.rules_for("e").properties
    assert (rules["m"].keep_first, rules["m"].keep_last) == (2, 3)
    assert rules["t"].max_length == 40
    assert rules["u"].action is Action.USER_AGENT
    assert rules["b"].labels == ("<0", "0-10", "10-100.5", "100.5+")
    assert rules["n"].to_other and len(rules["n"].values) == 3
    assert (rules["k"].type, rules["k"].on_mismatch) == ("integer", "keep_as_string")
    assert not rules["k"].plain
    nested = rules["o"]
    assert nested.action is Action.KEEP and nested.properties is not None
    assert nested.properties["city"].action is Action.KEEP
    assert nested.items is not None and nested.items.action is Action.DROP
    assert policy.uses >= {Action.MASK, Action.BUCKET, Action.ENUM, Action.DROP}


def test_event_sections_merge_conditions_and_let_the_last_rate_and_mode_win() -> None:
    policy = parse_policy(
        """
version: 1
mode: report
all_events:
  drop_if: [{property: internal, equals: true}]
  sample: {rate: 0.5}
events:
  "page_*":
    drop_if: [{property: bot, exists: true}]
    sample: {rate: 0.2}
    mode: enforce
  page_home:
    drop_if: [{property: plan, in: [internal, staff]}]
"""
    )

    home = policy.rules_for("page_home")
    other = policy.rules_for("signup")
    assert [c.property for c in home.drop_if] == ["internal", "bot", "plan"]
    assert home.sample_rate == 0.2 and home.mode is Mode.ENFORCE
    assert other.sample_rate == 0.5 and other.mode is Mode.REPORT
    assert policy.mode is Mode.REPORT and policy.reports


def test_rotation_keys_are_compiled_without_secrets() -> None:
    policy = parse_policy(
        "version: 1\nhash:\n  key_id: k2\n  key: {env: K2}\n  previous:\n"
        "    - {key_id: k1, key: {env: K1}, until: 2026-12-31}\n"
    )

    assert policy.hash_key_id == "k2"
    assert [(k.key_id, k.until) for k in policy.previous_keys] == [
        ("k1", datetime.date(2026, 12, 31))
    ]


HEAD = "version: 1\nevents:\n  e:\n"


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (
            HEAD + "    drop_if:\n      - {property: u, matches: '^(https'}\n",
            5,
            32,
            "not a valid regular expression",
        ),
        (
            HEAD + "    properties:\n      a: {action: smudge}\n",
            5,
            10,
            "smudge",
        ),
        (HEAD + "    properties:\n      a: mask\n", 5, 10, "takes options"),
        (
            HEAD + "    properties:\n      a: {action: bucket, edges: [10, 0]}\n",
            5,
            34,
            "strictly increasing",
        ),
        (
            HEAD + "    properties:\n      a: {action: bucket, edges: []}\n",
            5,
            34,
            "edges",
        ),
        (
            HEAD + "    properties:\n      a: {action: enum, values: []}\n",
            5,
            33,
            "values",
        ),
        (
            HEAD + "    properties:\n      a: {action: enum, values: [x], other: y}\n",
            5,
            45,
            "other",
        ),
        (
            HEAD + "    properties:\n      a: {action: truncate}\n",
            5,
            10,
            "max_length",
        ),
        (
            HEAD + "    properties:\n      a: {action: truncate, max_length: 0}\n",
            5,
            41,
            "max_length",
        ),
        (
            HEAD + "    properties:\n      a: {action: mask, keep_last: -1}\n",
            5,
            36,
            "keep_last",
        ),
        (HEAD + "    properties:\n      a: {type: text}\n", 5, 17, "type"),
        (
            HEAD + "    properties:\n      a: {type: string, on_mismatch: explode}\n",
            5,
            38,
            "on_mismatch",
        ),
        (
            HEAD + "    properties:\n      a: {properties: {b: {action: nope}}}\n",
            5,
            27,
            "nope",
        ),
        (
            HEAD + "    properties:\n      a: {action: hash, properties: {}}\n",
            5,
            37,
            "unknown key",
        ),
        (HEAD + "    sample: {rate: 0}\n", 4, 20, "sample.rate"),
        (HEAD + "    sample: {rate: 1.5}\n", 4, 20, "sample.rate"),
        (HEAD + "    mode: audit\n", 4, 11, "not one of the allowed values"),
        (
            HEAD + "    drop_if: [{property: a, equals: 1, matches: x}]\n",
            4,
            15,
            "exactly one of",
        ),
        (HEAD + "    drop_if: [{property: a}]\n", 4, 15, "exactly one of"),
        (HEAD + "    drop_if: [{equals: 1}]\n", 4, 15, "property"),
        ("version: 1\nprofiles:\n  sample: {rate: 0.5}\n", 3, 11, "unknown key"),
        ("version: 1\nmode: shadow\n", 2, 7, "mode"),
        (
            "version: 1\nhash:\n  key_id: k1\n  key: {env: A}\n  previous:\n"
            "    - {key_id: k1, key: {env: B}, until: 2026-01-01}\n",
            3,
            3,
            "own key_id",
        ),
        (
            "version: 1\nhash:\n  key_id: k2\n  key: {env: A}\n  previous:\n"
            "    - {key_id: k1, key: {env: B}, until: someday}\n",
            6,
            42,
            "until",
        ),
    ],
)
def test_language_errors_point_at_file_line_and_column(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.yaml")

    error = info.value
    assert fragment in str(error)
    assert (error.path, error.line, error.column) == ("policy.yaml", line, column)
