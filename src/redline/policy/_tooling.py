"""Tools for writing policies: masked values, event diffs, explanations and
the JSON Schema.

Everything here builds on the public policy API (``parse_policy``,
``CompiledPolicy.rules_for``, ``PolicySpec``) and on
:class:`redline.engine.Engine`, so new actions show up without changes. No
function here returns a raw event value: values are shown through
:func:`mask`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from .. import _yaml
from ..engine import Engine, Finding
from ..events import Event
from ..protocols import mixpanel
from ._compile import Aggregate, CompiledPolicy
from ._model import PolicySpec

__all__ = [
    "Change",
    "Explanation",
    "PropertyExplanation",
    "diff_properties",
    "explain",
    "locate_key",
    "mask",
    "policy_schema",
    "rule_source",
    "visible_output",
]

# what Redline writes in place of values: digests and placeholders
_DIGEST = re.compile(r"([A-Za-z0-9_-]{1,16}):[0-9a-f]{32}")
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]{1,30}\]")
_EMAIL_SHAPE = re.compile(r"[^@\s/:?&=]+@[^@\s/:?&=]+\.[A-Za-z]{2,}")
_URL_SHAPE = re.compile(r"(https?)://([^/?#\s]*)([^?#\s]*)(?:\?([^#\s]*))?.*", re.I)
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6_SHAPE = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")


def mask(value: Any) -> str:
    """A printable stand-in for ``value`` that never shows it.

    Strings keep their first character and length (``j*** (20 chars)``),
    email-shaped strings their shape (``j***@e***.com``); digests Redline
    wrote keep their key id (``k1:<hmac>``) and placeholders such as
    ``[EMAIL]`` are named. Numbers show their type and size, containers
    their length.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"<int, {_count(len(str(abs(value))), 'digit')}>"
    if isinstance(value, float):
        return "<float>"
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, list):
        return f"<list of {_count(len(value), 'item')}>"
    if isinstance(value, dict):
        return f"<object of {_count(len(value), 'key')}>"
    return f"<{type(value).__name__}>"


def _mask_text(text: str) -> str:
    if not text:
        return '""'
    digest = _DIGEST.fullmatch(text)
    if digest:
        return f"{digest.group(1)}:<hmac>"
    if _PLACEHOLDER.fullmatch(text):
        return text
    if _EMAIL_SHAPE.fullmatch(text):
        local, domain = text.rsplit("@", 1)
        host, _, tld = domain.rpartition(".")
        return f"{_first(local)}***@{_first(host)}***.{_mask_tld(tld)}"
    if _IPV4_SHAPE.fullmatch(text):
        return "<IPv4 address>"
    if _IPV6_SHAPE.fullmatch(text):
        return "<IPv6 address>"
    url = _URL_SHAPE.fullmatch(text)
    if url:
        scheme, host, path, query = url.groups()
        shown = f"{scheme}://{_first(host)}***"
        details = [f"{len(text)} chars"]
        if path.strip("/"):
            segments = path.strip("/").count("/") + 1
            details.append(_count(segments, "path segment"))
        if query:
            details.append(_count(query.count("&") + 1, "query param"))
        shown += f" ({', '.join(details)})"
    else:
        shown = f"{_first(text)}*** ({_chars(len(text))})"
    placeholders = sorted(set(_PLACEHOLDER.findall(text)))
    if placeholders:
        shown += " with " + " ".join(placeholders)
    return shown


def _first(text: str) -> str:
    # the first character says little of a long value and everything of a
    # short one
    return text[0] if len(text) >= 6 else ""


def _chars(n: int) -> str:
    return _count(n, "char")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _mask_tld(tld: str) -> str:
    # a top-level domain is a shape, not a value, unless it is long
    return tld if len(tld) <= 6 and tld.isalpha() else "***"


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """How one property differs between two events. Values masked."""

    path: str
    kind: str  # "removed", "added", "changed"
    before: str | None
    after: str | None

    def render(self) -> str:
        if self.kind == "removed":
            return f"- {self.path}: {self.before}"
        if self.kind == "added":
            return f"+ {self.path}: {self.after}"
        return f"~ {self.path}: {self.before} -> {self.after}"


