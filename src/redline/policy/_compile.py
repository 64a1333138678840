"""Compiled policy: frozen objects the engine runs on.

Everything that can be decided at load is decided here: rule objects are
built, globs and regular expressions compiled, secrets resolved. The hot path
only looks things up.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import hashlib
import itertools
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson

from ..errors import ConfigError
from ._model import (
    ConditionSpec,
    DestinationOverrideSpec,
    EventRulesSpec,
    Mismatch,
    OverrideRulesSpec,
    PolicySpec,
    RulesSpec,
    Scalar,
    TypeName,
)


class Action(StrEnum):
    KEEP = "keep"
    DROP = "drop"
    HASH = "hash"
    REDACT = "redact"
    URL = "url"
    IP = "ip"
    MASK = "mask"
    TRUNCATE = "truncate"
    USER_AGENT = "user_agent"
    BUCKET = "bucket"
    ENUM = "enum"


class Mode(StrEnum):
    ENFORCE = "enforce"
    REPORT = "report"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Rule:
    action: Action
    # url: compiled pattern of the query parameter names to keep
    keep_params: re.Pattern[str] | None = None
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    # the type check; bucket implies "number"
    type: TypeName | None = None
    on_mismatch: Mismatch = "drop"
    # mask
    keep_first: int = 0
    keep_last: int = 0
    # truncate
    max_length: int = 0
    # bucket: the edges and the len(edges) + 1 range labels
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    # enum: (type name, value) of each listed value; unlisted -> "other"?
    values: frozenset[tuple[str, Scalar]] = frozenset()
    to_other: bool = False
    # nested rules: the keys of an object, the items of a list
    properties: Mapping[str, Rule] | None = None
    items: Rule | None = None
    # True for a rule with nothing but its action (no type check, no nested
    # rules): the engine's fast paths
    plain: bool = dataclasses.field(init=False, default=True)

    def __post_init__(self) -> None:
        plain = self.type is None and self.properties is None and self.items is None
        object.__setattr__(self, "plain", plain)


DROP = Rule(Action.DROP)
KEEP = Rule(Action.KEEP)


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    """A compiled ``drop_if`` condition: exactly one test is set."""

    property: str
    equals: frozenset[tuple[str, Scalar]] | None = None
    matches: re.Pattern[str] | None = None
    exists: bool | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Aggregate:
    """A compiled ``aggregate`` rule: the engine marks the events it covers
    and the gateway's aggregator folds them into windows."""

    window_seconds: int
    group_by: tuple[str, ...] = ()
    sum: tuple[str, ...] = ()
    min: tuple[str, ...] = ()
    max: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Ruleset:
    """The rules in force for one event name (or for profiles or groups)."""

    known: bool  # False when the event matched no rules of its own
    properties: Mapping[str, Rule]
    drop_if: tuple[Condition, ...] = ()
    sample_rate: float | None = None
    mode: Mode = Mode.ENFORCE
    aggregate: Aggregate | None = None


_CACHE_SIZE = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class _Section:
    properties: Mapping[str, Rule]
    drop_if: tuple[Condition, ...]
    sample_rate: float | None
    mode: Mode | None
    aggregate: Aggregate | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PreviousKey:
    """A hash key being rotated out, used until the end of ``until`` (UTC)."""

    key_id: str
    until: datetime.date


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicy:
    spec: PolicySpec
    source: str
    digest: str  # sha256 of the policy as validated, for logs and metrics
    detectors: tuple[str, ...]
    unknown_property: Rule
    drop_unknown_events: bool
    on_detection: Action
    client_ip: Rule
    hash_key_id: str | None
    profiles: Ruleset
    groups: Ruleset
    _all: _Section
    _exact: Mapping[str, _Section]
    _globs: tuple[tuple[re.Pattern[str], _Section], ...]
    # the policy-level mode; events may set their own
    mode: Mode = Mode.ENFORCE
    # True when report mode is on for the policy or for any event
    reports: bool = False
    previous_keys: tuple[PreviousKey, ...] = ()
    # every action some rule uses, nested rules included
    uses: frozenset[Action] = frozenset()
    # True when some event section aggregates
    aggregates: bool = False
    # destination name -> the policy for the events sent there (the base
    # rules with that destination's overrides merged over them); only
    # destinations whose override has rules are here
    for_destination: Mapping[str, CompiledPolicy] = dataclasses.field(
        default_factory=dict
    )
    _cache: dict[str, Ruleset] = dataclasses.field(default_factory=dict)

    def rules_for(self, event_name: str) -> Ruleset:
        """The merged rules for an event: every-event rules, then matching
        globs in file order, then the exact name."""
        found = self._cache.get(event_name)
        if found is not None:
            return found
        sections = [self._all]
        known = False
        for pattern, section in self._globs:
            if pattern.fullmatch(event_name):
                sections.append(section)
                known = True
        exact = self._exact.get(event_name)
        if exact is not None:
            sections.append(exact)
            known = True
        found = self._merge(known, sections)
        # event names come from clients, so the cache is bounded
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[event_name] = found
        return found

    def _merge(self, known: bool, sections: list[_Section]) -> Ruleset:
        merged: dict[str, Rule] = {}
        drop_if: list[Condition] = []
        rate: float | None = None
        mode = self.mode
        aggregate: Aggregate | None = None
        for section in sections:
            merged.update(section.properties)
            drop_if.extend(section.drop_if)
            if section.sample_rate is not None:
                rate = section.sample_rate
            if section.mode is not None:
                mode = section.mode
            if section.aggregate is not None:
                aggregate = section.aggregate
        return Ruleset(known, merged, tuple(drop_if), rate, mode, aggregate)


