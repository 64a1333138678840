"""``redline policy check|test|explain|schema``: errors that point at the
line, test cases beside the policy, explanations per property, and values
that never print raw."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from redline.cli import main
from redline.config import default_policy_path
from redline.policy._tooling import mask

# planted in the inputs below; none may appear in any output
EMAIL = "jane.doe@example.com"
PHONE = "202-555-0143"
PROMPT = "Summarise the contract for Jane Doe"
CARD = "4111 1111 1111 1111"

ROOT = Path(__file__).resolve().parents[2]

POLICY = """\
version: 1
all_events:
  properties:
    distinct_id: hash
    $current_url: url
events:
  api_call:
    properties:
      model: keep
      prompt_tokens: keep
      text: drop
  "page_*":
    properties:
      title: keep
      section: keep
  page_view:
    properties:
      section: drop
"""

CASES = """\
cases:
  - name: the prompt never leaves
    event:
      event: api_call
      properties:
        distinct_id: jane.doe@example.com
        text: "Summarise the contract for Jane Doe"
        model: gpt-5-mini
        prompt_tokens: 812
        stray: 202-555-0143
    expect:
      absent: [text, stray]
      present: [model]
      equals: {model: gpt-5-mini, prompt_tokens: 812}
      matches: {distinct_id: "^[a-z]+:[0-9a-f]{32}$"}
  - name: unknown events are dropped
    event: {event: signup_v2, properties: {distinct_id: u1}}
    expect: {dropped: true}
  - name: the whole output of a page view
    event:
      event: page_view
      properties:
        distinct_id: u1
        time: 1764230400
        title: "Call 202-555-0143 now"
        section: billing
    output:
      event: page_view
      properties: {title: "Call [PHONE] now"}
"""


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(
        main, [str(a) for a in args], input=input, prog_name="redline"
    )


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(POLICY)
    return path


def assert_nothing_raw(text: str) -> None:
    for value in (EMAIL, PHONE, PROMPT, CARD, "gpt-5-mini", "billing"):
        assert value not in text


# -- check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        # positions are those of the unknown key's value
        ("version: 1\nevent:\n  a: {}\n", 3, 3, "unknown key 'event'"),
        (
            "version: 1\nall_events:\n  properties:\n    a: {action: url, kep: [x]}\n",
            4,
            27,
            "unknown key 'all_events.properties.a.kep'",
        ),
        ("version: 1\ndefaults:\n  unknown_event: drop\n", 3, 18, "unknown key"),
    ],
    ids=["top level", "inside a rule", "misspelt default"],
)
def test_check_refuses_unknown_keys_naming_file_line_column_and_fix(
    tmp_path: Path, text: str, line: int, column: int, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    result = run("policy", "check", path)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"redline: {path}:{line}:{column}: ")
    assert fragment in result.stderr
    assert "(fix: " in result.stderr


def test_check_json_reports_ok_and_the_full_digest(policy: Path) -> None:
    result = run("policy", "check", "--json", policy)

    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["ok"] is True
    assert body["errors"] == []
    assert re.fullmatch(r"[0-9a-f]{64}", body["digest"])


def test_check_json_reports_the_error_with_its_position_and_exits_2(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nall_events:\n  properties:\n    a: kepp\n")

    result = run("policy", "check", "--json", path)

    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["ok"] is False
    (error,) = body["errors"]
    assert (error["file"], error["line"], error["column"]) == (str(path), 4, 8)
    assert "all_events.properties.a" in error["message"]
    assert error["fix"]


# four problems in one file: a misspelt action, a bucket rule with edges
# out of order, an unknown key in a url rule, a sample rate above 1
SEVERAL_ERRORS = """\
version: 1
events:
  checkout:
    properties:
      plan: keeep
      price: {action: bucket, edges: [100, 10]}
      page: {action: url, kep: [ref]}
    sample: {rate: 2}
