"""Compiled policy: frozen objects the engine runs on.

Everything that can be decided at load is decided here: rule objects are
built, globs compiled, secrets resolved. The hot path only looks things up.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson

from ._model import EventRulesSpec, PolicySpec


class Action(StrEnum):
    KEEP = "keep"
    DROP = "drop"
    HASH = "hash"
    REDACT = "redact"
    URL = "url"
    IP = "ip"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    # url: compiled pattern of the query parameter names to keep
    keep_params: re.Pattern[str] | None = None
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48


DROP = Rule(Action.DROP)
KEEP = Rule(Action.KEEP)


@dataclasses.dataclass(frozen=True, slots=True)
class Ruleset:
    """The property rules in force for one event name (or for profiles)."""

    known: bool  # False when the event matched no rules of its own
    properties: Mapping[str, Rule]


_CACHE_SIZE = 4096


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
    _all: Mapping[str, Rule]
    _exact: Mapping[str, Mapping[str, Rule]]
    _globs: tuple[tuple[re.Pattern[str], Mapping[str, Rule]], ...]
    _cache: dict[str, Ruleset] = dataclasses.field(default_factory=dict)

    def rules_for(self, event_name: str) -> Ruleset:
        """The merged rules for an event: every-event rules, then matching
        globs in file order, then the exact name."""
        found = self._cache.get(event_name)
        if found is not None:
            return found
        merged = dict(self._all)
        known = False
        for pattern, rules in self._globs:
            if pattern.fullmatch(event_name):
                merged.update(rules)
                known = True
        exact = self._exact.get(event_name)
        if exact is not None:
            merged.update(exact)
            known = True
        found = Ruleset(known, merged)
        # event names come from clients, so the cache is bounded
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[event_name] = found
        return found


def compile_policy(spec: PolicySpec, source: str) -> CompiledPolicy:
    defaults = spec.defaults
    default_params = _globs_to_regex(defaults.url_keep_params)

    def rules(section: EventRulesSpec) -> dict[str, Rule]:
        out = {}
        for name, raw in section.properties.items():
            out[name] = _rule(
                raw, default_params, defaults.ipv4_prefix, defaults.ipv6_prefix
            )
        return out

    exact: dict[str, Mapping[str, Rule]] = {}
    globs: list[tuple[re.Pattern[str], Mapping[str, Rule]]] = []
    for name, section in spec.events.items():
        if any(ch in name for ch in "*?["):
            globs.append((re.compile(fnmatch.translate(name)), rules(section)))
        else:
            exact[name] = rules(section)

    all_rules = rules(spec.all_events)
    canonical = orjson.dumps(spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    client_ip = {
        "drop": DROP,
        "keep": KEEP,
        "truncate": Rule(Action.IP, None, defaults.ipv4_prefix, defaults.ipv6_prefix),
    }[defaults.client_ip]
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
        profiles=Ruleset(True, {**all_rules, **rules(spec.profiles)}),
        groups=Ruleset(True, {**all_rules, **rules(spec.groups)}),
        _all=all_rules,
        _exact=exact,
        _globs=tuple(globs),
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
    if action is Action.URL:
        params = raw.keep_params
        return Rule(
            action, default_params if params is None else _globs_to_regex(params)
        )
    if action is Action.IP:
        return Rule(action, None, raw.ipv4_prefix, raw.ipv6_prefix)
    return Rule(action)


def _globs_to_regex(globs: tuple[str, ...]) -> re.Pattern[str]:
    if not globs:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(fnmatch.translate(g) for g in globs))