def unknown_override_events(spec: PolicySpec) -> list[tuple[str, str]]:
    """(destination, event section) for every override of an event section
    the base policy does not have: an override cannot make an event known."""
    return [
        (destination, name)
        for destination, override in spec.destinations.items()
        for name in override.events
        if name not in spec.events
    ]


def override_event_error(
    destination: str,
    name: str,
    source: str,
    where: tuple[int, int] | None = None,
) -> ConfigError:
    return ConfigError(
        f"destinations.{destination}.events: {name!r} is not a section of "
        "the policy's events; an override only changes the property rules "
        "of a section the policy has",
        path=source,
        line=where[0] if where else None,
        column=where[1] if where else None,
        fix=f"add {name!r} under events, or remove it from the override",
    )


def merged_spec(spec: PolicySpec, override: DestinationOverrideSpec) -> PolicySpec:
    """The base policy with one destination's property rules merged over
    each section's own (an override rule replaces the base rule for its
    property whole, nested rules included), and no overrides of its own."""

    def merge(section: Any, over: OverrideRulesSpec) -> Any:
        if not over.properties:
            return section
        properties = {**section.properties, **over.properties}
        return section.model_copy(update={"properties": properties})

    events = dict(spec.events)
    for name, over in override.events.items():
        events[name] = merge(spec.events[name], over)
    return spec.model_copy(
        update={
            "all_events": merge(spec.all_events, override.all_events),
            "events": events,
            "profiles": merge(spec.profiles, override.profiles),
            "groups": merge(spec.groups, override.groups),
            "destinations": {},
        }
    )


def _has_rules(override: DestinationOverrideSpec) -> bool:
    sections = [override.all_events, override.profiles, override.groups]
    sections.extend(override.events.values())
    return any(section.properties for section in sections)