"""
SEVERAL_ERRORS_FOUND = [
    (5, 13, "events.checkout.properties.plan: not one of the allowed values"),
    (6, 38, "events.checkout.properties.price.edges: edges must be strictly"),
    (7, 32, "unknown key 'events.checkout.properties.page.kep'"),
    (8, 20, "events.checkout.sample.rate: Input should be less than or equal"),
]


def test_check_reports_every_error_one_per_line_in_file_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEVERAL_ERRORS)

    result = run("policy", "check", path)

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == len(SEVERAL_ERRORS_FOUND), result.stderr
    for text, (line, column, fragment) in zip(lines, SEVERAL_ERRORS_FOUND, strict=True):
        assert text.startswith(f"redline: {path}:{line}:{column}: {fragment}")
    # every kind but a validator's own says what to write
    assert [("(fix: " in text) for text in lines] == [True, False, True, True]


def test_check_json_lists_every_error_with_its_position_and_fix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEVERAL_ERRORS)

    result = run("policy", "check", "--json", path)

    assert result.exit_code == 2
    errors = json.loads(result.stdout)["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [
        (line, column) for line, column, _ in SEVERAL_ERRORS_FOUND
    ]
    for error, (_, _, fragment) in zip(errors, SEVERAL_ERRORS_FOUND, strict=True):
        assert error["file"] == str(path)
        assert error["message"].startswith(fragment)
    assert errors[0]["fix"].startswith("write one of 'keep'")
    assert errors[2]["fix"].startswith("remove it or check its spelling")
    assert json.loads(result.stdout)["error_count"] == len(SEVERAL_ERRORS_FOUND)


def _bad_rules(count: int) -> str:
    rules = "".join(f"    p{i}: kepp\n" for i in range(count))
    return f"version: 1\nall_events:\n  properties:\n{rules}"


def test_check_names_the_first_50_errors_and_counts_the_others(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_bad_rules(75))

    result = run("policy", "check", path)

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 51
    assert lines[0].startswith(f"redline: {path}:4:9: all_events.properties.p0:")
    assert lines[49].startswith(f"redline: {path}:53:10: all_events.properties.p49:")
    assert lines[50] == "redline: ... and 25 more errors"


def test_check_json_lists_the_first_50_errors_and_counts_them_all(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_bad_rules(75))

    result = run("policy", "check", "--json", path)

    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["error_count"] == 75
    assert [e["line"] for e in body["errors"]] == list(range(4, 54))


def test_check_json_of_a_valid_policy_counts_no_errors(policy: Path) -> None:
    result = run("policy", "check", "--json", policy)

    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert (body["ok"], body["error_count"], body["errors"]) == (True, 0, [])


@pytest.mark.parametrize(
    ("rule", "found"),
    [
        # one value, many forms tried: the error of the deepest form, once
        (
            "{action: enum, values: [[1]]}",
            [(4, 32, "all_events.properties.a.values.0")],
        ),
        ("keeep", [(4, 8, "all_events.properties.a: not one of the allowed")]),
        # one rule, two problems: both
        (
            "{action: truncate, max_length: 0, extra: 1}",
            [
                (4, 39, "all_events.properties.a.max_length: Input should be"),
                (4, 49, "unknown key 'all_events.properties.a.extra'"),
            ],
        ),
    ],
    ids=["smart union", "action name", "two in one rule"],
)
def test_check_reports_each_problem_once(
    tmp_path: Path, rule: str, found: list[tuple[int, int, str]]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"version: 1\nall_events:\n  properties:\n    a: {rule}\n")

    result = run("policy", "check", "--json", path)

    errors = json.loads(result.stdout)["errors"]
    assert len(errors) == len(found), errors
    for error, (line, column, fragment) in zip(errors, found, strict=True):
        assert (error["line"], error["column"]) == (line, column)
        assert error["message"].startswith(fragment)


def test_check_reports_every_override_of_an_unknown_event(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 1\nevents:\n  a: {}\ndestinations:\n  mp:\n    events:\n"
        "      b: {properties: {x: drop}}\n      c: {properties: {x: drop}}\n"
    )

    result = run("policy", "check", path)

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"redline: {path}:7:10: destinations.mp.events: 'b'")
    assert lines[1].startswith(f"redline: {path}:8:10: destinations.mp.events: 'c'")


def test_a_case_file_with_several_errors_reports_each(
    policy: Path, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: a\n    event: {event: api_call}\n    expekt: {}\n"
        "  - event: {event: api_call}\n    expect: {dropped: maybe}\n"
    )

    result = run("policy", "test", policy, "--cases", cases)

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ")[1].rsplit(":", 2)[-2:] for line in lines] == [
        ["4", "13"],
        ["5", "5"],
        ["6", "23"],
    ], result.stderr


def test_check_json_of_a_missing_file_exits_2_with_no_position(tmp_path: Path) -> None:
    result = run("policy", "check", "--json", tmp_path / "absent.yaml")

    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["line"] is None
    assert "cannot read" in error["message"]


# -- schema ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = run("policy", "schema")
    assert result.exit_code == 0
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_schema_is_a_valid_json_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)

    assert schema["$schema"].endswith("2020-12/schema")
    assert "version" in schema["required"]


def test_shipped_policy_validates_against_the_schema(schema: dict[str, Any]) -> None:
    document = yaml.safe_load(default_policy_path().read_text())

    jsonschema.validate(document, schema)


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "evnets": {}},
        {"version": 1, "all_events": {"properties": {"a": "frobnicate"}}},
        {"version": 1, "all_events": {"properties": {"a": {"action": "url", "x": 1}}}},
        {"version": 2},
        {"version": 1, "defaults": {"ipv4_prefix": 40}},
    ],
    ids=["unknown top key", "unknown action", "unknown rule key", "version", "range"],
)
def test_schema_refuses_what_the_loader_refuses(
    schema: dict[str, Any], document: dict[str, Any]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


# -- test ------------------------------------------------------------------------


def test_cases_beside_the_policy_run_and_pass(policy: Path) -> None:
    policy.with_name("app.tests.yaml").write_text(CASES)

    result = run("policy", "test", policy)

    assert result.exit_code == 0, result.output
    assert "PASS the prompt never leaves" in result.stdout
    assert "PASS unknown events are dropped" in result.stdout
    assert "PASS the whole output of a page view" in result.stdout
    assert result.stdout.endswith("3 passed, 0 failed\n")
    assert_nothing_raw(result.output)


def test_case_diff_shows_each_change_masked(policy: Path) -> None:
    policy.with_name("app.tests.yaml").write_text(CASES)

    out = run("policy", "test", policy).stdout

    assert "~ distinct_id: j***@e***.com -> ephemeral:<hmac>" in out
    assert "- text: S*** (35 chars)" in out
    assert "- stray: <" not in out  # a string, so shown as one
    assert "- stray: 2*** (12 chars)" in out
    assert "~ title: C*** (21 chars) -> C*** (16 chars) with [PHONE]" in out
    assert "- section: b*** (7 chars)" in out
    # the insert id the engine derives is not a change the author made
    assert "$insert_id" not in out


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("{absent: [model]}", "absent: model is present"),
        ("{present: [text]}", "present: text is missing"),
        ("{equals: {model: gpt-4}}", "equals: model differs: got g*** (10 chars)"),
        ("{equals: {prompt_tokens: 813}}", "equals: prompt_tokens differs"),
        ("{equals: {nothing: 1}}", "equals: nothing is missing"),
        ("{matches: {model: '^claude'}}", "matches: model is g*** (10 chars), not"),
        ("{dropped: true}", "expected the event to be dropped"),
    ],
)
def test_unmet_expectations_fail_with_exit_1_and_say_which(
    policy: Path, tmp_path: Path, expect: str, message: str
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: one\n    event: {event: api_call, properties: "
        "{distinct_id: u1, text: 'Summarise the contract for Jane Doe', "
        f"model: gpt-5-mini, prompt_tokens: 812}}}}\n    expect: {expect}\n"
    )

    result = run("policy", "test", policy, "--cases", cases)

    assert result.exit_code == 1
    assert "FAIL one" in result.stdout
    assert f"    x {message}" in result.stdout
    assert result.stdout.endswith("0 passed, 1 failed\n")
    assert_nothing_raw(result.output)


def test_a_dropped_event_fails_property_assertions(
    policy: Path, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: one\n    event: {event: nope, properties: {}}\n"
        "    expect: {present: [model]}\n"
    )

    result = run("policy", "test", policy, "--cases", cases)

    assert result.exit_code == 1
    assert "x expected the event to be kept" not in result.stdout
    assert "x the event was dropped, so no property can be checked" in result.stdout


def test_output_mismatch_names_missing_unexpected_and_different_properties(
    policy: Path, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: one\n    event: {event: page_view, properties: "
        "{distinct_id: u1, title: Pricing, section: billing}}\n"
        "    output: {event: page_view, properties: "
        "{title: Plans, section: billing}}\n"
    )

    result = run("policy", "test", policy, "--cases", cases)

    assert result.exit_code == 1
    assert "x output: section is missing" in result.stdout
    assert "x output: title is P*** (7 chars), expected <" not in result.stdout
    assert "x output: title is P*** (7 chars), expected *** (5 chars)" in result.stdout


def test_nested_paths_reach_into_objects(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nevents:\n  e:\n    properties:\n      cart: keep\n")
    cases = tmp_path / "p.tests.yaml"
    cases.write_text(
        "cases:\n  - name: nested\n    event: {event: e, properties: "
        "{cart: {items: 3, note: 'call 202-555-0143'}}}\n"
        "    expect: {equals: {cart.items: 3, cart.note: 'call [PHONE]'}, "
        "absent: [cart.owner]}\n"
    )

    result = run("policy", "test", policy)

    assert result.exit_code == 0, result.output
    assert "~ cart.note: c*** (17 chars) -> c*** (12 chars) with [PHONE]" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("cases:\n  - name: a\n    evnt: {}\n", 3, "unknown key 'cases.0.evnt'"),
        (
            "cases:\n  - name: a\n    event: {event: e}\n"
            "    expect: {matches: {x: '('}}\n",
            4,
            "not a valid regex",
        ),
        ("cases: []\n", 1, "at least one"),
        ("cases:\n  - name: a\n    event: [\n", 4, "not valid YAML"),
    ],
    ids=["unknown key", "bad regex", "no cases", "broken yaml"],
)
def test_a_broken_case_file_exits_2_naming_its_line(
    policy: Path, tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(text)

    result = run("policy", "test", policy, "--cases", cases)

    assert result.exit_code == 2
    assert f"{cases}:{line}:" in result.stderr
    assert fragment in result.stderr


def test_a_case_with_no_expectation_fails(policy: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: a\n    event: {event: api_call}\n")

    result = run("policy", "test", policy, "--cases", cases)

    assert result.exit_code == 1
    assert "x the case has neither 'expect' nor 'output'" in result.stdout


def test_no_cases_and_no_events_is_an_error_that_says_where_to_write_them(
    policy: Path,
) -> None:
    result = run("policy", "test", policy)

    # a run with nothing to test is a missing file, not a pass (docs: exit 2)
    assert result.exit_code == 2
    assert "app.tests.yaml" in result.stderr


def test_the_shipped_example_policy_passes_its_own_test_cases() -> None:
    shipped = default_policy_path()
    assert shipped.with_name("policy.tests.yaml").is_file()

    result = run("policy", "test", shipped)

    assert result.exit_code == 0, result.output
    summary = result.stdout.splitlines()[-1]
    passed = int(summary.split()[0])
    assert passed >= 7
    assert summary == f"{passed} passed, 0 failed"
    for case in (
        "PASS an email used as distinct id arrives as a keyed digest",
        "PASS a page URL keeps its route and allowed parameters only",
        "PASS properties the policy does not name are dropped",
        "PASS an API key in an error message is redacted",
        "PASS an event the policy does not name is dropped",
    ):
        assert case in result.stdout


def test_the_example_policys_test_cases_ship_in_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["redline"]

    assert any(
        fnmatch.fnmatch("defaults/policy.tests.yaml", pattern) for pattern in patterns
    )


def test_the_docs_name_the_command_that_tests_the_example_policy() -> None:
    docs = (ROOT / "docs" / "policy.md").read_text()

    assert "redline policy test src/redline/defaults/policy.yaml" in docs
    assert (ROOT / "src/redline/defaults/policy.tests.yaml").is_file()


def test_an_invalid_policy_exits_2_before_any_case_runs(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nevents:\n  e:\n    properties: {a: kep}\n")
    policy.with_name("p.tests.yaml").write_text(CASES)

    result = run("policy", "test", policy)

    assert result.exit_code == 2
    assert f"{policy}:4:" in result.stderr
    assert result.stdout == ""


def test_the_policys_hash_key_is_used_when_it_can_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_TEST_KEY", "k" * 32)
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nhash: {key_id: k7, key: {env: POLICY_TEST_KEY}}\n"
        "all_events:\n  properties: {distinct_id: hash}\n"
        "events:\n  e: {}\n"
    )
    cases = tmp_path / "p.tests.yaml"
    cases.write_text(
        "cases:\n  - name: a\n    event: {event: e, properties: {distinct_id: u1}}\n"
        "    expect: {matches: {distinct_id: '^k7:'}}\n"
    )

    kept = run("policy", "test", policy)
    monkeypatch.delenv("POLICY_TEST_KEY")
    fallback = run("policy", "test", policy)

    assert kept.exit_code == 0
    assert "throw-away" not in kept.stderr
    # without the secret the cases still run, under the same key id
    assert fallback.exit_code == 0
    assert "POLICY_TEST_KEY is not set" in fallback.stderr
    assert "throw-away key (key id k7)" in fallback.stderr


def test_sample_events_show_per_event_changes_and_summary_counts(
    policy: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        {"event": "api_call", "properties": {"distinct_id": EMAIL, "text": PROMPT}},
        {"event": "unknown_thing", "properties": {"distinct_id": "u1"}},
        {"event": "page_x", "properties": {"title": f"card {CARD}"}},
        {"event": "page_x", "properties": {"title": "Pricing"}},
    ]
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")

    result = run("policy", "test", policy, "--events", events)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "line 1: api_call: 2 changes\n" in out
    assert "    - text: S*** (35 chars)\n" in out
    assert "line 2: unknown_thing: event dropped\n" in out
    assert "line 3: page_x: 1 changes\n" in out
    assert "with [CREDIT_CARD]" in out
    assert "line 4: page_x: unchanged\n" in out
    assert out.endswith(
        "4 events: 3 kept, 1 dropped, 0 unreadable; properties: 2 changed, 1 removed\n"
    )
    assert_nothing_raw(result.output)


def test_unreadable_sample_lines_are_counted_and_fail_the_run(
    policy: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "page_x"}\nnot json\n[1, 2]\n')

    result = run("policy", "test", policy, "--events", events)

    assert result.exit_code == 1
    assert "line 2: not an event in export shape; skipped" in result.stdout
    assert "line 3: not an event in export shape; skipped" in result.stdout
    assert result.stdout.endswith("3 events: 1 kept, 0 dropped, 2 unreadable\n")


def test_quiet_shows_only_failures(policy: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        CASES + "  - name: bad\n    event: {event: api_call}\n"
        "    expect: {dropped: true}\n"
    )

    result = run("policy", "test", policy, "--cases", cases, "--quiet")

    assert result.exit_code == 1
    assert "PASS" not in result.stdout
    assert "FAIL bad" in result.stdout
    assert result.stdout.endswith("3 passed, 1 failed\n")


# -- explain -----------------------------------------------------------------------


def _explain(policy: Path, record: dict[str, Any]) -> dict[str, Any]:
    result = run("policy", "explain", "--json", policy, json.dumps(record))
    assert result.exit_code == 0, result.output
    assert_nothing_raw(result.output)
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def _by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in body["properties"]}


def test_explain_names_the_rule_and_section_for_each_property(policy: Path) -> None:
    body = _explain(
        policy,
        {
            "event": "page_view",
            "properties": {
                "distinct_id": EMAIL,
                "title": f"Call {PHONE}",
                "section": "billing",
                "stray": 1,
                "$current_url": f"https://app.example.com/u/{EMAIL}?q=1",
            },
        },
    )
    props = _by_name(body)

    assert body["dropped"] is False
    assert body["matched"] == ["events.'page_*' (glob)", "events.page_view (exact)"]
    assert props["distinct_id"]["source"] == "all_events"
    assert props["distinct_id"]["rule"] == "hash"
    assert props["distinct_id"]["findings"] == ["hash at distinct_id"]
    assert props["title"]["source"] == "events.'page_*'"
    assert props["title"]["why"] == "glob 'page_*' matches the event name"
    assert props["title"]["outcome"] == "changed"
    assert props["title"]["findings"] == ["redact PHONE at title"]
    # the exact event's rule wins over the glob's
    assert props["section"]["source"] == "events.page_view"
    assert props["section"]["outcome"] == "dropped"
    assert props["stray"]["source"] == "defaults.unknown_properties"
    assert props["stray"]["rule"] == "drop"
    assert props["$current_url"]["rule"] == "url"
    assert "url EMAIL at $current_url" in props["$current_url"]["findings"]


def test_explain_an_unknown_event_says_it_is_dropped_and_why(policy: Path) -> None:
    body = _explain(policy, {"event": "mystery", "properties": {"a": 1}})

    assert body["dropped"] is True
    assert body["why"] == "no section names it and defaults.unknown_events is drop"
    assert body["event_findings"] == ["drop_event"]
    assert _by_name(body)["a"]["outcome"] == "event dropped"


def test_explain_shows_rule_options_and_the_client_address(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\ndefaults: {client_ip: drop}\nevents:\n  e:\n    properties:\n"
        "      u: {action: url, keep_params: [ref]}\n"
        "      addr: {action: ip, ipv4_prefix: 16}\n"
    )

    body = _explain(
        policy,
        {
            "event": "e",
            "properties": {"u": "x", "addr": "198.51.100.7", "ip": "1.2.3.4"},
        },
    )
    props = _by_name(body)

    assert props["u"]["rule"] == "url {keep_params: [ref]}"
    assert props["addr"]["rule"] == "ip {ipv4_prefix: 16}"
    assert props["addr"]["before"] == "<IPv4 address>"
    assert props["ip"]["rule"] == "client_ip: drop"
    assert props["ip"]["outcome"] == "dropped"


def test_explain_text_reads_the_event_from_a_file(policy: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"event": "api_call", "properties": {"text": PROMPT, "model": "m1"}})
    )

    result = run("policy", "explain", policy, event)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "event api_call: kept (named by events.api_call (exact))\n"
    )
    assert "  text\n      rule:    drop  (from events.api_call: exact event rule)" in (
        result.stdout
    )
    assert "      result:  dropped: S*** (35 chars)\n" in result.stdout
    assert_nothing_raw(result.output)


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ("{not json", "<event>:1:2: not valid JSON"),
        ("{}", "event: missing"),
        ("[1, 2]", "a JSON list of 2 values where one event is expected"),
        ('[{"event": "api_call"}]', "a JSON list of 1 value where one event"),
        ('{"event": "a"} {"event": "b"}', "<event>:1:16: more than one JSON value"),
        ("no-such-file.json", "cannot read the event file"),
    ],
)
def test_explain_refuses_what_is_not_an_event_with_exit_2(
    policy: Path, event: str, fragment: str
) -> None:
    result = run("policy", "explain", policy, event)

    # invalid input, as the docs say of an invalid file
    assert result.exit_code == 2
    assert result.stderr.startswith("redline: ")
    assert fragment in result.stderr


def test_explain_of_a_json_lines_file_says_one_event_is_expected(
    policy: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        {"event": "api_call", "properties": {"distinct_id": EMAIL, "text": PROMPT}},
        {"event": "page_view", "properties": {"title": PHONE}},
        {"event": "signup_v2", "properties": {}},
    ]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = run("policy", "explain", policy, events)

    assert result.exit_code == 2
    assert "not valid JSON" not in result.stderr
    assert (
        f"{events}:2:1: 3 JSON values, one per line, where one event is expected"
    ) in result.stderr
    assert "redline policy test POLICY --events FILE" in result.stderr
    assert_nothing_raw(result.output)

    # the command it suggests reads the same file
    suggested = run("policy", "test", policy, "--events", events)
    assert suggested.exit_code == 0, suggested.output
    assert "3 events: 2 kept, 1 dropped, 0 unreadable" in suggested.stdout


def test_explain_redacts_property_names_that_carry_personal_data(
    policy: Path,
) -> None:
    body = _explain(policy, {"event": "api_call", "properties": {EMAIL: "x"}})

    assert [p["name"] for p in body["properties"]] == ["[EMAIL]"]


# -- masking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("jane.doe@example.com", "j***@e***.com"),
        ("a@b.io", "***@***.io"),
        ("hello world", "h*** (11 chars)"),
        ("abc", "*** (3 chars)"),
        ("x", "*** (1 char)"),
        ("", '""'),
        ("k1:0123456789abcdef0123456789abcdef", "k1:<hmac>"),
        ("[EMAIL]", "[EMAIL]"),
        ("mail [EMAIL] or [PHONE]", "m*** (23 chars) with [EMAIL] [PHONE]"),
        (
            "https://app.example.com/a/b?x=1&y=2",
            "https://a*** (35 chars, 2 path segments, 2 query params)",
        ),
        ("203.0.113.57", "<IPv4 address>"),
        ("2001:db8::1", "<IPv6 address>"),
        ("東京都港区六本木", "東*** (8 chars)"),
        (4111111111111111, "<int, 16 digits>"),
        (-7, "<int, 1 digit>"),
        (0.5, "<float>"),
        (True, "true"),
        (None, "null"),
        ([1, 2], "<list of 2 items>"),
        ({"a": 1}, "<object of 1 key>"),
    ],
)
def test_mask_never_shows_the_value(value: Any, shown: str) -> None:
    assert mask(value) == shown


@pytest.mark.parametrize(
    "near_miss",
    [
        "k1:0123456789abcdef",  # too short for a digest
        "K1:0123456789ABCDEF0123456789ABCDEF",  # upper-case hex is not ours
        "[email]",  # lower case is not a placeholder
        "user@localhost",  # no dot: not email-shaped
    ],
)
def test_mask_near_misses_are_masked_as_plain_text(near_miss: str) -> None:
    shown = mask(near_miss)

    assert near_miss not in shown
    assert shown.endswith(f"({len(near_miss)} chars)")


# -- the whole language: report mode, sampling, drop_if, nested rules -------------

LANGUAGE = """\
version: 1
all_events:
  drop_if:
    - {property: env, in: [test, staging]}
  properties:
    distinct_id: hash
