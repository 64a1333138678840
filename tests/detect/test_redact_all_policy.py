"""The built-in policy redact-all: by name wherever a policy file is taken,
and ``redline sanitize --policy redact-all`` over JSON objects of any shape."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from redline.cli import main
from redline.detect import DETECTORS
from redline.policy import built_in_name, load_policy

PROJECT_KEY = "phc_TESTprojectKEY00000000000000000000000000000"
PROMPT = "Please summarise my last three invoices for the accountant."
EVENTS = [
    # Mixpanel's export shape
    {"event": "Signed Up", "properties": {"distinct_id": "jane@example.com",
                                          "$browser": "Chrome", "plan": "pro"}},
    # Segment's, with the email in a nested trait and as a key
    {"type": "identify", "userId": "u_42",
     "traits": {"email": "Jane.Doe+news@Mail.Example.com", "phone": "+44 20 7946 0958"},
     "context": {"ip": "203.0.113.7", "page": {"url": "https://x.example/?token=abc123def456"}}},
    # PostHog's, with the project key that must stay
    {"api_key": PROJECT_KEY, "event": "$pageview",
     "properties": {"$current_url": "https://x.example/reset", "card": 4111111111111111,
                    "messages": [{"role": "user", "content": PROMPT}]}},
    # something no vendor sends
    {"a": [[["call me on 020 7946 0958"]]], "n": 1, "ok": True},
]  # fmt: skip


def test_the_name_loads_the_built_in_policy() -> None:
    policy = load_policy("redact-all")
    assert policy.source == "<built-in redact-all>"
    assert set(policy.detectors) == set(DETECTORS)
    assert built_in_name("redact-all") == "redact-all"
    assert built_in_name("policy.yaml") is None


def test_a_file_of_that_name_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "redact-all").write_text("version: 1\n")
    monkeypatch.chdir(tmp_path)
    assert built_in_name("redact-all") is None
    assert load_policy("redact-all").source == "redact-all"


def test_sanitize_redact_all_takes_any_json_object() -> None:
    lines = "".join(orjson.dumps(event).decode() + "\n" for event in EVENTS)
    result = CliRunner().invoke(
        main, ["sanitize", "--policy", "redact-all"], input=lines
    )
    assert result.exit_code == 0, result.output
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert out == [
        {"event": "Signed Up", "properties": {"distinct_id": "[EMAIL]",
                                              "$browser": "Chrome", "plan": "pro"}},
        {"type": "identify", "userId": "u_42",
         "traits": {"email": "[EMAIL]", "phone": "[PHONE]"},
         "context": {"ip": "[IP_ADDRESS]",
                     "page": {"url": "https://x.example/?token=[CREDENTIAL]"}}},
        {"api_key": PROJECT_KEY, "event": "$pageview",
         "properties": {"$current_url": "https://x.example/reset",
                        "card": "[CREDIT_CARD]",
                        "messages": [{"role": "user", "content": "[FREE_TEXT]"}]}},
        {"a": [[["call me on [PHONE]"]]], "n": 1, "ok": True},
    ]  # fmt: skip
    assert "4 records read, 4 written, 0 unreadable" in result.stderr
    assert "EMAIL 2" in result.stderr and "FREE_TEXT 1" in result.stderr
    assert "jane" not in result.stderr.lower()


def test_lines_that_are_no_json_object_are_skipped_and_said() -> None:
    lines = '[1, 2]\nnot json\n{"e": "jane@example.com"}\n'
    result = CliRunner().invoke(
        main, ["sanitize", "--policy", "redact-all"], input=lines
    )
    assert result.exit_code == 1
    assert result.stdout == '{"e":"[EMAIL]"}\n'
    assert "line 1: skipped (not a JSON object)" in result.stderr
    assert "line 2: skipped (not valid JSON)" in result.stderr
