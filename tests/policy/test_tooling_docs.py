"""The policy reference and the example policies stay true: every example
policy passes ``redline policy check`` and its own test cases, every YAML
example in docs/policy.md loads, and every action has a section."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from redline.cli import main
from redline.policy import parse_policy
from redline.policy._cases import CasesSpec
from redline.policy._tooling import policy_schema

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "policy.md"
EXAMPLES = ROOT / "examples" / "policies"

_POLICIES = sorted(
    p for p in EXAMPLES.glob("*.yaml") if not p.name.endswith(".tests.yaml")
)
_CASES = sorted(EXAMPLES.glob("*.tests.yaml"))
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)


def _blocks() -> list[str]:
    return _YAML_BLOCK.findall(DOCS.read_text(encoding="utf-8"))


def test_there_are_example_policies_and_cases() -> None:
    assert [p.name for p in _POLICIES] == ["llm-api.yaml"]
    assert [p.name for p in _CASES] == ["llm-api.tests.yaml"]


@pytest.mark.parametrize("policy", _POLICIES, ids=lambda p: p.name)
def test_every_example_policy_passes_check(policy: Path) -> None:
    result = CliRunner().invoke(main, ["policy", "check", str(policy)])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{policy}: ok (sha256 ")


@pytest.mark.parametrize("cases", _CASES, ids=lambda p: p.name)
def test_every_example_policys_cases_pass(cases: Path) -> None:
    policy = cases.with_name(cases.name.replace(".tests.yaml", ".yaml"))

    result = CliRunner().invoke(main, ["policy", "test", str(policy)])

    assert result.exit_code == 0, result.output
    assert re.search(r"^[1-9]\d* passed, 0 failed$", result.stdout, re.M)


def test_the_docs_have_yaml_examples() -> None:
    assert len(_blocks()) >= 10


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_every_yaml_example_in_the_docs_loads(index: int) -> None:
    text = _blocks()[index]
    raw = yaml.safe_load(text)

    if "cases" in raw:
        CasesSpec.model_validate(raw)
    else:
        parse_policy(text, f"docs/policy.md block {index}")


def _as_editors_see_it(text: str) -> Any:
    # YAML 1.2 editors read 2027-01-31 as a string, PyYAML as a date
    def plain(value: Any) -> Any:
        if isinstance(value, datetime.date):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.loads(json.dumps(yaml.safe_load(text), default=plain))


def test_every_example_policy_validates_against_the_json_schema() -> None:
    schema = policy_schema()
    documents = [p.read_text(encoding="utf-8") for p in _POLICIES]
    documents += [b for b in _blocks() if not b.startswith("cases:")]

    assert len(documents) >= 10
    for text in documents:
        jsonschema.validate(_as_editors_see_it(text), schema)


def _actions(schema: dict[str, Any]) -> set[str]:
    """Every action name the schema allows in a rule."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            action = node.get("properties", {}).get("action")
            if isinstance(action, dict):
                found.update(action.get("enum", []))
                if "const" in action:
                    found.add(action["const"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def test_every_action_has_a_section_with_an_example() -> None:
    text = DOCS.read_text(encoding="utf-8")
    sections = set(re.findall(r"^### `([a-z_]+)`", text, re.M))
    actions = _actions(policy_schema())

    assert {"keep", "drop", "hash", "redact", "url", "ip"} <= actions
    assert actions - sections == set()


def test_the_readme_links_the_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    policy_section = readme.split("## Policy", 1)[1].split("\n## ", 1)[0]

    assert "(docs/policy.md)" in policy_section
    assert "(examples/policies/llm-api.yaml)" in policy_section
