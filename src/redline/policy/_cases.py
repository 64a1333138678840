"""Test cases written next to a policy, and running them.

A case file is YAML; by convention ``<policy>.tests.yaml`` beside
``<policy>.yaml``::

    cases:
      - name: the prompt never leaves
        event:
          event: api_call
          properties: {distinct_id: u1, text: "...", model: gpt-5-mini}
        expect:
          absent: [text]
          present: [model]
          equals: {model: gpt-5-mini}
          matches: {distinct_id: "^k1:[0-9a-f]{32}$"}
      - name: unknown events are dropped
        event: {event: something_else, properties: {distinct_id: u1}}
        expect: {dropped: true}
      - name: the whole output
        event: {event: signup, properties: {distinct_id: u1, company_size: 12}}
        output: {event: signup, properties: {company_size: 12}}

Events and outputs are in Mixpanel's export shape. Property names in
assertions are top-level names, or dotted paths into objects. ``output``
compares every property except ``$insert_id``, ``time`` and
``distinct_id`` when the expected output leaves those out.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import _yaml
from ..engine import Engine
from ..errors import ConfigError, RedlineError
from ..protocols import mixpanel
from ._tooling import Change, diff_properties, mask, visible_output

__all__ = [
    "CaseOutcome",
    "CaseSpec",
    "CasesSpec",
    "ExpectSpec",
    "cases_path_for",
    "load_cases",
    "run_case",
]

# left out of an ``output`` comparison unless the expected output names them
_ENVELOPE = ("$insert_id", "time", "distinct_id")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectSpec(_Spec):
    dropped: bool | None = None
    absent: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    equals: dict[str, Any] = Field(default_factory=dict)
    matches: dict[str, str] = Field(default_factory=dict)

    @field_validator("matches")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"the pattern for {name!r} is not a valid regex ({exc.msg})"
                ) from None
        return value


class ExportEventSpec(_Spec):
    event: str
    properties: dict[str, Any] = Field(default_factory=dict)


class CaseSpec(_Spec):
    name: str
    event: ExportEventSpec
    expect: ExpectSpec | None = None
    output: ExportEventSpec | None = None


class CasesSpec(_Spec):
    cases: tuple[CaseSpec, ...] = Field(min_length=1)


def cases_path_for(policy: Path) -> Path:
    """Where a policy's test cases live: ``x.yaml`` -> ``x.tests.yaml``."""
    return policy.with_name(f"{policy.stem}.tests{policy.suffix or '.yaml'}")


def load_cases(path: Path) -> CasesSpec:
    """Read and validate a case file; errors name file, line and column."""
    source = str(path)
    text = _yaml.read(path, "test cases", "check the path given with --cases")
    raw, marks = _yaml.load(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(
            "a case file must be a mapping with a 'cases' list",
            path=source,
            line=1,
            fix="start the file with 'cases:'",
        )
    try:
        return CasesSpec.model_validate(raw)
    except ValidationError as exc:
        raise _yaml.validation_error(exc, marks, source) from None


@dataclasses.dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case's result: what changed (masked) and what was not met."""

    name: str
    dropped: bool
    changes: tuple[Change, ...]
    failures: tuple[str, ...]
    # report mode: the event went out as sent; checks see what went out
    report_only: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures


def run_case(engine: Engine, case: CaseSpec) -> CaseOutcome:
    """Apply ``engine`` to the case's event and check its expectations."""
    record = case.event.model_dump()
    before = dict(record["properties"])
    before.pop("token", None)
    try:
        event = mixpanel.event_from_export(record)
    except RedlineError as exc:
        return CaseOutcome(case.name, False, (), (f"input is not an event: {exc}",))
    result = engine.apply(event)
    dropped = result.event is None
    after: dict[str, Any] = {}
    name = case.event.event
    if result.event is not None:
        after = visible_output(before, result.event)
        name = result.event.name

    failures: list[str] = []
    expect = case.expect
    if expect is not None:
        failures.extend(_check_expect(expect, dropped, after))
    if case.output is not None:
        failures.extend(_check_output(case.output, dropped, name, after))
    if expect is None and case.output is None:
        failures.append("the case has neither 'expect' nor 'output'")
    changes = () if dropped else tuple(diff_properties(before, after))
    report_only = bool(getattr(result, "report_only", False))
    return CaseOutcome(case.name, dropped, changes, tuple(failures), report_only)


def _check_expect(
    expect: ExpectSpec, dropped: bool, after: dict[str, Any]
) -> list[str]:
    failures = []
    if expect.dropped is not None and expect.dropped != dropped:
        failures.append(
            "expected the event to be dropped"
            if expect.dropped
            else "expected the event to be kept, but it was dropped"
        )
    needs_event = expect.present or expect.equals or expect.matches
    if dropped and needs_event and not expect.dropped:
        failures.append("the event was dropped, so no property can be checked")
        return failures
    for path in expect.absent:
        if _lookup(after, path) is not _MISSING:
            failures.append(f"absent: {path} is present")
    for path in expect.present:
        if _lookup(after, path) is _MISSING:
            failures.append(f"present: {path} is missing")
    for path, wanted in expect.equals.items():
        got = _lookup(after, path)
        if got is _MISSING:
            failures.append(f"equals: {path} is missing")
        elif not _equal(got, wanted):
            failures.append(
                f"equals: {path} differs: got {mask(got)}, expected {mask(wanted)}"
            )
    for path, pattern in expect.matches.items():
        got = _lookup(after, path)
        if got is _MISSING:
            failures.append(f"matches: {path} is missing")
        elif not isinstance(got, str) or not re.search(pattern, got):
            failures.append(f"matches: {path} is {mask(got)}, not matching {pattern!r}")
    return failures


def _check_output(
    output: ExportEventSpec, dropped: bool, name: str, after: dict[str, Any]
) -> list[str]:
    if dropped:
        return ["expected an output event, but the event was dropped"]
    failures = []
    if output.event != name:
        failures.append(
            f"output: event name is {mask(name)}, expected {mask(output.event)}"
        )
    actual = {
        k: v for k, v in after.items() if k not in _ENVELOPE or k in output.properties
    }
    for change in diff_properties(output.properties, actual):
        if change.kind == "removed":
            failures.append(f"output: {change.path} is missing")
        elif change.kind == "added":
            failures.append(f"output: {change.path} is not expected ({change.after})")
        else:
            failures.append(
                f"output: {change.path} is {change.after}, expected {change.before}"
            )
    return failures


_MISSING = object()


def _lookup(properties: dict[str, Any], path: str) -> Any:
    if path in properties:
        return properties[path]
    node: Any = properties
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)