def diff_properties(
    before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = ""
) -> list[Change]:
    """The changes from ``before`` to ``after``, descending into objects,
    in the order of ``before`` (then keys only ``after`` has)."""
    changes: list[Change] = []
    for key, old in before.items():
        path = f"{prefix}{key}"
        if key not in after:
            changes.append(Change(path, "removed", mask(old), None))
            continue
        new = after[key]
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(diff_properties(old, new, path + "."))
        elif not _same(old, new):
            changes.append(Change(path, "changed", mask(old), mask(new)))
    for key, new in after.items():
        if key not in before:
            changes.append(Change(f"{prefix}{key}", "added", None, mask(new)))
    return changes


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but not in an event
    return type(a) is type(b) and a == b


def visible_output(before: Mapping[str, Any], event: Event) -> dict[str, Any]:
    """The properties of a sanitised event in export shape, without the
    insert id the engine derived when the input had none."""
    after: dict[str, Any] = dict(mixpanel.event_to_export(event)["properties"])
    if "$insert_id" not in before:
        after.pop("$insert_id", None)
    return after


# -- explain -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PropertyExplanation:
    """What the policy said about one property, and what the engine did."""

    name: str
    rule: str  # the rule as written ("keep", "url {keep_params: [ref]}")
    source: str  # where it comes from ("events.checkout", "all_events", ...)
    why: str
    outcome: str  # "dropped", "kept", "changed"
    before: str
    after: str | None
    findings: tuple[str, ...]  # "redact EMAIL", "hash", ...


@dataclasses.dataclass(frozen=True, slots=True)
class Explanation:
    event: str
    matched: tuple[str, ...]  # the policy sections that name this event
    why: str
    dropped: bool
    event_findings: tuple[str, ...]
    properties: tuple[PropertyExplanation, ...]
    mode: str = "enforce"  # "report": forwarded as sent, findings reported
    sample_rate: float | None = None
    drop_conditions: int = 0
    # how an aggregated event is folded ("60 s windows, group_by model;
    # sum tokens"); it is forwarded in a summary, not as shown
    aggregate: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def explain(engine: Engine, record: Mapping[str, Any]) -> Explanation:
    """Explain how ``engine`` treats one event in Mixpanel's export shape
    (``{"event": ..., "properties": {...}}``).

    Raises :class:`redline.errors.RequestError` for a record that is not
    an event.
    """
    policy = engine.policy
    event = mixpanel.event_from_export(dict(record))
    name = event.name
    properties = record.get("properties")
    before = dict(properties) if isinstance(properties, dict) else {}
    before.pop("token", None)

    result = engine.apply(event)
    after: dict[str, Any] = {}
    if result.event is not None:
        after = visible_output(before, result.event)

    matched = _event_sections(policy.spec, name)
    if matched:
        why = "named by " + ", ".join(matched)
    elif policy.drop_unknown_events:
        why = "no section names it and defaults.unknown_events is drop"
    else:
        why = "no section names it; defaults.unknown_events is keep"

    rules = policy.rules_for(name)
    # report mode, sampling and drop_if conditions, where the policy
    # language has them
    mode = str(getattr(getattr(rules, "mode", None), "value", "enforce"))
    report_only = bool(getattr(result, "report_only", False))
    by_property = _group_findings(result.findings, before)
    explained = []
    for key, value in before.items():
        rule, source, reason = rule_source(policy, name, key)
        explained.append(
            PropertyExplanation(
                # names are client data too: detected spans redacted
                name=engine.scrub_text(key)[0],
                rule=rule,
                source=source,
                why=reason,
                outcome=_outcome(key, value, after, result.event is None),
                before=mask(value),
                after=mask(after[key]) if key in after else None,
                findings=tuple(_finding_text(f) for f in by_property.get(key, ())),
            )
        )
    return Explanation(
        event=engine.scrub_text(name)[0],
        matched=tuple(matched),
        why=why,
        dropped=result.event is None,
        event_findings=tuple(_finding_text(f) for f in by_property.get("", ())),
        properties=tuple(explained),
        mode="report" if report_only else mode,
        sample_rate=getattr(rules, "sample_rate", None),
        drop_conditions=len(getattr(rules, "drop_if", ())),
        aggregate=_aggregate_text(result.aggregate),
    )


def _aggregate_text(rule: Aggregate | None) -> str | None:
    if rule is None:
        return None
    parts = [f"{rule.window_seconds} s windows"]
    for label, names in (
        ("group_by", rule.group_by),
        ("sum", rule.sum),
        ("min", rule.min),
        ("max", rule.max),
    ):
        if names:
            parts.append(f"{label} {', '.join(names)}")
    return "; ".join(parts)