events:
  checkout:
    sample: {rate: 0.5}
    properties:
      address: {properties: {city: keep}}
      seats: {action: bucket, edges: [1, 10, 50]}
      ua: user_agent
  trial:
    mode: report
    properties:
      plan: keep
"""
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"
)


@pytest.fixture
def language(tmp_path: Path) -> Path:
    path = tmp_path / "language.yaml"
    path.write_text(LANGUAGE)
    return path


def test_explain_shows_sampling_conditions_and_nested_rules(language: Path) -> None:
    result = run(
        "policy",
        "explain",
        language,
        json.dumps(
            {
                "event": "checkout",
                # a distinct id this policy's (throw-away) key may sample
                # either way: the verdict is checked against the findings
                "properties": {
                    "distinct_id": "u1",
                    "address": {"city": "Paris", "street": "1 rue X"},
                    "seats": 12,
                    "ua": UA,
                },
            }
        ),
    )

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "  sample: rate 0.5, by distinct id\n" in out
    assert "  drop_if: 1 condition(s)\n" in out
    assert "rule:    keep {properties: {city: keep}}" in out
    assert "rule:    bucket {edges: [1, 10, 50]}" in out
    assert "rule:    user_agent  (from events.checkout: exact event rule)" in out
    if "  event: sample\n" in out:
        assert out.startswith("event checkout: dropped")
    else:
        assert "engine:  drop at address.street" in out
        assert "result:  changed: M*** (116 chars) -> C*** (20 chars)" in out
    assert "Paris" not in out and "rue" not in out and "Chrome" not in out


def test_explain_names_the_drop_if_condition_that_dropped_the_event(
    language: Path,
) -> None:
    body = _explain(
        language,
        {"event": "checkout", "properties": {"distinct_id": "u1", "env": "staging"}},
    )

    assert body["dropped"] is True
    assert body["event_findings"] == ["drop_event at env"]
    assert body["drop_conditions"] == 1


def test_explain_in_report_mode_says_what_enforcement_would_do(
    language: Path,
) -> None:
    result = run(
        "policy",
        "explain",
        language,
        json.dumps({"event": "trial", "properties": {"plan": EMAIL, "x": 1}}),
    )

    assert result.exit_code == 0, result.output
    assert "  mode: report (forwarded as sent;" in result.stdout
    # forwarded as sent, with what enforce mode would have done beside it
    assert "  x\n" in result.stdout
    assert "      result:  kept: <int, 1 digit>\n      engine:  drop at x\n" in (
        result.stdout
    )
    assert "engine:  redact EMAIL at plan" in result.stdout
    assert EMAIL not in result.output


def test_policy_test_says_when_an_event_went_out_as_sent(
    language: Path, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: trial in report mode\n"
        "    event: {event: trial, properties: {distinct_id: u1, plan: pro, x: 1}}\n"
        "    expect: {present: [x], equals: {distinct_id: u1}}\n"
    )

    result = run("policy", "test", language, "--cases", cases)

    assert result.exit_code == 0, result.output
    assert "PASS trial in report mode\n    report mode: forwarded as sent\n" in (
        result.stdout
    )


def test_sampling_keeps_or_drops_each_distinct_id_whole(
    language: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    ids = [f"user-{n}" for n in range(40)]
    lines = [
        json.dumps({"event": "checkout", "properties": {"distinct_id": i, "n": k}})
        for k in range(2)
        for i in ids
    ]
    events.write_text("\n".join(lines) + "\n")

    out = run("policy", "test", language, "--events", events).stdout

    verdicts = re.findall(r"^line (\d+): checkout: (event dropped|.*)$", out, re.M)
    dropped = {int(n) for n, v in verdicts if v == "event dropped"}
    # line k*40 + i + 1 is distinct id i's k-th event
    for i in range(len(ids)):
        assert (i + 1 in dropped) == (len(ids) + i + 1 in dropped)
    assert 0 < len(dropped) < len(lines)
    assert "+ $sample_rate: <float>" in out