def compile_policy(spec: PolicySpec, source: str) -> CompiledPolicy:
    unknown = unknown_override_events(spec)
    if unknown:
        raise override_event_error(*unknown[0], source)
    for_destination = {
        name: compile_policy(merged_spec(spec, override), source)
        for name, override in spec.destinations.items()
        if _has_rules(override)
    }
    defaults = spec.defaults
    default_params = _globs_to_regex(defaults.url_keep_params)
    policy_mode = Mode(spec.mode)

    compiled: list[Rule] = []

    def rule(raw: Any) -> Rule:
        made = _rule(raw, default_params, defaults.ipv4_prefix, defaults.ipv6_prefix)
        compiled.append(made)
        return made

    def section(raw: RulesSpec) -> _Section:
        rate = None
        aggregate = None
        if isinstance(raw, EventRulesSpec):
            rate = raw.sample.rate if raw.sample else None
            if raw.aggregate is not None:
                spec_ = raw.aggregate
                aggregate = Aggregate(
                    spec_.window_seconds,
                    spec_.group_by,
                    spec_.sum,
                    spec_.min,
                    spec_.max,
                )
        return _Section(
            {name: rule(item) for name, item in raw.properties.items()},
            tuple(_condition(c) for c in raw.drop_if),
            rate,
            Mode(raw.mode) if raw.mode else None,
            aggregate,
        )

    exact: dict[str, _Section] = {}
    globs: list[tuple[re.Pattern[str], _Section]] = []
    for name, event_section in spec.events.items():
        if any(ch in name for ch in "*?["):
            globs.append((re.compile(fnmatch.translate(name)), section(event_section)))
        else:
            exact[name] = section(event_section)

    all_section = section(spec.all_events)
    canonical = orjson.dumps(spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    client_ip = {
        "drop": DROP,
        "keep": KEEP,
        "truncate": Rule(Action.IP, None, defaults.ipv4_prefix, defaults.ipv6_prefix),
    }[defaults.client_ip]
    sections = [spec.all_events, *spec.events.values(), spec.profiles, spec.groups]
    reports = policy_mode is Mode.REPORT or any(s.mode == "report" for s in sections)

    def ruleset(raw: RulesSpec) -> Ruleset:
        own = section(raw)
        return Ruleset(
            True,
            {**all_section.properties, **own.properties},
            all_section.drop_if + own.drop_if,
            None,
            own.mode or all_section.mode or policy_mode,
        )

    return CompiledPolicy(
        spec=spec,
        source=source,
        digest=hashlib.sha256(canonical).hexdigest(),
        detectors=defaults.detect,
        unknown_property=DROP if defaults.unknown_properties == "drop" else KEEP,
        drop_unknown_events=defaults.unknown_events == "drop",
        on_detection=Action(defaults.on_detection),
        client_ip=client_ip,
        hash_key_id=spec.hash.key_id if spec.hash else None,
        profiles=ruleset(spec.profiles),
        groups=ruleset(spec.groups),
        _all=all_section,
        _exact=exact,
        _globs=tuple(globs),
        mode=policy_mode,
        reports=reports,
        uses=frozenset(_actions_in(compiled)),
        aggregates=any(
            s.aggregate is not None for s in [spec.all_events, *spec.events.values()]
        ),
        previous_keys=tuple(
            PreviousKey(old.key_id, old.until)
            for old in (spec.hash.previous if spec.hash else ())
        ),
        for_destination=for_destination,
    )


def _rule(raw: Any, default_params: re.Pattern[str], v4: int, v6: int) -> Rule:
    if isinstance(raw, str):
        action = Action(raw)
        if action is Action.URL:
            return Rule(action, default_params)
        if action is Action.IP:
            return Rule(action, None, v4, v6)
        return Rule(action)
    action = Action(raw.action)
    common: dict[str, Any] = {"type": raw.type, "on_mismatch": raw.on_mismatch}
    if action is Action.URL:
        params = raw.keep_params
        return Rule(
            action,
            default_params if params is None else _globs_to_regex(params),
            **common,
        )
    if action is Action.IP:
        return Rule(action, None, raw.ipv4_prefix, raw.ipv6_prefix, **common)
    if action is Action.MASK:
        return Rule(
            action, keep_first=raw.keep_first, keep_last=raw.keep_last, **common
        )
    if action is Action.TRUNCATE:
        return Rule(action, max_length=raw.max_length, **common)
    if action is Action.BUCKET:
        edges = tuple(float(edge) for edge in raw.edges)
        return Rule(action, edges=edges, labels=_labels(raw.edges), **common)
    if action is Action.ENUM:
        return Rule(
            action,
            values=frozenset(typed(value) for value in raw.values),
            to_other=raw.other == "other",
            **common,
        )
    if action is Action.KEEP and (raw.properties is not None or raw.items is not None):
        properties = None
        if raw.properties is not None:
            properties = {
                name: _rule(item, default_params, v4, v6)
                for name, item in raw.properties.items()
            }
        items = None
        if raw.items is not None:
            items = _rule(raw.items, default_params, v4, v6)
        return Rule(action, properties=properties, items=items, **common)
    return Rule(action, **common)


def _actions_in(rules: list[Rule]) -> set[Action]:
    found: set[Action] = set()
    stack = list(rules)
    while stack:
        rule = stack.pop()
        found.add(rule.action)
        if rule.properties:
            stack.extend(rule.properties.values())
        if rule.items is not None:
            stack.append(rule.items)
    return found


def typed(value: Any) -> tuple[str, Any]:
    """A value with its JSON type, so ``1``, ``1.0``, ``True`` and ``"1"``
    are told apart where the policy compares values (``1`` and ``1.0`` are
    the same JSON number)."""
    if isinstance(value, bool):
        return "boolean", value
    if isinstance(value, int | float):
        return "number", value
    return type(value).__name__, value


def _labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    text = [_number(edge) for edge in edges]
    inner = [f"{a}-{b}" for a, b in itertools.pairwise(text)]
    return (f"<{text[0]}", *inner, f"{text[-1]}+")


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _condition(raw: ConditionSpec) -> Condition:
    if raw.matches is not None:
        return Condition(raw.property, matches=re.compile(raw.matches))
    if raw.exists is not None:
        return Condition(raw.property, exists=raw.exists)
    values = (raw.equals,) if raw.equals is not None else raw.in_ or ()
    return Condition(raw.property, equals=frozenset(typed(v) for v in values))


def _globs_to_regex(globs: tuple[str, ...]) -> re.Pattern[str]:
    if not globs:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(fnmatch.translate(g) for g in globs))