def rule_source(policy: CompiledPolicy, event: str, key: str) -> tuple[str, str, str]:
    """The rule for property ``key`` of ``event`` as written, the section it
    comes from, and why that one wins.

    Lookup order (the same as :meth:`CompiledPolicy.rules_for`): the exact
    event name, then glob sections (the last matching one in the file wins),
    then ``all_events``, then the default for unknown properties.
    """
    spec = policy.spec
    if key == "ip":
        client_ip = spec.defaults.client_ip
        return (
            f"client_ip: {client_ip}",
            "defaults.client_ip",
            "the sender's address, which vendors geolocate by",
        )
    if key in ("time", "$insert_id"):
        return (
            "envelope",
            "(built in)",
            "kept for the vendor; an insert id holding personal data is replaced",
        )
    exact = spec.events.get(event) if not _is_glob(event) else None
    if exact is not None and key in exact.properties:
        return _describe(exact.properties[key]), f"events.{event}", "exact event rule"
    for pattern in reversed(list(spec.events)):
        section = spec.events[pattern]
        if (
            _is_glob(pattern)
            and _glob(pattern).fullmatch(event)
            and key in section.properties
        ):
            return (
                _describe(section.properties[key]),
                f"events.{pattern!r}",
                f"glob {pattern!r} matches the event name",
            )
    if key in spec.all_events.properties:
        return (
            _describe(spec.all_events.properties[key]),
            "all_events",
            "rule for every event",
        )
    if key == "distinct_id":
        return (
            "(none)",
            "(built in)",
            "no rule: kept, but hashed if a detector finds something in it",
        )
    default = spec.defaults.unknown_properties
    return (
        default,
        "defaults.unknown_properties",
        "no rule names this property",
    )


def _event_sections(spec: PolicySpec, event: str) -> list[str]:
    found = []
    for pattern in spec.events:
        if _is_glob(pattern):
            if _glob(pattern).fullmatch(event):
                found.append(f"events.{pattern!r} (glob)")
        elif pattern == event:
            found.append(f"events.{pattern} (exact)")
    return found


def _is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def _describe(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, BaseModel):
        fields = raw.model_dump(mode="json", exclude_defaults=True)
        fields.pop("action", None)
        action = getattr(raw, "action", type(raw).__name__)
        if not fields:
            return str(action)
        inner = ", ".join(f"{k}: {_compact(v)}" for k, v in fields.items())
        return f"{action} {{{inner}}}"
    return _compact(raw)


def _compact(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    return str(value)


def _group_findings(
    findings: list[Finding], properties: Mapping[str, Any]
) -> dict[str, list[Finding]]:
    """Findings by the input property they concern ("" for the event)."""
    keys = sorted(properties, key=len, reverse=True)
    aliases = {"$ip": "ip"}
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        path = aliases.get(finding.path, finding.path)
        owner = ""
        if finding.action in _EVENT_ACTIONS:
            # a drop_if condition names a property, but drops the event
            out.setdefault("", []).append(finding)
            continue
        for key in keys:
            if path == key or path.startswith((key + ".", key + "[")):
                owner = key
                break
        out.setdefault(owner, []).append(finding)
    return out


# decisions about the whole event
_EVENT_ACTIONS = frozenset({"drop_event", "sample"})


def _finding_text(finding: Finding) -> str:
    text = finding.action
    if finding.detector:
        text += f" {finding.detector}"
    if finding.path and finding.path not in ("$ip",):
        text += f" at {finding.path}"
    return text


def _outcome(key: str, value: Any, after: Mapping[str, Any], dropped: bool) -> str:
    if dropped:
        return "event dropped"
    if key not in after:
        return "dropped"
    return "kept" if _same(value, after[key]) else "changed"


# -- schema --------------------------------------------------------------------


def policy_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the policy format, from the model."""
    schema = PolicySpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "Redline policy")
    return schema


# -- positions -------------------------------------------------------------------


def locate_key(
    text: str, source: str, path: tuple[str | int, ...]
) -> tuple[int, int] | None:
    """The line and column of ``path`` (or its deepest present prefix) in a
    YAML document, or None when the text does not parse."""
    try:
        _, marks = _yaml.load(text, source)
    except Exception:  # a broken file has no positions to give
        return None
    return _yaml.locate(marks, path)
